"""Model files that are well-formed but hostile in size or values (issue 12, hostile items 3 for
.pt files, 5, 8 and 11's complex weights): a small zip that inflates to gigabytes, a file too
large to be a model, metadata whose input size or normalisation the network cannot run with,
NaN/Inf weights, complex weights. Each is refused at load with one sentence, before anything
large is allocated, through the core and `fmnist predict/evaluate/models --import`.
"""

from __future__ import annotations

import json
import warnings
import zipfile
from pathlib import Path

import pytest
import torch

from fmnist_desktop.core.store import checkpoint
from fmnist_desktop.core.store.checkpoint import CheckpointMeta, load_checkpoint, load_model, save_checkpoint
from fmnist_desktop.core.base.errors import CheckpointError
from fmnist_desktop.core.models import build_model
from fmnist_desktop.core.base import paths

pytestmark = pytest.mark.timeout(120)


def _image() -> Path:
    return sorted(paths.bundled_path("resources/samples").glob("fashion-mnist_*.png"))[0]


def _save(tmp: Path, name: str, *, meta_changes=None, state_changes=None, arch_preset="seed") -> Path:
    torch.manual_seed(0)
    preset_arch = {"seed": "seed_cnn", "fast": "bn_cnn_small"}[arch_preset]
    state = build_model(preset_arch).state_dict()
    for key, fn in (state_changes or {}).items():
        state[key] = fn(state[key])
    meta = CheckpointMeta.for_preset(arch_preset, name).to_dict()
    meta.update(meta_changes or {})
    path = tmp / f"{name}.pt"
    torch.save({"format": "fmnist-desktop", "format_version": 1, "state_dict": state, "meta": meta}, path)
    return path


