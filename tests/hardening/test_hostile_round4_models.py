"""Hostile input, round four (issue 27, items 3, 8 and 12): models whose answers are not numbers,
names that would steer the terminal, and the small ones (the built-in photo model, an export and
its contract, fine-tuning thresholds, the export contract's EXIF step)."""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

NOT_NUMBERS = "answers are not numbers"


def _strict_json(text: str):
    def refuse(constant):
        raise ValueError(f"non-standard JSON constant {constant}")

    return json.loads(text, parse_constant=refuse)


def _save_altered(source: Path, target: Path, alter) -> Path:
    """A copy of the model file `source` with its state_dict changed by `alter(state_dict)`."""
    from fmnist_desktop.core.store.checkpoint import load_checkpoint, save_checkpoint

    state_dict, meta = load_checkpoint(source)
    state_dict = {k: v.clone() for k, v in state_dict.items()}
    alter(state_dict)
    return save_checkpoint(target, state_dict, meta)


def _negative_running_var(state_dict) -> None:
    key = next(k for k in state_dict if k.endswith("running_var"))
    state_dict[key][0] = -1.0


def _scaled_by_1e38(state_dict) -> None:
    for key, tensor in state_dict.items():
        if tensor.is_floating_point():
            tensor.mul_(1e38)


@pytest.fixture(scope="module")
def nan_photo_model(tmp_path_factory, photo_model_file) -> Path:
    return _save_altered(photo_model_file, tmp_path_factory.mktemp("nan") / "bn-var.pt", _negative_running_var)


@pytest.fixture
def huge_small_model(small_model, tmp_path) -> Path:
    return _save_altered(small_model, tmp_path / "huge.pt", _scaled_by_1e38)


@pytest.fixture
def photo_file(tmp_path) -> Path:
    from PIL import Image

    path = tmp_path / "shirt.jpg"
    Image.new("RGB", (300, 200), (30, 90, 200)).save(path)
    return path


# --------------------------------------------------------------------------------- item 3


def test_a_photo_model_with_a_negative_running_variance_is_refused_at_import_and_load(run_cli, nan_photo_model,
                                                                                       photo_file):
    imported = run_cli("models", "--import", nan_photo_model)
    assert imported.code == 2 and len(imported.err.strip().splitlines()) == 1, imported.err
    assert NOT_NUMBERS in imported.err and "unexpected" not in imported.err
    listed = run_cli("models", "--json")
    assert "bn-var" not in listed.out
    predicted = run_cli("predict", "--json", "--weights", nan_photo_model, photo_file)
    assert predicted.code == 2 and NOT_NUMBERS in predicted.err and "unexpected" not in predicted.err
    assert "NaN" not in predicted.out


def test_a_28x28_network_scaled_by_1e38_is_refused_in_one_line(run_cli, huge_small_model, photo_file):
    result = run_cli("models", "--import", huge_small_model)
    assert result.code == 2 and len(result.err.strip().splitlines()) == 1
    assert NOT_NUMBERS in result.err
    exported = run_cli("export", "--weights", huge_small_model, "--format", "torchscript",
                       huge_small_model.with_suffix(".ts"))
    assert exported.code == 2 and NOT_NUMBERS in exported.err and "report" not in exported.err.lower()
    assert not huge_small_model.with_suffix(".ts").exists()


def test_predict_json_stays_strict_json_when_a_model_answers_nan_on_one_image(run_cli, huge_small_model, photo_file,
                                                                                 monkeypatch):
    """A model can pass the load probe and still overflow on some image: that image gets an
    error, never a bare NaN in the JSON (exit 0 with invalid JSON before)."""
    import fmnist_desktop.core.store.checkpoint as checkpoint

    monkeypatch.setattr(checkpoint, "check_answers", lambda *args: None, raising=False)  # as if the probe passed
    result = run_cli("predict", "--json", "--weights", huge_small_model, photo_file)
    answers = _strict_json(result.out)
    assert result.code != 0
    assert NOT_NUMBERS in answers[0]["error"] and "confidence" not in answers[0]
    table = run_cli("predict", "--weights", huge_small_model, photo_file)
    assert "unexpected" not in table.err and NOT_NUMBERS in table.err and "nan" not in table.out.lower()


