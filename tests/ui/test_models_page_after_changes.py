"""Models page, issue 18: the real-photo column scores both kinds of model on a set big enough to
mean something and says so; the "now active" message follows changes made elsewhere; exports say
they are working; the API address says when no browser opens; names stay unique; deleting the
active model says which one took its place."""

from __future__ import annotations

import os
import re
import stat

import pytest
from PIL import Image, ImageDraw
from PySide6.QtWidgets import QInputDialog, QMessageBox

pytestmark = pytest.mark.timeout(240)


def _models_page(window):
    window.show_page("models")
    return window.pages["models"]


def _add_model(window, model_file, name):
    from fmnist_desktop.core.store.checkpoint import load_checkpoint, save_checkpoint

    state, meta = load_checkpoint(model_file)
    meta.name = name
    target = model_file.parent / f"{name.replace(' ', '_')}.pt"
    save_checkpoint(target, state, meta)
    entry = window.context.library().import_file(target)
    window.context.refresh_models()
    return entry


@pytest.fixture
def ten_real_photos(tmp_path, monkeypatch):
    """Ten labelled photos in the shipped set's layout (small, so GrabCut is quick)."""
    folder = tmp_path / "real"
    for i in range(10):
        sub = folder / ("1_Trouser" if i % 2 else "3_Dress")
        sub.mkdir(parents=True, exist_ok=True)
        img = Image.new("RGB", (90, 110), "white")
        ImageDraw.Draw(img).rectangle((20 + i, 15, 70, 95), fill=(30 * i, 60, 120))
        img.save(sub / f"p{i}.png")
    monkeypatch.setenv("FMNIST_DESKTOP_REAL_PHOTOS", str(folder))
    return folder


def test_the_real_photo_column_scores_both_kinds_and_says_of_how_many_photos(
        builtin_test_photo_model, ten_real_photos, window_with_model, qtbot):
    from fmnist_desktop.ui.pages.models import COL_PHOTOS

    window = window_with_model
    page = window.pages["models"]
    progress = []
    page.tasks["photo-scores"].progressChanged.connect(lambda p: progress.append(p.message))
    page = _models_page(window)
    entries = window.context.library().entries()
    assert {e.kind for e in entries} == {"photo", "fmnist"}
    qtbot.waitUntil(lambda: all(page.photo_score(e) is not None for e in entries), timeout=120_000)
    qtbot.waitUntil(lambda: not page.tasks["photo-scores"].is_running(), timeout=30_000)
    for row in range(page.model.rowCount()):
        cell = page.model.item(row, COL_PHOTOS)
        assert re.fullmatch(r"\d+ % of 10 photos", cell.text()), cell.text()
        assert "the 10 real photos shipped with the app" in cell.toolTip()
    photo_row = next(r for r, e in enumerate(page.table.entries()) if e.kind == "photo")
    assert "sees the photos themselves" in page.model.item(photo_row, COL_PHOTOS).toolTip()
    # The test photo model always says "Sneaker": none of these trousers and dresses.
    assert page.model.item(photo_row, COL_PHOTOS).text() == "0 % of 10 photos"
    assert any(m.startswith("Preparing the 10 real photos shipped with the app") for m in progress)
    assert "every model is scored on the 10 real photos shipped with the app" in page.photo_set_label.text()
    assert "Dress" in page.photo_set_label.toolTip() and "Trouser" in page.photo_set_label.toolTip()

    # Another visit: nothing is prepared again.
    window.show_page("predict")
    progress.clear()
    page = _models_page(window)
    qtbot.waitUntil(lambda: not page.tasks["photo-scores"].is_running(), timeout=30_000)
    assert not any(m.startswith("Preparing") for m in progress)
    assert all(page.photo_score(e) is not None for e in entries)


def test_the_now_active_message_follows_a_change_made_elsewhere(window_with_model, seed_model_file, qtbot):
    window = window_with_model
    page = _models_page(window)
    first = _add_model(window, seed_model_file, "First model")
    second = _add_model(window, seed_model_file, "Second model")
    page.select_entry(first.id)
    with qtbot.waitSignal(window.context.activeModelChanged, timeout=60_000):  # after comparing the two
        page.activate_button.click()
    assert page.banner.text() == "“First model” is now the active 28×28 network."
    with qtbot.waitSignal(window.context.activeModelChanged, timeout=5000):
        window.context.set_active(second.id)  # as the Train page's Make active or Tune ▸ Use best do
    assert "“First model” is now" not in page.banner.text()
    assert page.banner.text() == "“Second model” is now the active 28×28 network."


def test_an_export_says_it_is_working_and_then_what_it_wrote(window_with_model, tmp_path, qtbot):
    window = window_with_model
    page = _models_page(window)
    entry = window.context.active_entry()
    target = tmp_path / "model.ts.pt"
    with qtbot.waitSignal(page.modelExported, timeout=120_000):
        page.export_entry(entry, target, "torchscript")
        assert page.busy_bar.isVisible() and not page.export_button.isEnabled()
        assert "Exporting “Untrained seed” as TorchScript to model.ts.pt" in page.banner.text()
    qtbot.waitUntil(lambda: not page.is_busy())
    assert page.banner.text().startswith("Exported “Untrained seed” to ")
    assert not page.busy_bar.isVisible() and page.export_button.isEnabled()
    if os.name == "posix":  # readable by others as any new file (the umask), not mkstemp's 0600
        umask = os.umask(0o022)
        os.umask(umask)
        contract = target.with_name(target.name + ".json")
        assert {stat.S_IMODE(os.stat(p).st_mode) for p in (target, contract)} == {0o666 & ~umask}
        copy = tmp_path / "copy.pt"
        with qtbot.waitSignal(page.modelExported, timeout=30_000):
            page.export_entry(entry, copy)  # an app model file
        assert stat.S_IMODE(os.stat(copy).st_mode) == 0o666 & ~umask


