"""core.predict.photo_eval: accuracy, per-class table and confusion matrix on a labelled photo folder."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from fmnist_desktop.core.base.errors import FmnistError
from fmnist_desktop.core.predict.photo_eval import ModelRunner, evaluate_photo_folder


class TallOrWide(torch.nn.Module):
    """Predicts Trouser (1) for tall objects and Bag (8) for wide ones, from the 28x28 input:
    a stand-in model whose right answers on the photos below are known in advance."""

    def forward(self, x):
        lit = x[:, 0] > x[:, 0].amin((1, 2), keepdim=True) + 0.1
        rows = lit.any(2).sum(1).float()
        cols = lit.any(1).sum(1).float()
        logits = torch.zeros(x.shape[0], 10)
        logits[:, 1] = rows - cols
        logits[:, 8] = cols - rows
        return logits


def make_folder(root):
    for i in range(3):
        img = Image.new("RGB", (200, 200), (240, 240, 240))
        ImageDraw.Draw(img).rectangle([90, 10 + i, 110, 190], fill=(30, 30, 30))
        (root / "1_Trouser").mkdir(parents=True, exist_ok=True)
        img.save(root / "1_Trouser" / f"tall{i}.jpg")
    for i in range(2):
        img = Image.new("RGB", (200, 200), (240, 240, 240))
        ImageDraw.Draw(img).rectangle([10 + i, 80, 190, 120], fill=(30, 30, 30))
        (root / "9_Ankle_boot").mkdir(parents=True, exist_ok=True)
        img.save(root / "9_Ankle_boot" / f"wide{i}.png")
    (root / "9_Ankle_boot" / "broken.png").write_text("not an image")
    (root / "notes").mkdir()
    (root / "README.md").write_text("ignored")


def test_accuracy_table_confusion_and_files(tmp_path):
    make_folder(tmp_path)
    runner = ModelRunner(TallOrWide(), 28, 0.0, 1.0)
    seen = []
    result = evaluate_photo_folder(runner, tmp_path, "app", progress=lambda d, t: seen.append((d, t)))
    assert result.n == 5 and result.errors == 1
    assert result.accuracy == pytest.approx(3 / 5)  # trousers right, "boots" taken for bags
    assert result.confusion[1, 1] == 3 and result.confusion[9, 8] == 2
    per = {c["name"]: c for c in result.classes_present()}
    assert per["Trouser"]["accuracy"] == 1.0 and per["Ankle boot"]["accuracy"] == 0.0
    assert result.worst_class()["name"] == "Ankle boot"
    assert seen[-1] == (6, 6)
    broken = [f for f in result.files if f["error"]]
    assert len(broken) == 1 and "broken.png" in broken[0]["error"]
    data = json.loads(result.to_json())
    assert data["confusion"][9][8] == 2 and len(data["files"]) == 6
    assert "overall" in result.table() and "60.0%" in result.table()


def test_notebook_pipeline_sees_the_raw_photo(tmp_path):
    make_folder(tmp_path)
    # Without cropping, all five photos are the same square frame: the stand-in model cannot tell
    # tall from wide reliably, which is the notebook's problem the app pipeline fixes.
    app = evaluate_photo_folder(ModelRunner(TallOrWide(), 28, 0.0, 1.0), tmp_path, "app")
    notebook = evaluate_photo_folder(ModelRunner(TallOrWide(), 16, 0.5, 0.5), tmp_path, "notebook")
    assert notebook.n == 5 and app.accuracy >= notebook.accuracy


def test_predictor_like_objects_are_accepted(tmp_path):
    make_folder(tmp_path)
    predictor = SimpleNamespace(model=TallOrWide(), meta=SimpleNamespace(input_size=28, mean=0.0, std=1.0), device="cpu")
    assert evaluate_photo_folder(predictor, tmp_path).n == 5


def test_folder_without_labelled_subfolders_is_a_clear_error(tmp_path):
    (tmp_path / "holiday").mkdir()
    with pytest.raises(FmnistError, match="No labelled photos"):
        evaluate_photo_folder(ModelRunner(TallOrWide(), 28, 0.0, 1.0), tmp_path)
    with pytest.raises(FmnistError, match="not a folder"):
        evaluate_photo_folder(ModelRunner(TallOrWide(), 28, 0.0, 1.0), tmp_path / "missing")


def test_cli_evaluate_photos_json_and_one_line_errors(tmp_path, capsys):
    from fmnist_desktop import cli
    from fmnist_desktop.core.store.checkpoint import CheckpointMeta, save_checkpoint
    from fmnist_desktop.core.models import build_model

    photos = tmp_path / "photos"
    make_folder(photos)
    weights = save_checkpoint(tmp_path / "m.pt", build_model("bn_cnn_small"), CheckpointMeta.for_preset("fast", "untrained"))
    # exit 1: one photo was skipped (issue 12: evaluate-photos used to exit 0 then)
    assert cli.main(["evaluate-photos", "--weights", str(weights), "--json", str(photos)]) == 1
    out = capsys.readouterr()
    data = json.loads(out.out)
    assert data["n"] == 5 and data["errors"] == 1 and data["pipeline"] == "app"
    assert len(data["confusion"]) == 10

    assert cli.main(["evaluate-photos", "--weights", str(weights), "--pipeline", "notebook", str(photos)]) == 1
    out = capsys.readouterr()
    assert "overall" in out.out and "broken.png" in out.err

    assert cli.main(["evaluate-photos", "--weights", str(weights), str(tmp_path / "nowhere")]) == 2
    err = capsys.readouterr().err.strip()
    assert "not a folder" in err and len(err.splitlines()) == 1 and "Traceback" not in err


def test_a_photo_folder_is_read_by_the_one_reader_training_uses(tmp_path):
    """evaluate-photos and training with photos read a folder the same way: hidden files and
    folders skipped, `none/` is -1, only the app's photo formats (issue 16)."""
    from fmnist_desktop.core.data.labelled_photos import read_photo_folder
    from fmnist_desktop.core.predict.photo_eval import labelled_photos

    for rel in ("3_Dress/a.png", "3_Dress/.hidden.png", "3_Dress/.cache/b.png", ".trash/0_T-shirt_top/c.png",
                "none/d.jpg", "1_Trouser/notes.txt", "1_Trouser/e.webp"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"x")
    found = labelled_photos(tmp_path)
    assert [(p.relative_to(tmp_path).as_posix(), label) for p, label in found] == [
        ("1_Trouser/e.webp", 1), ("3_Dress/a.png", 3), ("none/d.jpg", -1)]
    assert [(p.file, p.label) for p in read_photo_folder(tmp_path)] == [
        (p.relative_to(tmp_path).as_posix(), label) for p, label in found]
