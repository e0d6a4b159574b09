"""Fine-tune with my photos, photo model (issue 20): the head alone retrains on a handful of the
user's photos, starting from the base model; the calibrated "not sure" threshold is inherited and
said so; a before/after figure only when enough photos were kept out. Since issue 25 item 3 it runs
without torch (embeddings from the model's ONNX twin, a numpy head, the new model written as its
parent's file with a new head): torch here only makes the models and checks what was written. No Qt."""

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
    path = save_checkpoint(tmp_path / "tuned.pt", run.model, run.meta)  # written without torch
    tuned, _ = load_model(path)  # and loaded by the full app

    assert _answers(tuned, unseen) == [TROUSER] * 3 + [SNEAKER] * 3  # photos it never saw
    meta = run.meta
    assert meta.arch == PHOTO_ARCH and meta.training["kind"] == "finetune"
    assert meta.metrics["not_sure_threshold"] == 0.42
    assert meta.metrics["threshold_inherited_from"] == "Shop photo model"
    assert "held_out_photos" not in meta.metrics  # the base model's held-out figures are not this model's
    assert meta.training["init_checkpoint"] == str(sneaker_model)
    # Only the head changed: the backbone is the base model's, weight for weight.
    assert all(torch.equal(a, b) for a, b in zip(base.backbone.state_dict().values(),
                                                 tuned.backbone.state_dict().values()))
    # It saves and loads back as a photo model with the inherited threshold.
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
                        progress=lambda done, total, what: seen.append((done, total, what)))
    mine = [s for s in seen if s[2] == "your photos"]
    assert mine[-1] == (12, 12, "your photos")  # 4 photos × (clean + 2 augmented views)
    assert seen[-1] == (3, 3, "the measuring photos")  # the tests' three real photos, clean views


# ------------------------------------------------------------------------------------------------
# Issue 26 item 1 and issue 24 item 4: embeddings kept once, measured before it is offered


def test_embeddings_are_stored_when_photos_are_kept_and_a_fine_tune_does_not_run_the_backbone_again(
        tmp_path, sneaker_model, monkeypatch):
    from fmnist_desktop.core.jobs.photo_finetune import store_kept_embeddings
    from fmnist_desktop.core.predict.photo_twin import TwinBackbone
    from fmnist_desktop.core.store import user_photos

    for photo in _photos(tmp_path / "w", 2):
        user_photos.add_example(photo.path, photo.label)
    kept = user_photos.list_examples()
    calls = []
    features = TwinBackbone.features  # the model's ONNX twin runs the backbone
    monkeypatch.setattr(TwinBackbone, "features", lambda self, x: (calls.append(len(x)), features(self, x))[1])

    assert store_kept_embeddings(sneaker_model, kept) == 4  # kept: each photo's views through the backbone once
    assert sum(calls) == 12
    stored = list((user_photos.paths.user_photos_dir() / user_photos.EMBEDDINGS_FOLDER).rglob("*.npy"))
    assert sorted(p.stem for p in stored) == sorted(e.digest for e in kept)
    assert store_kept_embeddings(sneaker_model, kept) == 0 and sum(calls) == 12  # kept again: nothing to do

    calls.clear()
    measuring = ("shipped", "no photos", [])
    run = finetune_photo_head(sneaker_model, kept, steps=30, measuring=measuring)
    assert calls == [] and run.finetune_report.computed == 0  # the fine-tune cost only the head's steps

    user_photos.delete(kept[0])  # a deleted photo's embeddings go with it
    assert not any(p.stem == kept[0].digest for p in
                   (user_photos.paths.user_photos_dir() / user_photos.EMBEDDINGS_FOLDER).rglob("*.npy"))


def test_a_fine_tune_that_names_fewer_measuring_photos_right_is_saved_but_not_made_active(
        tmp_path, sneaker_model, monkeypatch):
    from fmnist_desktop.core.jobs import photo_train
    from fmnist_desktop.core.jobs.state import PlainState
    from fmnist_desktop.core.store.library import ModelLibrary

    real = tmp_path / "real" / "7_Sneaker"  # the measuring photos: three sneakers the parent names right
    real.mkdir(parents=True)
    for k in range(3):
        _draw(real / f"sneaker_{k}.png", SNEAKER, 900 + k)
    monkeypatch.setenv("FMNIST_DESKTOP_REAL_PHOTOS", str(real.parent))
    library = ModelLibrary()
    parent = library.add(*load_model(sneaker_model))
    library.set_active(parent.id)
    # "Corrections" that teach it to call sneakers trousers: the new head names the sneakers wrong.
    wrong = [Photo(p.path, TROUSER) for p in _photos(tmp_path / "mine", 3) if p.label == SNEAKER]

    outcome = photo_train.finetune(photo_train.PhotoFinetuneInputs(parent.path, wrong, library, make_active=True),
                                   PlainState())

    report = outcome.finetune_report
    new, old = report.measured
    assert old.right == 3 and new.right < 3 and report.worse
    assert report.comparison.worse and f"names {new.right} of the 3 real photos shipped with the app right" in \
        report.comparison.question()
    assert report.comparison.active_path == str(parent.path)
    assert f"on the 3 real photos shipped with the app it names {new.right} right, fewer than its parent (3)" in \
        report.lines()
    assert outcome.entry is not None and outcome.entry.kind == "photo"  # saved, beside its parent
    assert library.active("photo").id == parent.id  # the parent stays the active photo model


