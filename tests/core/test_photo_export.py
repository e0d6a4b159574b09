"""Exporting a photo model (issue 20): ONNX and TorchScript files take an RGB 224×224 photo in
0..1 (normalisation inside), give 11 logits (the ten classes, then "none of these"), answer like
the app on real photos, and the contract beside them says so."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from fmnist_desktop.core.jobs import export

REPO = Path(__file__).resolve().parents[2]
PHOTO = REPO / "tests" / "data" / "photo_sneaker.jpg"


@pytest.fixture(scope="module")
def varied_photo_model(photo_model_file, tmp_path_factory) -> Path:
    """The test photo model with a random head, so its answer depends on the photo."""
    from fmnist_desktop.core.store.checkpoint import load_checkpoint, save_checkpoint

    state, meta = load_checkpoint(photo_model_file)
    generator = torch.Generator().manual_seed(3)
    state["head.weight"] = torch.randn(state["head.weight"].shape, generator=generator) * 0.05
    meta.name = "Varied photo model"
    return save_checkpoint(tmp_path_factory.mktemp("varied") / "varied.pt", state, meta)


def _app_probabilities(weights: Path, photo: Path) -> np.ndarray:
    from fmnist_desktop.core.predict.predictor import Predictor

    r = Predictor.from_checkpoint(weights).predict_paths([photo])[0]
    return np.array(list(r.probabilities) + [r.none_probability])


def _input(photo: Path) -> np.ndarray:
    from fmnist_desktop.core.photo.model_input import load_photo_input, to_unit_tensor

    return to_unit_tensor([load_photo_input(photo, 224)]).numpy().astype(np.float32)


def _softmax(z):
    e = np.exp(z - z.max())
    return e / e.sum()


@pytest.mark.skipif(export.export_formats_available()["onnx"] is not None, reason="onnx extras not installed")
def test_onnx_photo_export_answers_like_the_app_on_a_real_photo_and_states_its_contract(varied_photo_model, tmp_path):
    out = tmp_path / "photo.onnx"
    result = export.export_model(varied_photo_model, out, "onnx")
    assert result.verification.ok and result.verification.n >= 3 and result.verification.max_abs_diff <= 1e-4
    assert "onnxruntime" in result.verification.line()

    session = export.onnx_session(out)
    [inp], [outp] = session.get_inputs(), session.get_outputs()
    assert inp.name == "image" and inp.shape[1:] == [3, 224, 224] and outp.name == "logits"
    logits = session.run(["logits"], {"image": _input(PHOTO)})[0]
    assert logits.shape == (1, 11)
    app = _app_probabilities(varied_photo_model, PHOTO)
    assert np.abs(_softmax(logits[0]) - app).max() < 1e-4 and int(np.argmax(logits[0])) == int(np.argmax(app))

    terms = json.loads(out.with_name("photo.onnx.json").read_text())
    assert terms == {**export.read_contract(out), "verification": terms["verification"]}
    assert terms["input"]["shape"] == ["batch", 3, 224, 224] and terms["input"]["colour"] == "RGB"
    assert terms["input"]["range"] == [0.0, 1.0] and terms["input"]["normalisation"] == "inside the model"
    assert terms["output"]["shape"] == ["batch", 11] and terms["class_names"][10] == "none of these"
    assert terms["class_names"][:10][7] == "Sneaker" and terms["not_sure_threshold"] == 0.3


def test_torchscript_photo_export_answers_like_the_app(varied_photo_model, tmp_path):
    out = tmp_path / "photo.pt"
    result = export.export_model(varied_photo_model, out, "torchscript")
    assert result.verification.ok and "torch.jit" in result.verification.line()
    module = export.torchscript_module(out)
    with torch.inference_mode():
        logits = module(torch.from_numpy(_input(PHOTO))).numpy()
    assert np.abs(_softmax(logits[0]) - _app_probabilities(varied_photo_model, PHOTO)).max() < 1e-4
    assert export.read_contract(out)["class_names"][10] == "none of these"


def test_fmnist_export_kind_photo_exports_the_active_photo_model(run_cli, builtin_test_photo_model, tmp_path):
    ts = run_cli("export", "--kind", "photo", "--format", "torchscript", tmp_path / "p.pt")
    assert ts.code == 0, ts.err
    assert "verified with torch.jit" in ts.out and json.loads((tmp_path / "p.pt.json").read_text())["kind"] == "photo"
    # Without --kind: the active 28×28 network, as before.
    default = run_cli("export", "--format", "torchscript", tmp_path / "d.pt")
    assert default.code == 0 and json.loads((tmp_path / "d.pt.json").read_text())["input"]["shape"][1] == 1
    # The app's own file format, and a photo model file back from it.
    copy = run_cli("export", "--weights", builtin_test_photo_model, "--format", "pt", tmp_path / "copy.pt")
    assert copy.code == 0 and "Test photo model" in copy.out
    from fmnist_desktop.core.models.photo_net import PhotoNet
    from fmnist_desktop.core.store.checkpoint import load_model

    model, meta = load_model(tmp_path / "copy.pt")
    assert isinstance(model, PhotoNet) and meta.metrics["not_sure_threshold"] == 0.3
