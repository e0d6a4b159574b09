"""Issue 18, the Predict page (items 1, 5 and the Predict parts of 8), in the real window: after
the active model changes (of either kind) the list is classified again in the background and its
CSV names the model of each row; the "not sure" level beside the box is the one the rows were
judged with, printed with one rounding rule; a row can be confirmed or corrected from its context
menu (with "None of the ten") and shows that it was; a dropped photo joins the list at its end;
"None of the ten" photos are stored and fine-tuning either kind copes with them."""

from __future__ import annotations

import csv
import shutil
import threading
from pathlib import Path

import pytest
from PIL import Image, ImageDraw
from PySide6.QtCore import Qt

from fmnist_desktop.core.base.labels import CLASS_NAMES, NONE_INDEX

pytestmark = pytest.mark.timeout(300)

REPO = Path(__file__).resolve().parents[2]
SNEAKER_PHOTO = REPO / "tests" / "data" / "photo_sneaker.jpg"
FM_SNEAKER = REPO / "resources" / "samples" / "fashion-mnist_7_Sneaker.png"


def _garment(path, colour=(200, 40, 40)):
    img = Image.new("RGB", (120, 150), "white")
    ImageDraw.Draw(img).polygon([(30, 20), (90, 20), (110, 50), (95, 60), (90, 130), (30, 130), (25, 60), (10, 50)],
                                fill=colour)
    img.save(path)
    return path


@pytest.fixture
def garments(tmp_path):
    folder = tmp_path / "garments"
    folder.mkdir()
    colours = [(200, 40, 40), (20, 20, 160), (30, 120, 30), (90, 90, 90), (160, 120, 0)]
    return folder, [_garment(folder / f"{i}.png", c) for i, c in enumerate(colours)]


def _page(window):
    window.show_page("predict")
    return window.pages["predict"]


def _import(window, path):
    entry = window.context.library().import_file(path)
    window.context.refresh_models()
    return entry


def _notes(page):
    from fmnist_desktop.ui.pages.predict.batch_view import COL_PROBLEM

    return [page.model.item(r, COL_PROBLEM).text() for r in range(page.model.rowCount())]


def _read_csv(path):
    with open(path, newline="", encoding="utf-8") as handle:
        return {r["file"]: r for r in csv.DictReader(handle)}


def _model_with_threshold(tmp_path, source, name, threshold):
    from fmnist_desktop.core.store.checkpoint import load_checkpoint, save_checkpoint

    state, meta = load_checkpoint(source)
    meta.name = name
    meta.metrics = dict(meta.metrics or {}, not_sure_threshold=threshold)
    path = tmp_path / f"{name.replace(' ', '_')}.pt"
    save_checkpoint(path, state, meta)
    return path


# --------------------------------------------------------------------------- item 1: the 28×28 network
def test_the_list_is_classified_again_off_the_gui_thread_when_the_active_28x28_network_changes(
        window_with_model, garments, small_model, qtbot, drop_paths, tmp_path, monkeypatch):
    from fmnist_desktop.core.jobs import classify
    from fmnist_desktop.core.predict.predictor import Predictor
    from fmnist_desktop.ui.pages.predict.batch_view import STALE_NOTE

    window = window_with_model
    page = _page(window)
    folder, photos = garments
    with qtbot.waitSignal(page.batchFinished, timeout=60_000):
        drop_paths(page.drop_zone, [folder])
    assert {r.model_name for r in page.rows()} == {"Untrained seed"}

    threads = []
    real_run = classify.run
    monkeypatch.setattr(classify, "run", lambda inputs, state: threads.append(threading.current_thread())
                        or real_run(inputs, state))
    new = _import(window, small_model)
    finished = qtbot.waitSignal(page.batchFinished, timeout=60_000)
    assert window.context.set_active(new.id)
    # At once: every row says it is the previous model's answer, and nothing stale is exported.
    assert all(STALE_NOTE in note for note in _notes(page))
    assert not page.export_csv(tmp_path / "stale.csv")
    assert "previous model" in page.banner.text() and not (tmp_path / "stale.csv").exists()
    finished.wait()  # classified again in the background: the window kept running meanwhile

    assert threads and all(t is not threading.main_thread() for t in threads)
    assert page.progress.value() == page.progress.maximum() == len(photos)
    assert not any(STALE_NOTE in note for note in _notes(page))
    expected = {str(p.path): p for p in Predictor.from_checkpoint(small_model).predict_paths(photos)}
    rows = {r.path: r for r in page.rows()}
    assert set(rows) == set(expected)
    for path, prediction in expected.items():
        assert rows[path].label == prediction.label
        assert rows[path].confidence == pytest.approx(prediction.confidence, abs=1e-5)
        assert rows[path].model_name == "Small test model"
    assert "Small test model" in page.banner.text()

    assert page.export_csv(tmp_path / "fresh.csv")
    exported = _read_csv(tmp_path / "fresh.csv")
    assert {r["model_name"] for r in exported.values()} == {"Small test model"}
    for path, record in exported.items():
        assert record["top_class"] == expected[path].label
        doubt = expected[path]  # "may not be one of the ten" has its own column (issue 26.11)
        assert record["not_sure"] == ("yes" if doubt.not_sure and not doubt.out_of_scope else "no")
        assert record["not_one_of_the_ten"] == ("yes" if doubt.out_of_scope else "no")
        assert float(record["not_sure_below"]) == pytest.approx(expected[path].threshold, abs=1e-4)