def _deflated_with_extra_storage(tmp: Path, extra_bytes: int) -> Path:
    """A valid model re-zipped with deflate, plus a storage record of `extra_bytes` zeros: a
    file of a few hundred kB whose zip directory declares hundreds of MB once inflated."""
    valid = save_checkpoint(tmp / "valid.pt", build_model("seed_cnn"), CheckpointMeta.for_preset("seed", "valid"))
    path = tmp / "bomb.pt"
    with zipfile.ZipFile(valid) as src, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as dst:
        prefix = src.namelist()[0].split("/")[0]
        for info in src.infolist():
            dst.writestr(info.filename, src.read(info))
        chunk = bytes(1 << 20)
        with dst.open(f"{prefix}/data/99", "w", force_zip64=True) as handle:
            for _ in range(extra_bytes // len(chunk)):
                handle.write(chunk)
    return path


# ------------------------------------------------------------------------------- item 3 (.pt)


def test_a_small_file_that_would_inflate_beyond_the_limit_is_refused_before_unpickling(tmp_path, monkeypatch):
    monkeypatch.setattr(checkpoint, "MAX_MODEL_BYTES", 16_000_000)  # the same check at 1/16 scale
    bomb = _deflated_with_extra_storage(tmp_path, 24 * 1024 * 1024)
    assert bomb.stat().st_size < 1_000_000  # the real weights (0.5 MB) plus 24 MB of zeros in ~25 kB

    def no_torch_load(*args, **kwargs):
        raise AssertionError("torch.load must not run on a file refused from its header")

    monkeypatch.setattr(checkpoint.torch, "load", no_torch_load)
    with pytest.raises(CheckpointError, match=r"too large to be a model file: it would unpack to 2[56] MB, "
                                              r"and the limit is 16 MB \(this app's models are a few MB\)"):
        load_checkpoint(bomb)


def test_the_real_limit_still_admits_every_model_the_app_makes(tmp_path):
    for arch, preset in (("seed_cnn", "seed"), ("bn_cnn_small", "fast"), ("bn_cnn", "standard")):
        path = save_checkpoint(tmp_path / f"{preset}.pt", build_model(arch), CheckpointMeta.for_preset(preset, preset))
        assert load_checkpoint(path)[1].arch == arch
        assert path.stat().st_size < checkpoint.MAX_MODEL_BYTES / 20


def test_a_file_larger_than_the_limit_is_refused_without_reading_it(tmp_path, run_cli):
    huge = tmp_path / "huge.pt"
    with open(huge, "wb") as handle:  # sparse: costs no disk
        handle.write(b"PK\x03\x04")
        handle.truncate(checkpoint.MAX_MODEL_BYTES + 1)
    result = run_cli("models", "--import", huge)
    result.assert_one_error_line("huge.pt is too large to be a model file: 250 MB, and the limit is 250 MB")
    assert list(paths.models_dir().glob("*.pt")) == []


# ------------------------------------------------------------------------------- item 5


@pytest.mark.parametrize("size", [160, 20000, 15, 0])
def test_an_input_size_the_network_is_not_built_for_is_refused_at_load(tmp_path, run_cli, size):
    path = _save(tmp_path, f"size{size}", meta_changes={"input_size": size})
    with pytest.raises(CheckpointError) as err:
        load_model(path)
    assert "size" in str(err.value) and "\n" not in str(err.value)
    for argv in (("predict", "--weights", path, _image()), ("evaluate", "--weights", path),
                 ("models", "--import", path)):
        result = run_cli(*argv)
        assert result.code == 2 and result.out == "", (argv, result)
        result.assert_one_error_line(f"size{size}.pt")


@pytest.mark.parametrize("field,value", [("mean", 1e30), ("std", 1e-30), ("std", 1e9), ("mean", float("nan")),
                                         ("arch", 5), ("input_size", 1e999), ("input_size", 16.5),
                                         ("input_size", True)])
def test_normalisation_and_field_types_are_checked(tmp_path, field, value):
    path = _save(tmp_path, "meta", meta_changes={field: value})
    with pytest.raises(CheckpointError, match="meta.pt is damaged"):
        load_checkpoint(path)


def test_the_builtin_model_passes_every_check():
    _, meta = load_checkpoint(paths.default_weights_path())
    assert meta.input_size == 28


# ------------------------------------------------------------------------------- item 8


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
def test_nan_or_infinite_weights_are_refused_in_one_sentence(tmp_path, run_cli, bad):
    path = _save(tmp_path, "nan", state_changes={"fc2.bias": lambda t: t.fill_(bad)})
    with pytest.raises(CheckpointError, match=r"nan\.pt holds weights that are not numbers \(NaN or infinity in fc2\.bias\)"):
        load_model(path)
    result = run_cli("predict", "--json", "--weights", path, _image())
    result.assert_one_error_line("not numbers")
    assert result.out == ""
    assert run_cli("evaluate", "--weights", path).code == 2


def test_a_bare_notebook_state_dict_with_nan_is_refused_too(tmp_path):
    state = build_model("seed_cnn").state_dict()
    state["conv1.weight"][0, 0, 0, 0] = float("nan")
    path = tmp_path / "nb.pth"
    torch.save(state, path)
    with pytest.raises(CheckpointError, match="not numbers"):
        load_checkpoint(path)


# ------------------------------------------------------------------------------- item 11 (complex)


@pytest.mark.parametrize("dtype", [torch.complex64, torch.int32, torch.bool])
def test_non_real_weights_are_refused_without_stray_warnings(tmp_path, run_cli, dtype):
    path = _save(tmp_path, "cplx", state_changes={"conv1.weight": lambda t: t.to(dtype)})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(CheckpointError, match=r"cplx\.pt stores conv1\.weight as \w+ values"):
            load_model(path)
    result = run_cli("predict", "--weights", path, _image())
    result.assert_one_error_line("real floating-point numbers")


def test_half_precision_weights_still_load(tmp_path):
    path = _save(tmp_path, "half", state_changes={k: (lambda t: t.half()) for k in ("conv1.weight", "fc2.bias")})
    model, _ = load_model(path)
    assert model(torch.zeros(1, 1, 16, 16)).shape == (1, 10)


def test_metadata_nested_too_deeply_is_refused_without_recursion(tmp_path):
    deep: list = []
    cur = deep
    for _ in range(100):
        nxt: list = []
        cur.append(nxt)
        cur = nxt
    path = _save(tmp_path, "deep", meta_changes={"notes": deep})
    with pytest.raises(CheckpointError, match="nested more than 32 levels deep"):
        load_checkpoint(path)
    shallow = _save(tmp_path, "shallow", meta_changes={"notes": json.loads(json.dumps({"a": [[[1]]]}))})
    assert load_checkpoint(shallow)[1].extra["notes"] == {"a": [[[1]]]}
