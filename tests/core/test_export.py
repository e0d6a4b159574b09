"""ONNX and TorchScript export: the files answer like the model (onnxruntime / torch.jit), carry
their preprocessing contract, and a broken export never replaces a file."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from fmnist_desktop.core.jobs import export
from fmnist_desktop.core.store.checkpoint import CheckpointMeta, save_checkpoint
from fmnist_desktop.core.jobs.export import ExportError, export_model
from fmnist_desktop.core.base.labels import CLASS_NAMES
from fmnist_desktop.core.models import build_model, set_flip_averaging

onnx_available = export.export_formats_available()["onnx"] is None
needs_onnx = pytest.mark.skipif(not onnx_available, reason="onnx/onnxscript/onnxruntime not installed")


def _model(tmp_path, arch="bn_cnn_small", preset="fast", flips=True):
    torch.manual_seed(0)
    model = build_model(arch)
    # Non-trivial BatchNorm statistics, so a wrong eval/train mode in the export would show.
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
    meta = CheckpointMeta.for_preset(preset, "Exported test model", training={"augment": "flip" if flips else "none"},
                                     metrics={"test_accuracy": 91.5})
    return save_checkpoint(tmp_path / "m.pt", model, meta)


@needs_onnx
@pytest.mark.parametrize("arch,preset", [("bn_cnn_small", "fast"), ("seed_cnn", "seed")])
def test_onnx_export_matches_torch_and_carries_its_contract(tmp_path, arch, preset):
    weights = _model(tmp_path, arch, preset)
    result = export_model(weights, tmp_path / "m.onnx", "onnx")
    assert result.verification.ok and result.verification.n == 10
    assert result.verification.top1_agreement == 1.0 and result.verification.max_abs_diff <= 1e-4
    assert result.size_bytes == (tmp_path / "m.onnx").stat().st_size > 10_000
    assert not (tmp_path / "m.onnx.data").exists()  # one self-contained file
    import onnx

    proto = onnx.load(str(tmp_path / "m.onnx"))
    props = {p.key: p.value for p in proto.metadata_props}
    assert json.loads(props["class_names"]) == list(CLASS_NAMES)
    assert props["opset"] == str(export.OPSET) and any(o.version == export.OPSET for o in proto.opset_import)
    terms = json.loads((tmp_path / "m.onnx.json").read_text())
    assert terms == {**export.read_contract(tmp_path / "m.onnx"), "verification": terms["verification"]}
    size = 16 if arch == "seed_cnn" else 28
    assert terms["input"]["shape"] == ["batch", 1, size, size] and terms["input"]["dtype"] == "float32"
    # Any batch size runs (the batch dimension is dynamic).
    session = export.onnx_session(tmp_path / "m.onnx")
    for n in (1, 3, 64):
        x = np.random.default_rng(n).normal(size=(n, 1, size, size)).astype(np.float32)
        p = session.run(None, {"image": x})[0]
        assert p.shape == (n, 10) and np.allclose(p.sum(1), 1, atol=1e-5)


def test_torchscript_export_matches_torch(tmp_path):
    weights = _model(tmp_path)
    result = export_model(weights, tmp_path / "m.ts.pt", "torchscript")
    assert result.verification.ok and result.verification.max_abs_diff <= 1e-4
    module = export.torchscript_module(tmp_path / "m.ts.pt")
    assert export.read_contract(tmp_path / "m.ts.pt")["class_names"] == list(CLASS_NAMES)
    x = export.model_input(export.sample_images(), CheckpointMeta.for_preset("fast", "x"))
    assert export.torchscript_probabilities(module, x).shape == (10, 10)


def test_mirror_averaging_is_inside_the_export(tmp_path):
    """A model trained with flips predicts the mean of the image and its mirror; so must the file."""
    weights = _model(tmp_path, flips=True)
    export_model(weights, tmp_path / "m.ts.pt", "torchscript")
    module = export.torchscript_module(tmp_path / "m.ts.pt")
    x = torch.randn(4, 1, 28, 28)
    with torch.inference_mode():
        p, p_mirror = module(x), module(x.flip(3))
    assert torch.allclose(p, p_mirror, atol=1e-6)


def test_a_bad_export_raises_and_writes_nothing(tmp_path, monkeypatch):
    weights = _model(tmp_path)
    (tmp_path / "keep.pt").write_bytes(b"old")
    monkeypatch.setattr(export, "_compare", lambda runtime, got, want: export.Verification(runtime, 10, 0.9, 0.5, False))
    with pytest.raises(ExportError, match="does not answer like the original"):
        export_model(weights, tmp_path / "keep.pt", "torchscript")
    assert (tmp_path / "keep.pt").read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.pt", "m.pt"]


def test_refusals(tmp_path):
    weights = _model(tmp_path)
    with pytest.raises(ExportError, match="Unknown export format"):
        export_model(weights, tmp_path / "x", "tflite")
    with pytest.raises(ExportError, match="is a folder"):
        export_model(weights, tmp_path, "torchscript")
    with pytest.raises(ExportError, match="does not exist"):
        export_model(weights, tmp_path / "nope" / "m.pt", "torchscript")
