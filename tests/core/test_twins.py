"""ONNX twins (issue 25): every model answers through onnxruntime, with the answers torch gives.

A twin is made on first use, kept beside its model file, used again while the model file is the
same, and made again when it is missing, stale (the model changed) or damaged (a truncated .onnx
never answers). A model that cannot be exported is answered by torch, and the CLI says so in one
line. `fmnist predict` with the twins present never imports torch.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from fmnist_desktop.core.jobs import twins as twin_jobs
from fmnist_desktop.core.predict.predictor import Predictor
from fmnist_desktop.core.store import twins
from fmnist_desktop.core.store.checkpoint import load_model

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "resources" / "samples"
SAMPLE_FILES = sorted(SAMPLES.glob("photo_*.jpg")) + sorted(SAMPLES.glob("fashion-mnist_*.png"))


def torch_predictor(*paths: Path) -> Predictor:
    """The same models answered by torch (the reference the twins must match)."""
    loaded = [load_model(p) for p in paths]
    (model, meta), others = loaded[0], loaded[1:]
    return Predictor(model, meta, "cpu", others)


def assert_same_answers(got, want) -> None:
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert g.ok and w.ok, (g.error, w.error)
        assert (g.index, g.label, g.not_sure, g.out_of_scope, g.model_kind) == \
            (w.index, w.label, w.not_sure, w.out_of_scope, w.model_kind), g.name
        assert np.abs(np.array(g.probabilities) - np.array(w.probabilities)).max() <= 1e-5, g.name
        if w.none_probability is None:
            assert g.none_probability is None
        else:
            assert abs(g.none_probability - w.none_probability) <= 1e-5


@pytest.fixture(scope="module")
def random_head_photo_model(tmp_path_factory) -> Path:
    """A photo model whose head has random weights, so its answers depend on the whole network."""
    import torch

    from fmnist_desktop.core.models.photo_net import PHOTO_ARCH, PhotoNet
    from fmnist_desktop.core.store.checkpoint import CheckpointMeta, save_checkpoint

    torch.manual_seed(1)
    net = PhotoNet.pretrained().eval()
    with torch.no_grad():
        net.head.weight.normal_(0, 0.05)
    meta = CheckpointMeta(name="Random-head photo model", preset="photo-model", arch=PHOTO_ARCH, input_size=224,
                          mean=0.0, std=1.0, metrics={"not_sure_threshold": 0.4}, training={"augment": "none"})
    return save_checkpoint(tmp_path_factory.mktemp("photo") / "photo.pt", net, meta)


def test_a_twin_is_made_on_first_use_beside_the_model_and_then_reused(small_model, monkeypatch):
    assert twins.find_twin(small_model) is None
    predictor = twin_jobs.predictor_for([small_model])
    onnx_path, contract, manifest = twins.twin_files(small_model)
    assert onnx_path.parent == small_model.parent and onnx_path.is_file() and contract.is_file()
    assert json.loads(manifest.read_text())["source_sha256"] == twins.file_sha256(small_model)
    assert predictor.slots["fmnist"].engine.runtime == "onnxruntime"
    assert predictor.torch_notes == []

    def no_export(*_a, **_k):
        raise AssertionError("a valid twin was made again")

    monkeypatch.setattr(twin_jobs, "MAKE_IN_CHILD_PROCESS", False)  # the fake exporter lives in this process
    monkeypatch.setattr("fmnist_desktop.core.jobs.export.export_model", no_export)
    again = twin_jobs.predictor_for([small_model])
    assert again.slots["fmnist"].engine.runtime == "onnxruntime"


def test_a_stale_twin_is_made_again_and_answers_like_the_new_model(small_model):
    import torch

    from fmnist_desktop.core.store.checkpoint import save_checkpoint

    twin_jobs.predictor_for([small_model])
    model, meta = load_model(small_model)
    torch.manual_seed(5)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.1)
    save_checkpoint(small_model, model, meta)  # the same file, other weights (a fine-tune in place)
    assert twins.find_twin(small_model) is None  # stale: made from the old content
    got = twin_jobs.predictor_for([small_model]).predict_paths(SAMPLE_FILES)
    assert twins.find_twin(small_model) is not None
    assert_same_answers(got, torch_predictor(small_model).predict_paths(SAMPLE_FILES))


@pytest.mark.parametrize("damage", ["truncate", "flip", "delete-onnx", "garbage-manifest"])
def test_a_damaged_twin_never_answers_and_is_made_again(small_model, damage):
    twin_jobs.predictor_for([small_model])
    onnx_path, _contract, manifest = twins.twin_files(small_model)
    data = onnx_path.read_bytes()
    if damage == "truncate":
        onnx_path.write_bytes(data[: len(data) // 2])
    elif damage == "flip":
        onnx_path.write_bytes(data[:-100] + bytes(b ^ 0xFF for b in data[-100:]))
    elif damage == "delete-onnx":
        onnx_path.unlink()
    else:
        manifest.write_text("{not json")
    assert twins.find_twin(small_model) is None
    predictor = twin_jobs.predictor_for([small_model])
    assert predictor.slots["fmnist"].engine.runtime == "onnxruntime"
    assert onnx_path.read_bytes() == data  # made again, the same export
    assert_same_answers(predictor.predict_paths(SAMPLE_FILES), torch_predictor(small_model).predict_paths(SAMPLE_FILES))


def test_28x28_network_answers_equal_torch_within_1e_5(small_model, seed_model_file, tmp_path):
    seed = tmp_path / "seed.pt"
    seed.write_bytes(seed_model_file.read_bytes())  # 16×16 input: the resize is repeated in numpy
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (64, 28, 28), dtype=np.uint8)
    for path in (small_model, seed):
        onnx = twin_jobs.predictor_for([path])
        reference = torch_predictor(path)
        assert onnx.slots["fmnist"].engine.runtime == "onnxruntime"
        assert np.abs(onnx.probabilities(images) - reference.probabilities(images)).max() <= 1e-5
        assert_same_answers(onnx.predict_paths(SAMPLE_FILES), reference.predict_paths(SAMPLE_FILES))


def test_photo_model_and_routing_answer_equal_torch_within_1e_5(random_head_photo_model, small_model):
    files = [random_head_photo_model, small_model]
    onnx = twin_jobs.predictor_for(files)
    assert {slot.engine.runtime for slot in onnx.slots.values()} == {"onnxruntime"}
    got = onnx.predict_paths(SAMPLE_FILES)
    assert {p.model_kind for p in got} == {"photo", "fmnist"}  # both models answered
    assert_same_answers(got, torch_predictor(*files).predict_paths(SAMPLE_FILES))
    assert [p.model_name for p in got] == [p.model_name for p in torch_predictor(*files).predict_paths(SAMPLE_FILES)]


def test_a_batch_of_28x28_images_never_loads_the_photo_model(random_head_photo_model, small_model):
    predictor = twin_jobs.predictor_for([random_head_photo_model, small_model])
    predictor.predict_paths(sorted(SAMPLES.glob("fashion-mnist_*.png")))
    assert predictor.slots["photo"].engine._session is None
    assert predictor.slots["fmnist"].engine._session is not None


def test_a_model_that_cannot_be_exported_is_answered_by_torch_and_the_cli_says_so(small_model, monkeypatch, run_cli):
    from fmnist_desktop.core.jobs.export_formats import ExportError

    def refuse(*_a, **_k):
        raise ExportError("The exported onnx model does not answer like the original.")

    monkeypatch.setattr(twin_jobs, "MAKE_IN_CHILD_PROCESS", False)  # the fake exporter lives in this process
    monkeypatch.setattr("fmnist_desktop.core.jobs.export.export_model", refuse)
    result = run_cli("predict", "--weights", small_model, SAMPLES / "fashion-mnist_1_Trouser.png")
    assert result.code == 0
    notes = [line for line in result.err.splitlines() if "answered by torch" in line]
    assert notes == ["fmnist: note: Small test model is answered by torch: "
                     "The exported onnx model does not answer like the original."]
    assert "\t28×28" in result.out
    assert twins.find_twin(small_model) is None


def test_deleting_a_model_from_the_library_deletes_its_twin(small_model):
    from fmnist_desktop.core.store.library import ModelLibrary

    library = ModelLibrary()
    entry = library.import_file(small_model)
    twin_jobs.predictor_for([entry.path])
    assert all(p.exists() for p in twins.twin_files(entry.path))
    library.delete(entry.id)
    assert not any(p.exists() for p in twins.twin_files(entry.path))


def test_fmnist_predict_with_twins_present_never_imports_torch(random_head_photo_model, small_model, tmp_home,
                                                               monkeypatch):
    """The whole command, in a fresh interpreter: the library's models (a photo model and a 28×28
    network), a photo and a Fashion-MNIST image; torch and torchvision must never be imported."""
    from fmnist_desktop.core.store.library import ModelLibrary

    monkeypatch.setenv("FMNIST_DESKTOP_PHOTO_WEIGHTS", str(random_head_photo_model))  # the built-in photo model
    library = ModelLibrary()
    library.set_active(library.import_file(small_model).id)
    for entry in library.entries():  # every model's twin exists (the built-in 28×28 network's too)
        twin_jobs.ensure_twin(entry.path)
    env = {**os.environ, "FMNIST_DESKTOP_HOME": str(tmp_home), "PYTHONPATH": str(ROOT)}
    code = ("import sys\nfrom fmnist_desktop.cli import main\n"
            "code = main(['predict', '--jsonl', *sys.argv[1:]])\n"
            "print('TORCH-LOADED' if {'torch', 'torchvision'} & set(sys.modules) else 'NO-TORCH', file=sys.stderr)\n"
            "sys.exit(code)")
    photo, small = SAMPLES / "photo_1_Trouser.jpg", SAMPLES / "fashion-mnist_1_Trouser.png"
    result = subprocess.run([sys.executable, "-c", code, str(photo), str(small)], env=env, cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    answers = [json.loads(line) for line in result.stdout.splitlines()]
    assert [a["model"]["kind"] for a in answers] == ["photo", "fmnist"]
    assert "NO-TORCH" in result.stderr, result.stderr


def test_fmnist_evaluate_answers_through_the_twin_with_torchs_figures(small_model, tiny_idx_dir):
    from fmnist_desktop.core.jobs import evaluate as evaluate_job
    from fmnist_desktop.core.jobs.state import PlainState

    def run(use_twin: bool):
        inputs = evaluate_job.EvaluateInputs(small_model, tiny_idx_dir, use_twin=use_twin)
        return evaluate_job.run(inputs, PlainState())

    onnx, reference = run(True), run(False)
    assert onnx.model is None and reference.model is not None  # the twin answered, torch was not loaded for it
    assert twins.find_twin(small_model) is not None
    assert onnx.result.accuracy == reference.result.accuracy
    assert (onnx.result.confusion == reference.result.confusion).all()
    assert np.abs(onnx.result.probabilities - reference.result.probabilities).max() <= 1e-5
    assert abs(onnx.result.loss - reference.result.loss) <= 1e-5


def test_renaming_a_model_keeps_its_twin_and_answers_with_the_new_name(small_model, monkeypatch):
    from fmnist_desktop.core.store.library import ModelLibrary

    library = ModelLibrary()
    entry = library.import_file(small_model)
    twin_jobs.predictor_for([entry.path])
    library.rename(entry.id, "Renamed model")

    def no_export(*_a, **_k):
        raise AssertionError("the twin was made again after a rename")

    monkeypatch.setattr(twin_jobs, "MAKE_IN_CHILD_PROCESS", False)  # the fake exporter lives in this process
    monkeypatch.setattr("fmnist_desktop.core.jobs.export.export_model", no_export)
    predictor = twin_jobs.predictor_for([entry.path])
    assert predictor.slots["fmnist"].engine.runtime == "onnxruntime"
    assert predictor.predict_paths(SAMPLE_FILES[:1])[0].model_name == "Renamed model"


# ------------------------------------------------------------------------ with issues 27 and 28


def _write_twin_unchecked(model_path: Path) -> Path:
    """A twin of `model_path` written as the export writes one, but without the export's checks
    (a twin made by an app without the NaN probe, or forged): what onnxruntime's probe must catch."""
    from fmnist_desktop.core.jobs.export import _onnx_bytes, contract
    from fmnist_desktop.core.models.arch_info import kind_of_arch

    model, meta = _unprobed(model_path)
    onnx_path, _contract, _manifest = twin_jobs.twin_files_ready(model_path)
    onnx_path.write_bytes(_onnx_bytes(model.eval(), meta, contract(meta)))
    twins.write_manifest(model_path, twins.file_sha256(model_path), onnx_path, meta, kind_of_arch(meta.arch), {})
    return onnx_path