def test_the_not_sure_level_beside_the_list_is_the_one_its_rows_were_judged_with(
        window_with_model, garments, seed_model_file, qtbot, drop_paths, tmp_path):
    """The header said "Not sure below 50.0 %" while the rows were judged at 35 %."""
    from fmnist_desktop.core.base.verdict import shown_percent
    from fmnist_desktop.ui.pages.predict.batch_view import NOT_SURE_NOTE

    window = window_with_model
    page = _page(window)
    folder, _photos = garments
    with qtbot.waitSignal(page.batchFinished, timeout=60_000):
        drop_paths(page.drop_zone, [folder])
    confidences = sorted(r.confidence for r in page.rows())
    level = (confidences[1] + confidences[2]) / 2  # some rows above it, some below
    calibrated = _import(window, _model_with_threshold(tmp_path, seed_model_file, "Calibrated seed", level))
    with qtbot.waitSignal(page.batchFinished, timeout=60_000):
        assert window.context.set_active(calibrated.id)
    assert all(r.threshold == pytest.approx(level) for r in page.rows())
    assert page.threshold() == pytest.approx(level)
    assert page.threshold_spin.value() == pytest.approx(shown_percent(level))
    for row, note in zip(page.rows(), _notes(page)):
        assert (NOT_SURE_NOTE in note) == (row.confidence < level), (row.confidence, level, note)
        assert (NOT_SURE_NOTE in note) == (row.confidence < page.threshold())


def test_one_rounding_rule_for_the_box_and_not_sure_below(window_with_model, garments, seed_model_file, qtbot,
                                                         drop_paths, tmp_path):
    """The box said 35.2 % (Qt rounds) beside "not sure below 35.1 %" (never rounded up)."""
    window = window_with_model
    page = _page(window)
    _folder, photos = garments
    # 95.15…: Qt's spin box rounds it to 95.2, format_confidence floors it to 95.1.
    entry = _import(window, _model_with_threshold(tmp_path, seed_model_file, "Strict", 0.951599))
    assert window.context.set_active(entry.id)
    with qtbot.waitSignal(page.predictionShown, timeout=60_000):
        drop_paths(page.drop_zone, [photos[0]])
    assert page.guess_label.isVisible()
    assert page.guess_label.text() == "The model is not sure below 95.1 %."
    assert page.threshold_spin.text() == "95.1 %"
    assert page.threshold_spin.text() in page.guess_label.text()