def test_the_server_answers_422_not_500_for_a_model_that_answers_nan(huge_small_model, monkeypatch):
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    import fmnist_desktop.core.store.checkpoint as checkpoint
    from fmnist_desktop.serve.app import ServeSettings
    from fmnist_desktop.serve.server import load_app

    monkeypatch.setattr(checkpoint, "check_answers", lambda *args: None, raising=False)
    app, _ = load_app(huge_small_model, ServeSettings(threads=1))
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("L", (28, 28)).save(buf, "PNG")
    with TestClient(app, raise_server_exceptions=False) as client:
        r = client.post("/predict", files={"files": ("x.png", buf.getvalue(), "image/png")})
    assert r.status_code == 422 and NOT_NUMBERS in r.json()["error"]


def test_serving_a_model_whose_answers_are_not_numbers_is_refused_before_it_starts(huge_small_model):
    pytest.importorskip("fastapi")
    from fmnist_desktop.core.base.errors import CheckpointError
    from fmnist_desktop.serve.app import ServeSettings
    from fmnist_desktop.serve.server import load_app

    with pytest.raises(CheckpointError, match=NOT_NUMBERS):
        load_app(huge_small_model, ServeSettings(threads=1))


def test_a_sound_model_still_loads_and_listing_does_not_run_models(small_model, photo_model_file, monkeypatch):
    import fmnist_desktop.core.store.checkpoint as checkpoint

    checkpoint.load_model(small_model)
    checkpoint.load_model(photo_model_file)
    ran = []
    monkeypatch.setattr(checkpoint, "check_answers", lambda *args: ran.append(args))
    checkpoint.read_meta(photo_model_file)
    assert ran == []


# --------------------------------------------------------------------------------- item 8


def test_the_generic_error_line_escapes_esc_newline_and_bidi_controls(run_cli, small_model, tmp_path):
    hostile = tmp_path / "evil\x1b[2J\nfmnist: ok\u202egpj.exe"
    hostile.write_bytes(b"")
    result = run_cli("export", "--weights", small_model, "--format", "checkpoint", hostile / "out.pt")
    assert result.code != 0
    assert len(result.err.strip().splitlines()) == 1, result.err
    assert "\x1b" not in result.err and "\u202e" not in result.err
    assert "\\u001b[2J\\nfmnist: ok\\u202egpj.exe" in result.err


def test_a_model_name_with_a_right_to_left_override_is_escaped_in_the_list(run_cli, small_model):
    run_cli("models", "--import", small_model)
    entry_id = _strict_json(run_cli("models", "--json").out)[-1]["id"]
    renamed = run_cli("models", "--rename", entry_id, "shirt\u202egpj.exe\u2066x")
    assert renamed.code == 0, renamed.err
    listed = run_cli("models")
    assert "\u202e" not in listed.out and "\u2066" not in listed.out
    assert "shirt\\u202egpj.exe\\u2066x" in listed.out
    as_json = run_cli("models", "--json").out
    assert "\u202e" not in as_json
    assert any(e["name"] == "shirt\u202egpj.exe\u2066x" for e in _strict_json(as_json))  # the data is intact


def test_terminal_text_is_json_safe_and_keeps_backslashes():
    from fmnist_desktop.core.base.output_safety import printable, terminal_text

    text = json.dumps({"name": "a\u202eb\x9bc\u2028", "path": "C:\\models\\x.pt"}, ensure_ascii=False, indent=2)
    safe = terminal_text(text)
    assert safe.count("\n") == text.count("\n") and json.loads(safe) == json.loads(text)
    assert all(ch not in safe for ch in "\u202e\x9b\u2028")
    assert terminal_text("C:\\models\\x.pt\nnext", one_line=True) == "C:\\models\\x.pt\\nnext"
    assert printable("a\u202eb") == "a\\u202eb"


# --------------------------------------------------------------------------------- item 12


def test_the_built_in_photo_model_cannot_be_deleted_or_renamed(run_cli, builtin_test_photo_model):
    listed = _strict_json(run_cli("models", "--json").out)
    assert "default-photo" in [e["id"] for e in listed]
    deleted = run_cli("models", "--delete", "default-photo")
    assert deleted.code == 2 and "built-in photo model cannot be deleted" in deleted.err
    assert "There is no model" not in deleted.err
    renamed = run_cli("models", "--rename", "default-photo", "Mine")
    assert renamed.code == 2 and "built-in photo model cannot be renamed" in renamed.err
    assert builtin_test_photo_model.is_file()


def test_export_writes_neither_file_when_the_contract_cannot_be_written(run_cli, small_model, tmp_path):
    out = tmp_path / "model.ts"
    (tmp_path / "model.ts.json").mkdir()  # the contract's name is taken by a folder
    result = run_cli("export", "--weights", small_model, "--format", "torchscript", out)
    assert result.code != 0 and "model.ts.json" in result.err
    assert not out.exists()
    assert len(result.err.strip().splitlines()) == 1


