"""The lite edition's journeys on the real main window, offscreen, with torch hidden: the window
opens, Predict answers a picture and a folder (and exports the list as CSV), Evaluate shows the
confusion matrix from the ONNX 28×28 network, Models activates, renames, exports, imports and
deletes, "Fine-tune with my photos" fine-tunes the photo model's head and answers through the new
model's twin, and what needs torch (Train, Tune, TorchScript, a .pt without its twin) says in one
line that the full edition does it."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtWidgets import QInputDialog, QMessageBox

from fmnist_desktop.core.base import paths
from fmnist_desktop.core.base.labels import CLASS_NAMES
from fmnist_desktop.ui.pages.models.table import HEADERS

SAMPLES = Path(__file__).resolve().parents[2] / "resources" / "samples"


def _one_line_full_edition(text: str) -> None:
    assert "full edition" in text
    assert "\n" not in text and "Traceback" not in text and "torch'" not in text


def test_window_opens_on_onnxruntime_and_the_train_page_says_full_edition(lite_window):
    from fmnist_desktop.ui.pages.train import LiteTrainPage

    context = lite_window.context
    assert context.is_torch_ready() and context.active_entry() is not None
    assert context.device_summary().startswith("CPU")
    page = lite_window.pages["train"]
    assert isinstance(page, LiteTrainPage)
    lite_window.show_page("train")
    assert page.notice.isVisible()
    _one_line_full_edition(page.notice.text())
    assert "Training" in page.notice.text() and "tuning" in page.notice.text()


def _draw_photo(path: Path, label: int, seed: int) -> Path:
    from PIL import Image, ImageDraw

    rng = np.random.default_rng(seed)
    img = Image.new("RGB", (96, 96), tuple(int(v) for v in rng.integers(150, 255, 3)))
    box = (36, 8, 60, 88) if label == 1 else (8, 40, 88, 62)  # tall trousers, wide sneakers
    ImageDraw.Draw(img).rectangle(box, fill=tuple(int(v) for v in rng.integers(0, 90, 3)))
    img.save(path)
    return path


def test_finetune_with_my_photos_runs_without_torch(shipped_photo_model, lite_window, qtbot, tmp_path):
    from fmnist_desktop.core.jobs.photo_finetune import store_kept_embeddings
    from fmnist_desktop.core.store import user_photos
    from fmnist_desktop.core.store.twins import existing_twin, find_twin

    context, predict = lite_window.context, lite_window.pages["predict"]
    context.refresh_models()  # the shipped photo model, listed from the twin beside it
    parent = context.active_entry_of("photo")
    assert parent is not None and find_twin(parent.path) is not None
    drawn = [_draw_photo(tmp_path / f"{k}.png", 1 if k % 2 else 7, 50 + k) for k in range(8)]
    for k, path in enumerate(drawn):
        user_photos.add_example(path, 1 if k % 2 else 7)
    predict.teaching.recount()  # as after keeping a photo: counts them and stores their embeddings
    qtbot.waitUntil(lambda: predict.my_photos_count() == 8 and not predict.tasks.is_running("photos"), timeout=120_000)
    stored = user_photos.list_examples()
    assert store_kept_embeddings(parent.path, stored, find_twin=existing_twin) == 0  # all kept, none computed now

    train = lite_window.pages["train"]
    with qtbot.waitSignal(train.runFinished, timeout=300_000) as finished:
        lite_window.start_finetune()  # the Predict page's "Fine-tune with my photos"
    assert lite_window.current_page_key() == "train"
    entry = finished.args[0]
    said = train.finetune_status.text()
    assert said.startswith(f"Saved “{entry.name}”") and "\n" not in said and "full edition" not in said
    assert entry.kind == "photo" and entry.path.is_file() and find_twin(entry.path) is not None
    if context.active_entry_of("photo").id != entry.id:  # it named fewer measuring photos right: the parent stays
        assert "stays the active photo model" in said
        assert context.set_active(entry.id)  # the Models page's Activate
    assert context.active_entry_of("photo").id == entry.id
    lite_window.show_page("predict")
    with qtbot.waitSignal(predict.predictionShown, timeout=60_000) as shown:
        predict.predict_paths([str(drawn[0])])
    assert shown.args[0].model_names.get("photo") == entry.name  # answered through the new model's twin


def test_predict_a_picture_a_folder_and_the_csv(lite_window, qtbot, tmp_path):
    page = lite_window.pages["predict"]
    lite_window.show_page("predict")
    sample = SAMPLES / "fashion-mnist_1_Trouser.png"
    with qtbot.waitSignal(page.predictionShown, timeout=60_000) as shown:
        page.predict_paths([str(sample)])
    assert shown.args[0].prediction.label == "Trouser"
    page.heat_map.toggle.setChecked(True)  # "Show where the answer came from" needs the torch model
    _one_line_full_edition(page.heat_map.status.text())
    page.heat_map.toggle.setChecked(False)
    page.confirm_button.click()  # kept in My photos, for the fine-tune
    qtbot.waitUntil(lambda: page.my_photos_label.text() == "My photos: 1", timeout=10_000)
    with qtbot.waitSignal(page.batchFinished, timeout=60_000) as finished:
        page.predict_paths([str(SAMPLES)])
    assert finished.args[0] == len([p for p in SAMPLES.iterdir() if p.suffix in (".png", ".jpg")])
    rows = {Path(r.path).name: r for r in page.rows()}
    for name, row in rows.items():
        assert row.error is None and row.label in CLASS_NAMES
        if name.startswith("fashion-mnist_"):
            assert row.label == CLASS_NAMES[int(name.split("_")[1])]
    out = tmp_path / "answers.csv"
    assert page.export_csv(out)
    with open(out, newline="", encoding="utf-8") as handle:
        assert len(list(csv.DictReader(handle))) == len(rows)


def test_evaluate_shows_the_confusion_matrix_from_the_onnx_network(lite_window, qtbot, tiny_idx_dir):
    from fmnist_desktop.ui.settings_keys import DATA_FOLDER

    lite_window.context.settings.setValue(DATA_FOLDER, str(tiny_idx_dir))
    lite_window.nav.setCurrentRow(2)
    page = lite_window.pages["evaluate"]
    qtbot.waitUntil(lambda: page.evaluate_button.isEnabled() and page.matrix is not None, timeout=30_000)
    with qtbot.waitSignal(page.evaluationFinished, timeout=60_000) as finished:
        page.evaluate_button.click()
    result = finished.args[0].result
    assert len(result.labels) == 200  # the tiny test split
    assert page.accuracy_label.text() == f"Test accuracy: {result.accuracy:.2f} %"
    assert np.array_equal(page.matrix.confusion, result.confusion) and result.confusion.sum() == 200


def _model_with_twin(folder: Path, name: str) -> Path:
    """A copy of the built-in 28×28 network with its ONNX twin beside it (what the lite edition imports)."""
    folder.mkdir(parents=True, exist_ok=True)
    source = paths.default_weights_path()
    target = folder / f"{name}.pt"
    shutil.copyfile(source, target)
    for suffix in (".twin.onnx", ".twin.onnx.json", ".twin.json"):
        shutil.copyfile(source.with_name(source.stem + suffix), folder / f"{name}{suffix}")
    return target


def _names(page) -> list[str]:
    from fmnist_desktop.ui.pages.models import ENTRY_ROLE

    return [page.model.item(r, 0).data(ENTRY_ROLE).name for r in range(page.model.rowCount())]


def test_models_import_rename_activate_export_delete(lite_window, qtbot, tmp_path, monkeypatch):
    import onnxruntime

    window, page = lite_window, lite_window.pages["models"]
    window.show_page("models")
    real_photos = HEADERS.index("Real photos")
    qtbot.waitUntil(lambda: all(page.model.item(r, real_photos).text().endswith("photos")
                                for r in range(page.model.rowCount())), timeout=60_000)  # each model measured
    with qtbot.waitSignal(page.modelImported, timeout=30_000) as imported:
        page.import_model(_model_with_twin(tmp_path / "in", "shirts"))
    entry = imported.args[0]
    assert entry.name in _names(page)

    page.select_entry(entry.id)
    monkeypatch.setattr(QInputDialog, "getText", lambda *a, **k: ("Lite shirts", True))
    qtbot.waitUntil(page.rename_button.isEnabled, timeout=60_000)  # after the new model's real-photo score
    page.rename_button.click()
    assert "Lite shirts" in _names(page)

    page.select_entry(entry.id)
    qtbot.waitUntil(page.activate_button.isEnabled, timeout=30_000)
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)
    page.activate_button.click()
    qtbot.waitUntil(lambda: window.context.active_entry().id == entry.id, timeout=60_000)
    assert "Lite shirts" in window.model_label.text()

    target = tmp_path / "out" / "shirts.onnx"
    with qtbot.waitSignal(page.modelExported, timeout=30_000):
        page.export_entry(window.context.active_entry(), target, "onnx")
    session = onnxruntime.InferenceSession(str(target), providers=["CPUExecutionProvider"])
    assert session.get_inputs() and target.with_name("shirts.onnx.json").is_file()

    page.export_entry(window.context.active_entry(), tmp_path / "out" / "shirts.ts", "torchscript")
    _one_line_full_edition(page.banner.text())

    window.context.set_active("default")
    page.select_entry(entry.id)
    qtbot.waitUntil(page.delete_button.isEnabled, timeout=60_000)
    page.delete_button.click()
    qtbot.waitUntil(lambda: "Lite shirts" not in _names(page), timeout=10_000)
    assert not list(paths.models_dir().glob("*.twin.*"))  # its twin went with it


def test_a_pt_file_without_its_twin_says_full_edition_in_one_line(lite_window, qtbot, tmp_path):
    page = lite_window.pages["models"]
    before = _names(page)
    bare = tmp_path / "bare.pt"
    shutil.copyfile(paths.default_weights_path(), bare)
    with qtbot.waitSignal(lite_window.context.errorShown, timeout=30_000) as shown:
        page.import_model(bare)
    _one_line_full_edition(shown.args[1])
    qtbot.waitUntil(lambda: not page.is_busy())
    assert _names(page) == before


@pytest.mark.parametrize("argv", [["train", "--preset", "fast"], ["tune"], ["export", "--format", "torchscript", "x.ts"]])
def test_the_command_line_says_full_edition_in_one_line(run_cli, argv, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = run_cli(*argv)
    assert result.code == 2 and result.out == ""
    _one_line_full_edition(result.err.strip())


def test_fmnist_evaluate_reads_the_data_set_without_torch(run_cli, tiny_idx_dir):
    result = run_cli("evaluate", "--data", tiny_idx_dir, "--json")
    assert result.code == 0, result.err
    assert '"n": 200' in result.out


def test_the_local_api_answers_without_torch():
    from fastapi.testclient import TestClient

    from fmnist_desktop.serve.server import load_app
    from fmnist_desktop.serve.app import ServeSettings

    app, _ = load_app([paths.default_weights_path()], ServeSettings(threads=1), "auto")
    sample = SAMPLES / "fashion-mnist_8_Bag.png"
    with TestClient(app) as client:
        response = client.post("/predict", files={"files": (sample.name, sample.read_bytes(), "image/png")})
    assert response.status_code == 200, response.text
    assert response.json()[0]["label"] == "Bag"


def test_fmnist_serve_checks_its_models_without_torch(run_cli, monkeypatch):
    """`fmnist serve` reads its device and models' metadata without torch, up to taking the port."""
    from fmnist_desktop.serve import server

    def port_reached(*_args):
        raise SystemExit(7)

    monkeypatch.setattr(server, "check_port_free", port_reached)
    with pytest.raises(SystemExit) as reached:
        run_cli("serve", "--weights", paths.default_weights_path(), "--port", "8799")
    assert reached.value.code == 7


def test_evaluate_on_labelled_photos_without_torch():
    """The Evaluate page's photo measure (the shipped real photos, here the test's three)."""
    from fmnist_desktop.core.jobs import evaluate
    from fmnist_desktop.core.jobs.state import PlainState

    done = evaluate.run_photos(evaluate.PhotoEvaluateInputs(paths.default_weights_path()), PlainState())
    assert done.description == "the 3 real photos shipped with the app"
    assert done.result.confusion.sum() == len(done.names) == 3