def test_a_fine_tuned_models_inherited_level_is_named_beside_the_box(window_with_model, garments, seed_model_file,
                                                                     qtbot, drop_paths, tmp_path):
    """Item 2 on the Predict page: a fine-tuned model that inherited its parent's level was still
    labelled "(this model's own)"; the box now says where the level came from, before and after
    a photo is shown."""
    from fmnist_desktop.core.store.checkpoint import load_checkpoint, save_checkpoint

    window = window_with_model
    page = _page(window)
    state, meta = load_checkpoint(seed_model_file)
    meta.name = "Seed, fine-tuned"
    meta.metrics = dict(meta.metrics or {}, not_sure_threshold=0.352, threshold_inherited_from="Default model")
    path = tmp_path / "finetuned.pt"
    save_checkpoint(path, state, meta)
    entry = _import(window, path)
    assert window.context.set_active(entry.id)
    qtbot.waitUntil(lambda: "inherited from “Default model”" in page.threshold_box.source_text(), timeout=10_000)
    with qtbot.waitSignal(page.predictionShown, timeout=60_000):
        drop_paths(page.drop_zone, [garments[1][0]])
    assert page.threshold_box.source_text() == "(inherited from “Default model”)"
    assert page.threshold_spin.text() == "35.2 %"


# --------------------------------------------------------------------------- item 1: the photo model
@pytest.fixture
def photo_window(make_main_window, builtin_test_photo_model):
    window = make_main_window()
    if window.context.import_error():
        pytest.fail(f"the model engine did not load: {window.context.import_error()}")
    assert [e.kind for e in window.context.active_entries()] == ["photo", "fmnist"]
    return window


def test_the_list_follows_a_new_active_photo_model_and_says_each_kinds_level(
        photo_window, photo_model_writer, qtbot, drop_paths, tmp_path):
    from fmnist_desktop.ui.pages.predict.batch_view import STALE_NOTE

    window = photo_window
    folder = tmp_path / "mixed"
    folder.mkdir()
    shutil.copy(SNEAKER_PHOTO, folder / "phone.jpg")
    shutil.copy(FM_SNEAKER, folder / "small.png")
    page = _page(window)
    with qtbot.waitSignal(page.batchFinished, timeout=120_000):
        drop_paths(page.drop_zone, [folder])
    rows = {Path(r.path).name: r for r in page.rows()}
    assert rows["phone.jpg"].model_kind == "photo" and rows["phone.jpg"].label == "Sneaker"
    network_level = rows["small.png"].threshold
    assert network_level != pytest.approx(0.3)
    # Two kinds, two levels: the box says so instead of claiming one for all rows.
    source = page.threshold_source.text()
    assert "Photo 30.0 %" in source and "28×28" in source, source

    says_none = _import(window, photo_model_writer(tmp_path / "none.pt", name="Says none", threshold=0.4,
                                                   answer=NONE_INDEX))
    finished = qtbot.waitSignal(page.batchFinished, timeout=120_000)
    assert window.context.set_active(says_none.id)
    assert all(STALE_NOTE in note for note in _notes(page))
    finished.wait()
    rows = {Path(r.path).name: r for r in page.rows()}
    assert rows["phone.jpg"].model_name == "Says none"
    assert rows["phone.jpg"].threshold == pytest.approx(0.4)
    assert rows["phone.jpg"].verdict().out_of_scope  # its "none of these" output now wins
    assert rows["small.png"].model_kind == "fmnist"  # still the 28×28 network's, asked again
    assert not any(STALE_NOTE in note for note in _notes(page))
    source = page.threshold_source.text()
    assert "Photo 40.0 %" in source and "Photo 30.0 %" not in source, source

    out = tmp_path / "out.csv"
    assert page.export_csv(out)
    exported = {Path(f).name: r for f, r in _read_csv(out).items()}
    assert exported["phone.jpg"]["model_name"] == "Says none" and exported["phone.jpg"]["model"] == "Photo model"
    assert exported["phone.jpg"]["not_one_of_the_ten"] == "yes"
    assert float(exported["phone.jpg"]["not_sure_below"]) == pytest.approx(0.4)
    assert exported["small.png"]["model"] == "28×28 network"


