"""Fine-tune with my photos without torch (issue 25 item 3): the photo model's head retrains on the
features its ONNX twin returns, in numpy, and the new model is written as a .pt file without torch.

With `import torch` failing (an import hook in a fresh process, as in the lite edition), the
fine-tune runs, measures the new head against its parent, keeps the parent's "not sure" threshold,
saves the model into the library and makes its ONNX twin from the parent's. The full app (torch)
then loads that file and answers as its twin does, within 1e-5. A twin made before twins fed the
fine-tune (no `features` output) is stale and made again.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "resources" / "samples"

HIDE_TORCH = '''
import importlib.abc, sys
class HideTorch(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("torch", "torchvision"):
            raise ImportError(f"{name} is hidden in this test (the lite edition has no torch)")
        return None
sys.meta_path.insert(0, HideTorch())
'''

FINETUNE = HIDE_TORCH + '''
import json
from dataclasses import dataclass
from pathlib import Path
from fmnist_desktop.core.jobs.photo_finetune import finetune_photo_head
from fmnist_desktop.core.jobs.run_record import save_head_run
from fmnist_desktop.core.store.library import ModelLibrary
from fmnist_desktop.core.store.twins import find_twin

@dataclass(frozen=True)
class Photo:
    path: Path
    label: int
    kept_out: bool = False

base, replay, folder = sys.argv[1:4]
photos = [Photo(p, int(p.stem.split("_")[0])) for p in sorted(Path(folder).glob("*.png"))]

def no_twin_making(path):  # the lite edition cannot export: the parent's twin must be there
    found = find_twin(path)
    assert found is not None, "the parent has no valid twin"
    return found

run = finetune_photo_head(base, photos, replay=replay, steps=60, find_twin=no_twin_making,
                          measuring=("shipped", "the drawn photos", [(p.path, p.label) for p in photos]))
entry = save_head_run(run, ModelLibrary(), make_active=True)
twin = find_twin(entry.path)

# The Train page's task does the same, and saves without torch too.
from fmnist_desktop.core.jobs import photo_train
from fmnist_desktop.core.jobs.state import PlainState
outcome = photo_train.finetune(photo_train.PhotoFinetuneInputs(base, photos, ModelLibrary(), replay, make_active=False),
                               PlainState())
assert outcome.entry is not None and outcome.entry.kind == "photo", outcome.save_error
print(json.dumps({"path": str(entry.path), "name": entry.name, "kind": entry.kind, "twin": twin is not None,
                  "threshold": run.meta.metrics.get("not_sure_threshold"),
                  "inherited": run.meta.metrics.get("threshold_inherited_from"),
                  "lines": run.finetune_report.lines(), "steps": run.meta.training["steps"],
                  "torch": "torch" in sys.modules}))
'''


def _draw(path: Path, label: int, seed: int) -> None:
    from PIL import Image, ImageDraw

    rng = np.random.default_rng(seed)
    img = Image.new("RGB", (96, 96), tuple(int(v) for v in rng.integers(150, 255, 3)))
    box = (36, 8, 60, 88) if label == 1 else (8, 40, 88, 62)  # tall trousers, wide sneakers
    ImageDraw.Draw(img).rectangle(box, fill=tuple(int(v) for v in rng.integers(0, 90, 3)))
    img.save(path)


@pytest.fixture(scope="module")
def photo_model_with_twin(tmp_path_factory) -> Path:
    """A photo model with ImageNet's opinion and a random head, and its ONNX twin (made with torch)."""
    import torch

    from fmnist_desktop.core.jobs.twins import ensure_twin
    from fmnist_desktop.core.models.photo_net import PHOTO_ARCH, PhotoNet
    from fmnist_desktop.core.store.checkpoint import CheckpointMeta, save_checkpoint

    torch.manual_seed(4)
    net = PhotoNet.pretrained()
    with torch.no_grad():
        net.head.weight.normal_(0, 0.05)
    net.attach_imagenet_opinion(13)
    meta = CheckpointMeta(name="Shop photo model", preset="photo-model", arch=PHOTO_ARCH, input_size=224, mean=0.0,
                          std=1.0, metrics={"not_sure_threshold": 0.42}, training={"augment": "none"})
    path = save_checkpoint(tmp_path_factory.mktemp("parent") / "photo.pt", net, meta)
    ensure_twin(path)
    return path


@pytest.fixture()
def builtin_twins():
    """The built-in 28×28 network's twin, as the lite edition ships it: the library lists it from there."""
    from fmnist_desktop.core.base import paths
    from fmnist_desktop.core.jobs.twins import ensure_twin

    ensure_twin(paths.default_weights_path())


