"""Model files: round trip, atomic saves, the notebook's bare state_dict, and every refusal."""

from __future__ import annotations

import os
import pickle
import zipfile

import pytest
import torch

from fmnist_desktop.core.store import checkpoint
from fmnist_desktop.core.base import paths
from fmnist_desktop.core.store.checkpoint import CheckpointMeta, load_checkpoint, load_model, save_checkpoint
from fmnist_desktop.core.base.errors import CheckpointError, SaveError
from fmnist_desktop.core.models import build_model, set_flip_averaging


def _meta(**kw) -> CheckpointMeta:
    return CheckpointMeta.for_preset("fast", kw.pop("name", "My run"), **kw)


def _same_weights(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_round_trip_keeps_weights_outputs_and_metadata(tmp_path):
    torch.manual_seed(0)
    model = build_model("bn_cnn_small").eval()
    meta = _meta(
        metrics={"test_accuracy": 91.25},
        history=[{"epoch": 1, "val_acc": 90.0}],
        training={"epochs": 3, "data_dir": tmp_path, "seed": torch.tensor(7)},
    )
    path = save_checkpoint(tmp_path / "m.pt", model, meta)
    loaded, loaded_meta = load_model(path)
    assert _same_weights(model, loaded) and not loaded.training
    x = torch.rand(4, 1, 28, 28)
    # The `fast` preset trains with flips, so the loaded model averages each image with its mirror.
    assert loaded.average_flips
    assert torch.equal(set_flip_averaging(model, "flip")(x), loaded(x))
    assert loaded_meta.name == "My run" and loaded_meta.arch == "bn_cnn_small" and loaded_meta.input_size == 28
    assert loaded_meta.metrics == {"test_accuracy": 91.25}
    assert loaded_meta.training["data_dir"] == str(tmp_path) and loaded_meta.training["seed"] == 7
    assert loaded_meta.history == [{"epoch": 1, "val_acc": 90.0}]
    assert loaded_meta.format_version == checkpoint.FORMAT_VERSION
    # stored as the documented plain dict
    raw = torch.load(path, weights_only=True)
    assert raw["format"] == "fmnist-desktop" and raw["format_version"] == 1
    assert raw["meta"]["preset"] == "fast"


def test_notebook_bare_state_dict_loads_as_seed_model(tmp_path):
    seed = build_model("seed_cnn")
    path = tmp_path / "fashion_mnist_cnn.pth"
    torch.save(seed.state_dict(), path)  # exactly what the origin notebook does
    model, meta = load_model(path)
    assert _same_weights(seed, model)
    assert meta.preset == "seed" and meta.arch == "seed_cnn" and meta.input_size == 16
    assert meta.name == "Imported notebook model"


def test_failed_save_keeps_the_old_file_and_leaves_no_temp_file(tmp_path, monkeypatch):
    path = tmp_path / "m.pt"
    old = build_model("bn_cnn_small")
    save_checkpoint(path, old, _meta(name="old"))

    def failing_save(obj, f, *a, **k):
        f.write(b"PK\x03\x04 half a file")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(checkpoint.torch, "save", failing_save)
    with pytest.raises(SaveError, match="disk is full"):
        save_checkpoint(path, build_model("bn_cnn_small"), _meta(name="new"))
    monkeypatch.undo()
    assert [p.name for p in tmp_path.iterdir()] == ["m.pt"]
    model, meta = load_model(path)
    assert meta.name == "old" and _same_weights(model, old)


def test_failed_rename_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "m.pt"
    save_checkpoint(path, build_model("bn_cnn_small"), _meta(name="old"))

    def failing_replace(src, dst):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(paths.os, "replace", failing_replace)
    with pytest.raises(SaveError, match="permission denied"):
        save_checkpoint(path, build_model("bn_cnn_small"), _meta(name="new"))
    monkeypatch.undo()
    assert [p.name for p in tmp_path.iterdir()] == ["m.pt"]
    assert load_checkpoint(path)[1].name == "old"


class _Exploit:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.mark.parametrize("container", ["torch_zip", "plain_pickle"])
def test_pickle_with_code_is_refused_and_not_run(tmp_path, container):
    marker = tmp_path / "PWNED"
    path = tmp_path / "evil.pt"
    payload = {"format": "fmnist-desktop", "format_version": 1, "state_dict": _Exploit(str(marker))}
    if container == "torch_zip":
        torch.save(payload, path)
    else:
        path.write_bytes(pickle.dumps(payload))
    assert not marker.exists()
    with pytest.raises(CheckpointError, match="not a plain weights file; refusing to execute code"):
        load_checkpoint(path)
    assert not marker.exists()


def _write(path, obj):
    torch.save(obj, path)
    return path


@pytest.mark.parametrize(
    "case, expected",
    [
        ("missing", "There is no model file"),
        ("empty", "is empty"),
        ("text", "not a PyTorch model file"),
        ("truncated", "truncated or damaged"),
        ("png", "not a PyTorch model file"),
        ("other_program", "another program"),
        ("newer", "made by a newer version of the app"),
        ("no_weights", "holds no model weights"),
        ("unknown_arch", "does not know"),
        ("wrong_arch", "does not fit the 'bn_cnn_small' network"),
        ("eleven_classes", "classifies 11 classes"),
        ("bare_eleven_classes", "classifies 11 classes"),
        ("bare_foreign", "unknown network"),
        ("bare_wrong_shape", "does not fit the 'seed_cnn' network: fc1.weight is"),
        ("damaged_meta", "is damaged"),
    ],
)
def test_damaged_or_foreign_files_are_refused_with_one_sentence(tmp_path, case, expected):
    path = tmp_path / "model.pt"
    good = tmp_path / "good.pt"
    save_checkpoint(good, build_model("bn_cnn_small"), _meta())
    raw = torch.load(good, weights_only=True)
    if case == "empty":
        path.write_bytes(b"")
    elif case == "text":
        path.write_text("these are not the weights you are looking for")
    elif case == "truncated":
        blob = good.read_bytes()
        path.write_bytes(blob[: len(blob) // 2])
    elif case == "png":
        path.write_bytes(b"\x89PNG\r\n\x1a\n" + os.urandom(200))
    elif case == "other_program":
        _write(path, {"format": "lightning", "state_dict": raw["state_dict"]})
    elif case == "newer":
        _write(path, {**raw, "format_version": checkpoint.FORMAT_VERSION + 1})
    elif case == "no_weights":
        _write(path, {"epoch": 3, "lr": 0.1})
    elif case == "unknown_arch":
        _write(path, {**raw, "meta": {**raw["meta"], "arch": "transformer_xl"}})
    elif case == "wrong_arch":
        _write(path, {**raw, "state_dict": build_model("seed_cnn").state_dict()})
    elif case == "eleven_classes":
        sd = dict(raw["state_dict"])
        sd["classifier.5.weight"] = torch.zeros(11, sd["classifier.5.weight"].shape[1])
        sd["classifier.5.bias"] = torch.zeros(11)
        _write(path, {**raw, "state_dict": sd})
    elif case == "bare_eleven_classes":
        sd = build_model("seed_cnn").state_dict()
        sd["fc2.weight"], sd["fc2.bias"] = torch.zeros(11, 128), torch.zeros(11)
        _write(path, sd)
    elif case == "bare_foreign":
        _write(path, {"encoder.weight": torch.zeros(3)})
    elif case == "bare_wrong_shape":
        sd = build_model("seed_cnn").state_dict()
        sd["fc1.weight"] = torch.zeros(128, 64 * 7 * 7)  # the notebook's net, but for 28×28 input
        _write(path, sd)
    elif case == "damaged_meta":
        _write(path, {**raw, "meta": {"name": "x"}})
    with pytest.raises(CheckpointError) as info:
        load_model(path)
    message = str(info.value)
    assert expected in message and "\n" not in message
    assert len(message) < 300


def test_zip_with_foreign_content_is_not_a_model(tmp_path):
    path = tmp_path / "archive.pt"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("readme.txt", "hello")
    with pytest.raises(CheckpointError, match="not a PyTorch model file|truncated or damaged"):
        load_checkpoint(path)