def test_the_api_address_says_when_no_browser_opens_and_offers_to_copy_it(window_with_model, monkeypatch):
    from PySide6.QtGui import QDesktopServices, QGuiApplication

    page = _models_page(window_with_model)
    panel = page.serve_panel
    opened = []
    monkeypatch.setattr(QDesktopServices, "openUrl", lambda url: opened.append(url.toString()) or False)
    panel.address.linkActivated.emit("http://127.0.0.1:8000/docs")  # a click on the link
    assert opened == ["http://127.0.0.1:8000/docs"]
    assert "No web browser could be opened" in panel.link_note.text() and panel.link_note.isVisible()
    assert panel.copy_button.isVisible()
    panel.copy_button.click()
    assert QGuiApplication.clipboard().text() == "http://127.0.0.1:8000/docs"


def test_a_rename_to_a_taken_name_is_refused_and_an_import_gets_a_number(window_with_model, seed_model_file, qtbot,
                                                                          monkeypatch):
    window = window_with_model
    page = _models_page(window)
    _add_model(window, seed_model_file, "Second model")
    third = _add_model(window, seed_model_file, "Third model")
    page.select_entry(third.id)
    monkeypatch.setattr(QInputDialog, "getText", lambda *a, **k: ("Second model", True))
    page.rename_button.click()
    assert page.banner.text() == "Another model is already called “Second model”; choose another name."
    assert [e.name for e in window.context.library().entries()].count("Second model") == 1

    with qtbot.waitSignal(page.modelImported, timeout=30_000) as imported:
        page.import_model(seed_model_file)  # "Untrained seed", the name the active model has
    assert imported.args[0].name == "Untrained seed (2)"
    assert "Added “Untrained seed (2)” (“Untrained seed” was taken)" in page.banner.text()


def test_deleting_the_active_model_says_which_model_is_now_active(builtin_test_photo_model, window_with_model,
                                                                 photo_model_writer, tmp_path, monkeypatch):
    window = window_with_model
    page = _models_page(window)
    questions = []
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: questions.append(a[2]) or QMessageBox.StandardButton.Yes)
    active = window.context.active_entry()
    page.select_entry(active.id)
    page.delete_button.click()
    builtin = window.context.library().builtin("fmnist")
    if builtin is not None:
        assert f"It is the active 28×28 network: “{builtin.name}” takes its place." in questions[-1]
        assert page.banner.text() == (f"Deleted “Untrained seed”. “{builtin.name}” is now the active 28×28 network.")

    photo = window.context.library().import_file(photo_model_writer(tmp_path / "mine.pt", name="My photo model"))
    window.context.refresh_models()
    assert window.context.set_active(photo.id)
    page.select_entry(photo.id)
    page.delete_button.click()
    assert page.banner.text() == ("Deleted “My photo model”. “Photo model (shipped with the app)” is now the "
                                  "active photo model.")


def test_the_local_api_serves_both_active_models_under_the_apps_names(builtin_test_photo_model, window_with_model,
                                                                      qtbot):
    pytest.importorskip("fastapi")
    import socket

    import httpx

    window = window_with_model
    page = _models_page(window)
    panel = page.serve_panel
    photo = window.context.active_entry_of("photo")
    assert photo.name == "Photo model (shipped with the app)"  # its file calls itself "Test photo model"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    panel.port_spin.setValue(port)
    panel.start()
    qtbot.waitUntil(panel.is_running, timeout=60_000)
    try:
        url = panel.url()
        assert httpx.get(f"{url}/model", timeout=10).json()["name"] == photo.name  # the primary: the photo model
        assert "Serving “Photo model (shipped with the app)” and “Untrained seed” at" in panel.address.text()
    finally:
        panel.stop()
        qtbot.waitUntil(lambda: not page.tasks["serve"].is_running(), timeout=30_000)


def test_a_failed_measuring_task_says_so_in_the_cells_instead_of_measuring_for_ever(window_with_model, qtbot,
                                                                                     monkeypatch):
    from fmnist_desktop.core.predict import photo_score
    from fmnist_desktop.ui.pages.models import COL_PHOTOS

    def broken():
        raise OSError(5, "Input/output error", "real-photos")

    monkeypatch.setattr(photo_score, "measuring_photos", broken)
    page = _models_page(window_with_model)
    qtbot.waitUntil(lambda: not page.tasks["photo-scores"].is_running(), timeout=30_000)
    qtbot.waitUntil(lambda: page.model.item(0, COL_PHOTOS).text() != "measuring…", timeout=10_000)
    for row in range(page.model.rowCount()):
        cell = page.model.item(row, COL_PHOTOS)
        assert cell.text() == "not measured"
        assert "Input/output error" in cell.toolTip() and "Traceback" not in cell.toolTip()
    line = page.photo_set_label.text()
    assert "could not be measured" in line and "Input/output error" in line and "\n" not in line