def test_the_new_head_is_measured_against_its_parent_and_is_no_more_confident(tmp_path, sneaker_model):
    measuring = ("shipped", "the 4 drawn photos", [(p.path, p.label) for p in _photos(tmp_path / "m", 2, seed=3)])
    rng = np.random.default_rng(0)
    replay = tmp_path / "photo-replay.npz"
    np.savez(replay, features=rng.normal(size=(44, 1280)).astype(np.float16), labels=np.arange(44) % 11)

    run = finetune_photo_head(sneaker_model, _photos(tmp_path / "x", 4), replay=replay, measuring=measuring)

    report = run.finetune_report
    new, old = report.measured
    assert old.right == 2 and new.total == old.total == 4  # the parent names the 2 sneakers right
    assert report.learned == report.n_trained == 8
    assert report.confidence is not None and report.confidence[0] <= report.confidence[1] + 0.01
    assert run.meta.metrics["finetune"]["parent_measured_right"] == 2
    assert run.meta.training["steps"] <= run.meta.training["max_steps"]


def test_a_model_with_imagenets_opinion_is_measured_as_it_answers(tmp_path, sneaker_model):
    """The stored embeddings and ImageNet's stored opinion give the photo model's own answer
    (issue 28's opinion is mixed into it), so the figures before the offer are the Models page's."""
    from fmnist_desktop.core.jobs.photo_finetune import SimpleExample, answers, measuring_store, photo_embeddings
    from fmnist_desktop.core.jobs.twins import ensure_twin
    from fmnist_desktop.core.learn.head_finetune import LinearHead
    from fmnist_desktop.core.photo import load_image
    from fmnist_desktop.core.photo.model_input import letterbox, to_unit_tensor
    from fmnist_desktop.core.predict.photo_twin import open_photo_model

    net, meta = load_model(sneaker_model)
    net.attach_imagenet_opinion(13).eval()
    path = save_checkpoint(tmp_path / "opinion.pt", net, meta)
    model = open_photo_model(path, ensure_twin)  # read without torch; its twin gives ImageNet's opinion
    photos = _photos(tmp_path / "o", 1)
    got = photo_embeddings(model.backbone, [SimpleExample(p.path, p.label) for p in photos],
                           measuring_store(model.backbone), 0)
    assert got.imagenet is not None and got.imagenet.shape == (2, 1000)
    with torch.inference_mode():
        expected = net(to_unit_tensor([letterbox(load_image(p.path, max_side=448), 224) for p in photos])).exp()
    head = LinearHead.of(model.weight, model.bias)
    assert np.allclose(answers(model, head, got.features[:, 0], got.imagenet), expected.numpy(), atol=1e-3)


# ------------------------------------------------------------------------------------------------
# Issue 26 item 7: the fine-tune's phases and the head's steps, as the Train page shows them


def test_the_fine_tune_task_names_its_phases_moves_one_bar_and_reports_each_head_step(monkeypatch):
    from fmnist_desktop.core.jobs import photo_finetune, photo_train
    from fmnist_desktop.core.jobs.state import PlainState

    def fake_finetune(base, photos, replay=None, stop=None, progress=None, base_name=None, on_step=None,
                      find_twin=None):
        progress(12, 24, "your photos")
        progress(5, 5, "your kept-out photos")
        on_step(10, 150, 0.9, 50.0)
        on_step(20, 150, 0.5, 75.0)
        progress(40, 80, "the measuring photos")
        return None  # as when stopped: nothing is saved

    monkeypatch.setattr(photo_finetune, "finetune_photo_head", fake_finetune)
    reports = []
    state = PlainState(on_progress=lambda *report: reports.append(report))
    photos = [Photo(Path(f"{k}.png"), SNEAKER, kept_out=k >= 8) for k in range(13)]  # 5 kept out: measured
    assert photo_train.finetune(photo_train.PhotoFinetuneInputs("base.pt", photos, library=None), state) is None

    messages = [r[1] for r in reports]
    assert messages[1] == "Step 1 of 4: reading your photos, 12 of 24 views"
    assert messages[2] == "Step 2 of 4: reading your kept-out photos, 5 of 5 views"
    assert messages[4] == "Step 3 of 4: training the head, step 20 of at most 150"
    assert messages[5].startswith("Step 4 of 4: measuring it against its parent on the measuring photos, 40 of 80")
    fractions = [r[0] for r in reports]
    assert fractions == sorted(fractions) and 0.0 <= fractions[0] and fractions[-1] < 1.0  # one bar, forwards
    assert (reports[4][2], reports[4][3]) == (20, 150)  # each phase counts its own work (its own ETA)
    assert [(s.step, s.loss, s.accuracy) for s in state.partial_results] == [(10, 0.9, 50.0), (20, 0.5, 75.0)]