def _unprobed(model_path: Path):
    from fmnist_desktop.core.models.networks import build_model
    from fmnist_desktop.core.store import checkpoint

    state_dict, meta = checkpoint.load_checkpoint(model_path, probe=False)
    model = build_model(meta.arch)
    model.load_state_dict(state_dict, strict=True)
    return model.eval(), meta


def test_a_twin_whose_answers_are_not_numbers_is_refused_when_onnxruntime_loads_it(small_model, tmp_path):
    """Issue 27's load probe on the twin path: the torch probe runs before a twin is made, and a
    twin that answers NaN or infinity anyway is refused by the same probe run on onnxruntime (one
    line, CheckpointError), never a NaN in an answer."""
    from fmnist_desktop.core.base.errors import CheckpointError
    from fmnist_desktop.core.store.checkpoint import load_checkpoint, save_checkpoint

    state_dict, meta = load_checkpoint(small_model)
    huge = save_checkpoint(tmp_path / "huge.pt", {k: v * 1e38 if v.is_floating_point() else v
                                                  for k, v in state_dict.items()}, meta)
    with pytest.raises(CheckpointError, match="answers are not numbers"):  # no twin is made for it
        twin_jobs.predictor_for([huge])
    assert twins.find_twin(huge) is None
    _write_twin_unchecked(huge)
    assert twins.find_twin(huge) is not None  # the manifest vouches for it: only the probe can tell
    predictor = Predictor.from_checkpoints([huge])
    assert predictor.slots["fmnist"].engine.runtime == "onnxruntime"
    with pytest.raises(CheckpointError, match="huge.pt is refused: this model's answers are not numbers"):
        predictor.predict_paths([SAMPLES / "fashion-mnist_1_Trouser.png"])