def test_the_fine_tune_runs_with_torch_hidden_and_the_full_app_answers_as_its_twin(
        photo_model_with_twin, tmp_path, tmp_home, builtin_twins):
    folder = tmp_path / "mine"
    folder.mkdir()
    for k in range(8):
        label = 1 if k % 2 else 7
        _draw(folder / f"{label}_{k}.png", label, 50 + k)
    replay = tmp_path / "replay.npz"
    rng = np.random.default_rng(0)
    np.savez(replay, features=rng.normal(size=(44, 1280)).astype(np.float16), labels=np.arange(44) % 11)

    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", FINETUNE, str(photo_model_with_twin), str(replay), str(folder)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    got = json.loads(done.stdout.strip().splitlines()[-1])
    assert got["torch"] is False and got["kind"] == "photo" and got["twin"] is True
    assert got["threshold"] == 0.42 and got["inherited"] == "Shop photo model"  # the calibrated threshold is kept
    assert got["lines"][0].startswith("Trained the photo model's head on 8 of your photos")
    assert "its parent" in got["lines"][2]  # measured against its parent before it is offered

    # The full app loads the file written without torch, and answers as its twin does.
    from fmnist_desktop.core.jobs.twins import predictor_for
    from fmnist_desktop.core.predict.predictor import Predictor
    from fmnist_desktop.core.store.checkpoint import load_model
    from fmnist_desktop.core.store.twins import find_twin

    path = Path(got["path"])
    model, meta = load_model(path)
    assert meta.metrics["not_sure_threshold"] == 0.42 and model.opinion is not None
    files = sorted(SAMPLES.glob("photo_*.jpg")) + sorted(folder.glob("*.png"))
    twin = find_twin(path)
    onnx = predictor_for([path])
    assert onnx.slots["photo"].engine.twin.onnx_path == twin.onnx_path  # the twin made from the parent's
    answers, reference = onnx.predict_paths(files), Predictor(model, meta, "cpu").predict_paths(files)
    for a, r in zip(answers, reference):
        assert (a.index, a.not_sure, a.out_of_scope) == (r.index, r.not_sure, r.out_of_scope), a.name
        assert np.abs(np.array(a.probabilities) - np.array(r.probabilities)).max() <= 1e-5, a.name
        assert abs(a.none_probability - r.none_probability) <= 1e-5
    parent, _ = load_model(photo_model_with_twin)
    assert not np.allclose(model.head.weight.detach().numpy(), parent.head.weight.detach().numpy())


def test_a_photo_twin_without_the_features_output_is_stale_and_made_again(photo_model_with_twin, tmp_path):
    from fmnist_desktop.core.jobs.twins import ensure_twin
    from fmnist_desktop.core.store import twins

    source = tmp_path / "photo.pt"
    source.write_bytes(photo_model_with_twin.read_bytes())
    for made in twins.twin_files(photo_model_with_twin):
        target = twins.twin_files(source)[[*twins.twin_files(photo_model_with_twin)].index(made)]
        target.write_bytes(made.read_bytes())
    assert twins.find_twin(source) is not None
    manifest_path = twins.twin_files(source)[2]
    manifest = json.loads(manifest_path.read_text())
    assert manifest["outputs"] == ["logits", "features", "imagenet"]
    del manifest["outputs"]  # as twins were written before they fed the fine-tune
    manifest_path.write_text(json.dumps(manifest))
    assert twins.find_twin(source) is None
    assert "features" in ensure_twin(source).outputs  # made again, with its features


def test_the_twin_returns_the_features_the_head_sees(photo_model_with_twin):
    import torch

    from fmnist_desktop.core.photo import load_image
    from fmnist_desktop.core.photo.model_input import letterbox, to_unit_tensor
    from fmnist_desktop.core.predict.engines import onnx_session
    from fmnist_desktop.core.store.checkpoint import load_model
    from fmnist_desktop.core.store.twins import find_twin

    net, _meta = load_model(photo_model_with_twin)
    x = to_unit_tensor([letterbox(load_image(p), 224) for p in sorted(SAMPLES.glob("photo_*.jpg"))])
    session = onnx_session(find_twin(photo_model_with_twin).onnx_path)
    logits, features, imagenet = session.run(["logits", "features", "imagenet"], {"image": x.numpy()})
    with torch.inference_mode():
        want = net.features(x).numpy()
        answer = net(x).numpy()
        head = net.head(torch.from_numpy(features)).numpy()
    assert features.shape == (len(x), 1280) and imagenet.shape == (len(x), 1000)
    assert np.abs(features - want).max() <= 1e-4 * max(1.0, np.abs(want).max())
    assert np.abs(logits - answer).max() <= 1e-4  # the answer output is unchanged
    from fmnist_desktop.core.models.opinion_rule import OpinionRule
    from fmnist_desktop.core.store.pt_file import read_pt

    rule = OpinionRule.from_state(read_pt(photo_model_with_twin)[0])
    assert np.abs(rule.mix(head, imagenet) - np.exp(answer)).max() <= 1e-5  # head + opinion in numpy = the model


def test_a_model_file_reads_and_writes_without_torch_as_torch_does(photo_model_with_twin, tmp_path):
    import torch

    from fmnist_desktop.core.base.errors import CheckpointError
    from fmnist_desktop.core.store.checkpoint import load_checkpoint
    from fmnist_desktop.core.store.pt_file import OPINION_RULE_KEYS, read_pt, write_pt

    state, meta = read_pt(photo_model_with_twin)
    reference, _ = load_checkpoint(photo_model_with_twin)
    # The file leaves ImageNet's frozen opinion tensors out (format version 2): torch's loader fills
    # them in from the package; without torch they are not needed (the twin has the opinion, the
    # fine-tune only the rule's settings, which the file keeps).
    left_out = set(reference) - set(state)
    assert set(state) <= set(reference) and left_out
    assert all(k.startswith("opinion.") and k not in OPINION_RULE_KEYS for k in left_out)
    assert all(np.array_equal(state[k], reference[k].numpy()) for k in state)
    meta.name = "Written without torch"
    meta.format_version = 1  # as the metadata of a model first saved as version 1 says (the shipped photo.pt's)
    copy = write_pt(tmp_path / "copy.pt", state, meta)
    assert torch.load(copy, weights_only=True)["format_version"] == 2  # an older app must refuse it, not misload it
    again, again_meta = load_checkpoint(copy)  # torch's weights-only loader, and the app's checks
    assert again_meta.name == "Written without torch"
    assert all(torch.equal(again[k], reference[k]) and again[k].dtype == reference[k].dtype for k in reference)

    hostile = tmp_path / "hostile.pt"
    torch.save({"format": "fmnist-desktop", "state_dict": {}, "meta": {}, "x": print}, hostile)  # a global
    with pytest.raises(CheckpointError, match="hostile.pt"):
        read_pt(hostile)