def test_a_long_list_is_marked_out_of_date_with_a_one_click_refresh(
        window_with_model, garments, small_model, qtbot, drop_paths, tmp_path, monkeypatch):
    from fmnist_desktop.ui.pages.predict import page as page_module
    from fmnist_desktop.ui.pages.predict.batch_view import STALE_NOTE

    monkeypatch.setattr(page_module, "AUTO_RECLASSIFY_MAX", 2)  # as if the list were long
    window = window_with_model
    page = _page(window)
    folder, _photos = garments
    with qtbot.waitSignal(page.batchFinished, timeout=60_000):
        drop_paths(page.drop_zone, [folder])
    new = _import(window, small_model)
    assert window.context.set_active(new.id)
    qtbot.wait(200)
    assert not page.is_busy()
    assert all(STALE_NOTE in note for note in _notes(page))
    assert page.refresh_button.isVisible()
    with qtbot.waitSignal(page.batchFinished, timeout=60_000):
        page.refresh_button.click()
    assert {r.model_name for r in page.rows()} == {"Small test model"}
    assert not page.refresh_button.isVisible()


# --------------------------------------------------------------------------- item 8: the list's parts
def test_a_row_is_corrected_from_its_context_menu_and_kept_rows_are_marked(
        window_with_model, garments, qtbot, drop_paths):
    from fmnist_desktop.core.store import user_photos
    from fmnist_desktop.ui.pages.predict.batch_view import COL_FILE, COL_PROBLEM

    page = _page(window_with_model)
    folder, photos = garments
    with qtbot.waitSignal(page.batchFinished, timeout=60_000):
        drop_paths(page.drop_zone, [folder])
    first = page.batch.row_at(0)
    other = next(i for i, name in enumerate(CLASS_NAMES) if name != first.label)

    centre = page.table.visualRect(page.proxy.index(0, COL_FILE)).center()
    page.table.customContextMenuRequested.emit(centre)  # a right-click on the first row
    menu = page.batch.row_menu
    assert menu is not None and menu.isVisible()
    correct = next(a.menu() for a in menu.actions() if a.text() == "Correct…")
    next(a for a in correct.actions() if a.text() == CLASS_NAMES[other]).trigger()
    menu.close()
    assert [(e.label, Path(e.path).read_bytes()) for e in user_photos.list_examples()] == \
        [(other, Path(first.path).read_bytes())]
    row = page.batch.row_at(0)
    note = page.proxy.index(0, COL_PROBLEM)
    assert note.data().startswith(f"✓ corrected to {CLASS_NAMES[other]}")
    assert note.data(Qt.ItemDataRole.FontRole).bold()
    assert row.kept_as == other

    # Corrected in the detailed view of a row: marked in the list too.
    second = page.batch.row_at(1)
    with qtbot.waitSignal(page.predictionShown, timeout=60_000):
        page.batch.rowActivated.emit(second.path)
    next(a for a in page.correct_button.menu().actions() if a.objectName() == "noneOfTheTenAction").trigger()
    page.back_button.click()
    marked = {page.batch.row_at(r).path: page.proxy.index(r, COL_PROBLEM).data() for r in range(2)}
    assert marked[second.path].startswith("✓ corrected to None of the ten")
    assert page.export_csv(folder.parent / "kept.csv")
    assert _read_csv(folder.parent / "kept.csv")[second.path]["kept_as"] == "None of the ten"


def test_a_photo_dropped_on_the_list_joins_it_where_its_sort_puts_it(window_with_model, garments, qtbot, drop_paths,
                                                                      tmp_path):
    page = _page(window_with_model)
    folder, _photos = garments
    with qtbot.waitSignal(page.batchFinished, timeout=60_000):
        drop_paths(page.drop_zone, [folder])
    from fmnist_desktop.ui.pages.predict.batch_view import COL_FILE

    page.table.sortByColumn(COL_FILE, Qt.SortOrder.AscendingOrder)  # the user sorted by name once
    first_rows = [r.path for r in page.rows(visible_only=True)]
    extra = _garment(tmp_path / "000-extra.png", (10, 200, 200))  # sorts first by name
    with qtbot.waitSignal(page.batchFinished, timeout=60_000):
        drop_paths(page.drop_zone, [extra])
    shown = [Path(r.path).name for r in page.rows(visible_only=True)]
    assert shown == sorted(Path(p).name for p in [*first_rows, str(extra)])  # the user's sort holds (issue 26.11)