def test_the_probe_input_is_the_same_for_both_engines(small_model, random_head_photo_model):
    from fmnist_desktop.core.store.answer_probe import probe_array
    from fmnist_desktop.core.store.weights_check import probe_input

    for path in (small_model, random_head_photo_model):
        _model, meta = load_model(path)
        assert np.array_equal(probe_input(meta).numpy(), probe_array(meta))


def test_the_photo_models_imagenet_opinion_is_inside_its_twin(tmp_path):
    """Issue 28: the twin is exported in eval mode, so ImageNet's opinion is part of its answers:
    the twin answers as torch does with the opinion, not as the head alone."""
    import torch

    from fmnist_desktop.core.models.photo_net import PHOTO_ARCH, PhotoNet
    from fmnist_desktop.core.store.checkpoint import CheckpointMeta, save_checkpoint

    torch.manual_seed(3)
    net = PhotoNet.pretrained()
    with torch.no_grad():
        net.head.weight.normal_(0, 0.05)
    net.attach_imagenet_opinion(13)
    meta = CheckpointMeta(name="Photo model with ImageNet's opinion", preset="photo-model", arch=PHOTO_ARCH,
                          input_size=224, mean=0.0, std=1.0, metrics={"not_sure_threshold": 0.4},
                          training={"augment": "none"})
    path = save_checkpoint(tmp_path / "opinion.pt", net, meta)
    photos = sorted(SAMPLES.glob("photo_*.jpg"))
    onnx = twin_jobs.predictor_for([path])
    assert onnx.slots["photo"].engine.runtime == "onnxruntime"
    reference = torch_predictor(path)
    assert reference.slots["photo"].model.opinion is not None and not reference.slots["photo"].model.training
    got = onnx.predict_paths(photos)
    assert_same_answers(got, reference.predict_paths(photos))
    reference.slots["photo"].model.opinion = None  # the head alone
    alone = reference.predict_paths(photos)
    assert max(np.abs(np.array(g.probabilities) - np.array(a.probabilities)).max() for g, a in zip(got, alone)) > 1e-3
