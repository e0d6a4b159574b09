"""Fine-tune with my photos, photo model (issue 20): the head alone retrains on a handful of the
user's photos, starting from the base model; the calibrated "not sure" threshold is inherited and
said so; a before/after figure only when enough photos were kept out. No Qt."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from fmnist_desktop.core.base.errors import FmnistError
from fmnist_desktop.core.jobs.photo_finetune import finetune_photo_head
from fmnist_desktop.core.models.photo_net import PHOTO_ARCH, PhotoNet
from fmnist_desktop.core.store.checkpoint import CheckpointMeta, load_model, save_checkpoint

TROUSER, SNEAKER = 1, 7


@dataclass(frozen=True)
class Photo:
    """What core.store.user_photos.Example offers: a file, its class, kept out or not."""

    path: Path
    label: int
    kept_out: bool = False


def _draw(path: Path, label: int, seed: int) -> Path:
    rng = np.random.default_rng(seed)
    img = Image.new("RGB", (96, 96), tuple(int(v) for v in rng.integers(150, 255, 3)))
    box = (36, 8, 60, 88) if label == TROUSER else (8, 40, 88, 62)  # tall trousers, wide sneakers
    ImageDraw.Draw(img).rectangle(box, fill=tuple(int(v) for v in rng.integers(0, 90, 3)))
    img.save(path)
    return path


def _photos(folder: Path, n_per_class: int, kept_out: int = 0, seed: int = 0) -> list[Photo]:
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for label in (TROUSER, SNEAKER):
        for k in range(n_per_class):
            out.append(Photo(_draw(folder / f"{label}_{k}_{seed}.png", label, seed * 1000 + label * 100 + k), label,
                             kept_out=k < kept_out))
    return out


@pytest.fixture(scope="module")
def sneaker_model(tmp_path_factory) -> Path:
    """A photo model whose head calls everything a Sneaker, with a calibrated threshold."""
    torch.manual_seed(0)
    net = PhotoNet.pretrained().eval()
    with torch.no_grad():
        net.head.weight.zero_()
        net.head.bias.copy_(torch.tensor([0.0] * 7 + [4.0] + [0.0] * 3))
    meta = CheckpointMeta(name="Shop photo model", preset="photo-model", arch=PHOTO_ARCH, input_size=224, mean=0.0,
                          std=1.0, metrics={"not_sure_threshold": 0.42, "out_of_scope_threshold": None,
                                            "held_out_photos": {"accuracy": 0.9, "n": 100}},
                          training={"augment": "none"})
    path = tmp_path_factory.mktemp("base") / "photo.pt"
    save_checkpoint(path, net, meta)
    return path


def _answers(model, photos) -> list[int]:
    from fmnist_desktop.core.photo import load_image
    from fmnist_desktop.core.photo.model_input import letterbox, to_unit_tensor

    x = to_unit_tensor([letterbox(load_image(p.path), 224) for p in photos])
    with torch.inference_mode():
        return model(x).argmax(1).tolist()


def test_a_few_corrected_photos_teach_the_head_and_the_threshold_is_inherited(tmp_path, sneaker_model):
    photos = _photos(tmp_path / "mine", 6)
    unseen = _photos(tmp_path / "unseen", 3, seed=1)
    base, _ = load_model(sneaker_model)
    assert _answers(base, unseen) == [SNEAKER] * 6  # the base model calls the trousers sneakers too

    run = finetune_photo_head(sneaker_model, photos, steps=150)

    assert _answers(run.model, unseen) == [TROUSER] * 3 + [SNEAKER] * 3  # photos it never saw
    meta = run.meta
    assert meta.arch == PHOTO_ARCH and meta.training["kind"] == "finetune"
    assert meta.metrics["not_sure_threshold"] == 0.42
    assert meta.metrics["threshold_inherited_from"] == "Shop photo model"
    assert "held_out_photos" not in meta.metrics  # the base model's held-out figures are not this model's
    assert meta.training["init_checkpoint"] == str(sneaker_model)
    # Only the head changed: the backbone is the base model's, weight for weight.
    assert all(torch.equal(a, b) for a, b in zip(base.backbone.state_dict().values(),
                                                 run.model.backbone.state_dict().values()))
    # It saves and loads back as a photo model with the inherited threshold.
    path = save_checkpoint(tmp_path / "tuned.pt", run.model, meta)
    again, again_meta = load_model(path)
    assert isinstance(again, PhotoNet) and again_meta.metrics["not_sure_threshold"] == 0.42


def test_before_after_is_measured_on_kept_out_photos_only_when_there_are_enough(tmp_path, sneaker_model):
    enough = _photos(tmp_path / "a", 6, kept_out=3)  # 6 kept out: 3 trousers, 3 sneakers
    run = finetune_photo_head(sneaker_model, enough, steps=150)
    report = run.finetune_report
    assert report.n_trained == 6 and report.n_kept_out == 6
    assert report.before_user == pytest.approx(0.5) and report.after_user > report.before_user
    assert f"Your kept-out photos (6): 50.0% -> {100 * report.after_user:.1f}%" in report.lines()

    few = _photos(tmp_path / "b", 4, kept_out=1)  # 2 kept out: no figure is claimed
    report = finetune_photo_head(sneaker_model, few, steps=20).finetune_report
    assert report.before_user is None and report.after_user is None
    assert "too few to measure" in " ".join(report.lines())


def test_a_replay_set_is_mixed_in_and_a_broken_one_is_one_readable_error(tmp_path, sneaker_model):
    rng = np.random.default_rng(0)
    replay = tmp_path / "photo-replay.npz"
    np.savez(replay, features=rng.normal(size=(22, 1280)).astype(np.float16), labels=np.arange(22) % 11)
    run = finetune_photo_head(sneaker_model, _photos(tmp_path / "p", 2), replay=replay, steps=20)
    assert run.meta.training["n_replay"] == 22 and run.meta.training["replay"] == str(replay)

    broken = tmp_path / "broken.npz"
    np.savez(broken, features=np.zeros((3, 1280), np.float16))  # no labels
    with pytest.raises(FmnistError, match="broken.npz"):
        finetune_photo_head(sneaker_model, _photos(tmp_path / "q", 1), replay=broken, steps=5)


def test_stop_returns_nothing_and_a_28x28_model_or_no_photos_is_refused(tmp_path, sneaker_model):
    from fmnist_desktop.core.base import paths

    stop = threading.Event()
    stop.set()
    assert finetune_photo_head(sneaker_model, _photos(tmp_path / "s", 1), steps=5, stop=stop) is None
    with pytest.raises(FmnistError, match="not a photo model"):
        finetune_photo_head(paths.default_weights_path(), _photos(tmp_path / "t", 1), steps=5)
    only_kept = _photos(tmp_path / "u", 1, kept_out=1)
    with pytest.raises(FmnistError, match="no photos to fine-tune on"):
        finetune_photo_head(sneaker_model, only_kept, steps=5)


def test_progress_counts_every_view_through_the_backbone(tmp_path, sneaker_model):
    seen = []
    finetune_photo_head(sneaker_model, _photos(tmp_path / "v", 2), steps=5,
                        progress=lambda done, total: seen.append((done, total)))
    assert seen[-1] == (12, 12)  # 4 photos × (clean + 2 augmented views)