# --------------------------------------------------------------------------- item 5: none of the ten
def test_correct_offers_none_of_the_ten_and_keeps_the_photo_as_none(window_with_model, garments, qtbot, drop_paths):
    from fmnist_desktop.core.store import user_photos
    from fmnist_desktop.ui.pages.predict.my_photos import MyPhotosDialog

    page = _page(window_with_model)
    _folder, photos = garments
    with qtbot.waitSignal(page.predictionShown, timeout=60_000):
        drop_paths(page.drop_zone, [photos[0]])
    actions = [a for a in page.correct_button.menu().actions() if not a.isSeparator()]
    assert [a.text() for a in actions[:10]] == list(CLASS_NAMES)
    assert actions[10].text().startswith("None of the ten")
    actions[10].trigger()
    assert page.banner.text() == "Saved to My photos as “None of the ten”."
    assert page.confirm_button.text() == "Kept as “None of the ten”"
    [kept] = user_photos.list_examples()
    assert kept.label == NONE_INDEX and kept.is_none and kept.label_name == "None of the ten"
    qtbot.waitUntil(lambda: page.my_photos_label.text() == "My photos: 1", timeout=5_000)

    dialog = MyPhotosDialog(window_with_model.context, user_photos, page)
    qtbot.addWidget(dialog)
    assert dialog.list.item(0).text().startswith("None of the ten")
    assert "None of the ten: 1" in dialog.summary.text()
    dialog.list.item(0).setSelected(True)
    assert dialog.class_combo.currentText() == "None of the ten"
    dialog.class_combo.setCurrentText("Coat")
    dialog.relabel_button.click()
    assert [e.label_name for e in user_photos.list_examples()] == ["Coat"]
    dialog.reject()


def test_finetuning_the_28x28_network_trains_none_photos_towards_a_flat_distribution(
        garments, seed_model_file, tiny_idx_dir):
    """A "none" photo becomes label -1: core.learn.training's outlier exposure, not a crash."""
    import torch

    from fmnist_desktop.core.jobs.finetune import finetune_config
    from fmnist_desktop.core.learn import training
    from fmnist_desktop.core.store import user_photos

    _folder, photos = garments
    for photo in photos:
        user_photos.add_example(photo, NONE_INDEX)
    user_photos.add_example(SNEAKER_PHOTO, CLASS_NAMES.index("Sneaker"))
    examples = user_photos.list_examples()
    config = finetune_config(seed_model_file, examples, epochs=1, copies=1, weight=1, device="cpu",
                             data_dir=tiny_idx_dir)
    _images, labels, _weight = config.extra_train
    trained = [e for e in examples if not e.kept_out]
    assert sorted(labels.tolist()) == sorted(-1 if e.is_none else e.label for e in trained)
    assert -1 in labels.tolist()
    import dataclasses

    from fmnist_desktop.core.data.fashion_mnist import load_dataset

    config = dataclasses.replace(config, val_size=50, batch_size=64)
    events = list(training.iter_training(config, load_dataset(tiny_idx_dir, val_size=50)))
    assert type(events[-1]).__name__ == "Finished", events[-1]
    assert all(torch.isfinite(torch.tensor(e.train_loss)) for e in events if type(e).__name__ == "EpochEnd")


def test_finetuning_the_photo_model_uses_none_photos_as_its_none_class(photo_model_file, garments, monkeypatch):
    from fmnist_desktop.core.jobs import photo_finetune
    from fmnist_desktop.core.store import user_photos

    _folder, photos = garments
    for photo in photos:
        user_photos.add_example(photo, NONE_INDEX)
    user_photos.add_example(SNEAKER_PHOTO, CLASS_NAMES.index("Sneaker"))
    seen = {}

    real_train_head = photo_finetune.train_head

    def train_head(parent, user_x, user_y, *rest):
        seen["labels"] = set(user_y.tolist())
        return real_train_head(parent, user_x, user_y, *rest)

    monkeypatch.setattr(photo_finetune, "train_head", train_head)
    run = photo_finetune.finetune_photo_head(photo_model_file, user_photos.list_examples(), steps=1,
                                             augmented_views=0)
    trained = {e.label for e in user_photos.list_examples() if not e.kept_out}
    assert seen["labels"] == trained and NONE_INDEX in trained
    assert run is not None