def test_export_keeps_both_previous_files_when_the_model_cannot_be_moved_in_place(small_model, tmp_path, monkeypatch):
    from fmnist_desktop.core.jobs import export

    out = tmp_path / "model.ts"
    out.write_bytes(b"previous export")
    contract = tmp_path / "model.ts.json"
    contract.write_text('{"previous": true}')
    real_replace = os.replace

    def replace(src, dst):
        if Path(dst) == out:
            raise OSError(28, "No space left on device")
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    with pytest.raises(export.ExportError, match="Nothing was written"):
        export.export_model(small_model, out, "torchscript")
    assert out.read_bytes() == b"previous export"
    assert contract.read_text() == '{"previous": true}'
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["model.ts", "model.ts.json", small_model.name])


def test_exporting_a_model_whose_answers_are_not_numbers_is_one_line_without_warnings(small_model):
    from fmnist_desktop.core.jobs import export
    from fmnist_desktop.core.store.checkpoint import load_model

    model, meta = load_model(small_model)
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(1e38)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a numpy RuntimeWarning fails the test
        with pytest.raises(export.ExportError) as caught:
            export.export_model((model, meta), small_model.with_suffix(".ts"), "torchscript")
    text = str(caught.value)
    assert NOT_NUMBERS in text and "report" not in text.lower() and "\n" not in text


def test_the_export_contract_says_to_apply_the_exif_orientation(small_model, photo_model_file):
    from fmnist_desktop.core.jobs.export import contract, photo_contract
    from fmnist_desktop.core.store.checkpoint import read_meta

    for terms in (contract(read_meta(small_model)), photo_contract(read_meta(photo_model_file))):
        assert "exif_transpose" in terms["input"]["orientation"]
        assert "EXIF orientation" in terms["input"]["pixels"]


def test_init_with_too_few_held_out_photos_keeps_the_parents_threshold(run_cli, tmp_path, idx_writer):
    """`fmnist train --init` (no photos, or too few held out) fell back to 50 %; the GUI's
    fine-tune keeps the parent's level. Now the CLI does too, and says whose it is."""
    from fmnist_desktop.core.models import build_model
    from fmnist_desktop.core.store.checkpoint import CheckpointMeta, read_meta, save_checkpoint

    data = idx_writer.write_tiny_dataset(tmp_path / "data", n_train=300, n_test=100)
    meta = CheckpointMeta.for_preset("fast", "Calibrated parent", metrics={
        "test_accuracy": 80.0, "not_sure_threshold": 0.37, "out_of_scope_threshold": 0.21})
    parent = save_checkpoint(tmp_path / "parent.pt", build_model(meta.arch), meta)
    result = run_cli("train", "--preset", "fast", "--epochs", "1", "--data", data, "--val-size", "50",
                     "--init", parent, "--out", tmp_path / "child.pt")
    assert result.code == 0, result.err
    metrics = read_meta(tmp_path / "child.pt").metrics
    assert metrics["not_sure_threshold"] == 0.37 and metrics["out_of_scope_threshold"] == 0.21
    assert metrics["threshold_inherited_from"] == "Calibrated parent"


def test_photo_init_with_too_few_held_out_photos_keeps_the_parents_threshold(tmp_path, photo_model_writer):
    import dataclasses

    from PIL import Image, ImageDraw

    from fmnist_desktop.core.jobs.photo_model import PhotoRunDone, iter_photo_run
    from fmnist_desktop.core.learn.photo_training import PhotoTrainConfig

    folder = tmp_path / "photos"
    rng = np.random.default_rng(0)
    for cls in ("1_Trouser", "7_Sneaker"):
        for sender in range(3):
            d = folder / cls / f"s{sender}"
            d.mkdir(parents=True)
            img = Image.new("RGB", (64, 64), tuple(int(v) for v in rng.integers(150, 255, 3)))
            ImageDraw.Draw(img).rectangle((20, 8, 40, 56) if cls == "1_Trouser" else (8, 24, 56, 40), fill=(20, 20, 20))
            img.save(d / "0.jpg")
    parent = photo_model_writer(tmp_path / "parent.pt", name="Photo parent", threshold=0.42)
    config = dataclasses.replace(PhotoTrainConfig(), epochs=1, views=1, from_block=16, fashion_mnist_per_class=0)
    done = list(iter_photo_run(config, folder, None, None, init=parent, cache_folder=tmp_path / "cache"))[-1]
    assert isinstance(done, PhotoRunDone)
    metrics = done.run.meta.metrics
    assert metrics["not_sure_threshold"] == 0.42 and metrics["threshold_inherited_from"] == "Photo parent"
