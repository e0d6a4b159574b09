"""Fine-tuning the photo model's head on the user's photos, in seconds (as Teachable Machine does).

The backbone stays frozen, so each kept photo's embeddings (a clean view and `AUGMENTED_VIEWS`
augmented ones, core.data.photo_embeddings) are computed once, when it is kept
(`store_kept_embeddings`) or by the first fine-tune that needs them, and stored beside the photos
(core.store.user_photos, keyed by backbone and input recipe): a fine-tune then costs only the
head's steps. The head retrains from the parent's by `core.learn.head_finetune` (L2-SP towards the
parent, the replay set outweighing a few photos, class-balanced batches, few steps, no more
confident than the parent). The replay set is an .npz of `features` (N, 1280) float16 and `labels`
(N,) int64, 0..9 and 10 = none, made from the parent's own training images.

Before the new model is offered it is measured against its parent on the measuring photos (the
user's kept-out photos once there are enough, else the 80 real photos shipped with the app:
`core.predict.photo_score.measuring_photos`, the Models page's "Real photos" column) from their
embeddings, cached the same way: `run.comparison` is the `core.jobs.model_comparison.Comparison`
the Train page asks with before it would make a worse model active (No is the default).

The photos kept out by user_photos (one in five, by hash) are never trained on; when there are at
least `MIN_KEPT_OUT_TO_MEASURE` of them the run reports the accuracy on them before and after,
otherwise it claims no figure. The "not sure" threshold follows the rule of every fine-tune
(`core.learn.calibration.finetuned_thresholds`): recalibrated on the kept-out photos when there are
enough of them, else the parent's, and the metadata says which.

No Qt here: the GUI runs `finetune_photo_head` in a task, a CLI could call it directly.
"""

from __future__ import annotations

import copy
import dataclasses
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch

from ..base.errors import FmnistError, ImageLoadError
from ..learn.head_finetune import HeadRecipe, StepReport, mean_confidence, train_head
from ..models.photo_net import INPUT_SIZE, NUM_OUTPUTS, PHOTO_ARCH, PhotoNet
from ..store.checkpoint import CheckpointMeta, load_model
from .runs import KIND_FINETUNE, FinishedRun

AUGMENTED_VIEWS = 2  # besides the clean view of each photo
RECIPE = HeadRecipe()
MIN_KEPT_OUT_TO_MEASURE = 5  # fewer kept-out photos than this make no honest before/after figure
MEASURING_CACHE = "photo-embeddings"  # under the app's cache: the measuring photos' embeddings

Progress = Callable[[int, int, str], None]  # (views done, views to do, what is being read)


@dataclass(frozen=True)
class PhotoFinetuneReport:
    """What a fine-tune did, and how the new head compares with its parent."""

    n_trained: int
    n_kept_out: int
    before_user: float | None  # accuracy (0..1) on the user's kept-out photos; None: too few to say
    after_user: float | None
    elapsed_s: float
    threshold_inherited_from: str | None  # None: recalibrated on the kept-out photos
    learned: int = 0  # of the n_trained photos, how many the new head names right
    steps: int = 0
    measured: tuple[Any, Any] = (None, None)  # photo_score.PhotoScore: (new model, parent)
    confidence: tuple[float, float] | None = None  # mean top probability on them: (new model, parent)
    computed: int = 0  # photos that went through the backbone in this run (the others were stored)
    comparison: Any = None  # core.jobs.model_comparison.Comparison with the parent, made from `measured`

    @property
    def worse(self) -> bool:
        """It names fewer of the measuring photos right than its parent."""
        new, old = self.measured
        return new is not None and old is not None and new.right < old.right

    def lines(self) -> list[str]:
        """The run in a few lines; its "not sure" threshold is said from the model's metadata
        (the Train page's `describe_threshold`), as for a fine-tuned 28×28 network."""
        out = [f"Trained the photo model's head on {self.n_trained} of your photos in {self.elapsed_s:.1f} s",
               f"it names {self.learned} of the {self.n_trained} right after {self.steps} steps"]
        new, old = self.measured
        if new is not None and old is not None:
            verdict = "worse than" if self.worse else ("better than" if new.right > old.right else "as good as")
            out.append(f"{new.description.capitalize()}: {new.right} right, {verdict} its parent's {old.right}")
        if self.confidence is not None:
            out.append(f"Mean confidence on them: {100 * self.confidence[0]:.1f}% "
                       f"(its parent: {100 * self.confidence[1]:.1f}%)")
        if self.before_user is not None and self.after_user is not None:
            out.append(f"Your kept-out photos ({self.n_kept_out}): {100 * self.before_user:.1f}% -> "
                       f"{100 * self.after_user:.1f}%")
        else:
            out.append(f"Your kept-out photos: {self.n_kept_out}, too few to measure the change "
                       f"(at least {MIN_KEPT_OUT_TO_MEASURE} are needed; one photo in five is kept out)")
        return out


def load_replay(path: str | os.PathLike[str]) -> tuple[np.ndarray, np.ndarray]:
    """(features (N, 1280) float32, labels (N,) int64) from a replay .npz; FmnistError if unusable."""
    name = Path(path).name
    try:
        with np.load(path, allow_pickle=False) as data:
            features, labels = np.asarray(data["features"], np.float32), np.asarray(data["labels"], np.int64)
    except FileNotFoundError:
        raise FmnistError(f"The replay set {name} is missing.") from None
    except (OSError, ValueError, KeyError) as exc:
        raise FmnistError(f"The replay set {name} cannot be read ({type(exc).__name__}): it needs "
                          "'features' and 'labels' arrays.") from None
    if features.ndim != 2 or len(features) != len(labels):
        raise FmnistError(f"The replay set {name} has {features.shape} features for {labels.shape} labels.")
    if len(labels) and (labels.min() < 0 or labels.max() >= NUM_OUTPUTS):
        raise FmnistError(f"The replay set {name} has labels outside 0..{NUM_OUTPUTS - 1}.")
    return features, labels


def _with_digests(photos: Sequence) -> tuple[list, list[tuple[Path, str]], list[str]]:
    """(photos, (path, content hash) of each, errors): a stored photo's hash is its name; a photo
    that cannot be read is left out and named."""
    from ..data.photo_embeddings import content_digest

    kept, pairs, errors = [], [], []
    for photo in photos:
        digest = getattr(photo, "digest", None)
        try:
            pairs.append((Path(photo.path), digest or content_digest(photo.path)))
            kept.append(photo)
        except OSError as exc:
            errors.append(f"{Path(photo.path).name}: {exc.strerror or exc}")
    return kept, pairs, errors


def photo_embeddings(net: PhotoNet, photos: Sequence, store, n_augmented: int,
                     progress: Callable[[int, int], None] | None = None, stop=None):
    """(embeddings (M, views, 1280), labels (M,), errors, photos computed) of the readable photos,
    each read from `store` or computed once and stored there; None when stopped."""
    from ..data.photo_embeddings import embed_photos

    kept, pairs, errors = _with_digests(photos)
    got = embed_photos(net, pairs, store, INPUT_SIZE, n_augmented, progress=progress, stop=stop)
    if got is None:
        return None
    labels = np.asarray([int(p.label) for p, ok in zip(kept, got.ok) if ok], np.int64)
    return got.features, labels, errors + got.errors, got.computed


def kept_photos_store(net: PhotoNet, n_augmented: int = AUGMENTED_VIEWS, root=None):
    """Where the kept photos' embeddings by this backbone and input recipe are stored."""
    from ..data.photo_embeddings import embedding_key
    from ..store.user_photos import embedding_store

    return embedding_store(embedding_key(net, INPUT_SIZE, 1 + n_augmented), root)


def measuring_store(net: PhotoNet):
    """Where the measuring photos' clean-view embeddings by this backbone are cached."""
    from ..base.paths import app_data_dir
    from ..data.photo_embeddings import EmbeddingStore, embedding_key

    return EmbeddingStore(app_data_dir() / "cache" / MEASURING_CACHE / embedding_key(net, INPUT_SIZE, 1))


def store_kept_embeddings(model_path: str | os.PathLike[str], examples: Sequence, stop=None) -> int:
    """When photos are kept: store their embeddings by the photo model at `model_path` (a task,
    never the GUI thread). Returns how many went through the backbone (0: all were stored)."""
    net, _meta = load_model(model_path)
    if not isinstance(net, PhotoNet):
        return 0
    got = photo_embeddings(net, examples, kept_photos_store(net), AUGMENTED_VIEWS, stop=stop)
    return 0 if got is None else got[3]


def _right(head: torch.nn.Linear, x: np.ndarray, labels: np.ndarray) -> tuple[int, np.ndarray]:
    """(photos named right, softmax over all outputs): right is the best of the ten classes, as
    `Predictor` names a photo."""
    with torch.inference_mode():
        logits = head(torch.from_numpy(np.ascontiguousarray(x, np.float32)))
    right = int((logits[:, :10].argmax(1).numpy() == labels).sum()) if len(labels) else 0
    return right, torch.softmax(logits, 1).numpy()


def measure_against_parent(net: PhotoNet, head, parent, measuring=None, progress=None, stop=None):
    """((new PhotoScore, parent's), (new mean confidence, parent's)) on the measuring photos
    (`measuring`: (source, description, [(path, class)]); default `photo_score.measuring_photos()`),
    from their cached embeddings; ((None, None), None) when there are none. None when stopped."""
    from ..predict.photo_score import PhotoScore, measuring_photos

    _source, description, items = measuring if measuring is not None else measuring_photos()
    photos = [SimpleExample(Path(p), int(label)) for p, label in items]
    got = photo_embeddings(net, photos, measuring_store(net), 0, progress=progress, stop=stop)
    if got is None:
        return None
    x, labels = got[0][:, 0] if len(got[1]) else got[0].reshape(0, net.head.in_features), got[1]
    if not len(labels):
        return (None, None), None
    if len(labels) != len(items):
        description = description.replace(f"the {len(items)} ", f"the {len(labels)} readable ", 1)
    scores = [PhotoScore(_right(h, x, labels)[0], len(labels), description) for h in (head, parent)]
    return (scores[0], scores[1]), (mean_confidence(head, x), mean_confidence(parent, x))


@dataclass(frozen=True)
class SimpleExample:
    """A photo and its class, for photos that are not kept photos (the measuring photos)."""

    path: Path
    label: int


def _split(photos: Sequence) -> tuple[list, list]:
    """(photos to train on, kept-out photos) among those with a label the photo model has."""
    photos = [p for p in photos if 0 <= int(p.label) < NUM_OUTPUTS]
    train = [p for p in photos if not getattr(p, "kept_out", False)]
    kept = [p for p in photos if getattr(p, "kept_out", False)]
    if not train:
        raise FmnistError("There are no photos to fine-tune on yet.",
                          hint="Confirm or correct a few predictions on the Predict page first.")
    return train, kept


def _phase(progress: Progress | None, what: str) -> Callable[[int, int], None] | None:
    return (lambda done, total: progress(done, total, what)) if progress is not None else None


def finetune_photo_head(
    base_checkpoint_path: str | os.PathLike[str],
    user_photos: Sequence,  # core.store.user_photos.Example (path, label, kept_out[, digest])
    replay: str | os.PathLike[str] | None = None,
    steps: int | None = None,
    stop=None,
    progress: Progress | None = None,
    *,
    augmented_views: int = AUGMENTED_VIEWS,
    seed: int = 0,
    name: str | None = None,
    base_name: str | None = None,
    recipe: HeadRecipe = RECIPE,
    measuring=None,
    embeddings_root=None,
    on_step: StepReport | None = None,
) -> FinishedRun | None:
    """The base photo model with its head retrained on the user's photos and measured against it
    (see the module docstring); None when `stop` (anything with `is_set()`) was set. Raises
    FmnistError when the base is not a photo model or no photo can be trained on. `steps`: at most
    this many head steps (default the recipe's). `base_name`: the base model's name as the library
    lists it (default: its metadata's). `measuring`: (source, description, [(path, class)]),
    default `photo_score.measuring_photos()`. `embeddings_root`: the kept photos' folder.
    `on_step(done, max_steps, loss, accuracy %)`: the head's training as it goes (a live curve)."""
    t0 = time.monotonic()
    base, base_meta = load_model(base_checkpoint_path)
    if not isinstance(base, PhotoNet):
        raise FmnistError(f"{Path(base_checkpoint_path).name} is not a photo model; its head cannot be fine-tuned here.")
    train, kept = _split(user_photos)
    recipe = recipe if steps is None else dataclasses.replace(recipe, max_steps=steps)
    replay_x, replay_y = load_replay(replay) if replay is not None else (None, None)
    store = kept_photos_store(base, augmented_views, embeddings_root)
    got = photo_embeddings(base, train, store, augmented_views, _phase(progress, "your photos"), stop)
    if got is None:
        return None
    train_x, train_y, errors, computed = got
    if len(train_y) == 0:
        raise FmnistError("None of your saved photos can be read any more. " + "; ".join(errors[:2]))
    kept_x = kept_y = None
    if len(kept) >= MIN_KEPT_OUT_TO_MEASURE:
        got = photo_embeddings(base, kept, store, augmented_views, _phase(progress, "your kept-out photos"), stop)
        if got is None:
            return None
        if len(got[1]) >= MIN_KEPT_OUT_TO_MEASURE:
            kept_x, kept_y, computed = got[0][:, 0], got[1], computed + got[3]
    trained = train_head(base.head, train_x, train_y, replay_x, replay_y, recipe, seed, stop, on_step)
    if trained is None:
        return None
    compared = measure_against_parent(base, trained.head, base.head.float(), measuring,
                                      _phase(progress, "the measuring photos"), stop)
    if compared is None:
        return None
    facts = dict(train_x=train_x, train_y=train_y, kept_x=kept_x, kept_y=kept_y, kept=kept, errors=errors,
                 computed=computed, compared=compared, replay=replay, replay_y=replay_y, t0=t0)
    return _finished(base, base_meta, base_checkpoint_path, base_name, name, trained, recipe, facts)


def _finished(base, base_meta, base_path, base_name, name, trained, recipe, facts) -> FinishedRun:
    """The new model, its metadata, its report and its comparison with the parent."""
    from ..learn.calibration import finetuned_thresholds
    from .model_comparison import photo_comparison
    from .runs import finetuned_name

    head, parent = trained.head, base.head.float()
    kept_x, kept_y, train_y = facts["kept_x"], facts["kept_y"], facts["train_y"]
    measured_kept = kept_x is not None
    before_user = _right(parent, kept_x, kept_y)[0] / len(kept_y) if measured_kept else None
    after_right, kept_probs = _right(head, kept_x, kept_y) if measured_kept else (0, None)
    after_user = after_right / len(kept_y) if measured_kept else None
    base_name = base_name or base_meta.name
    thresholds = finetuned_thresholds(base_name, base_meta.metrics, kept_probs, kept_y)
    model = copy.deepcopy(base)
    model.head.load_state_dict(head.state_dict())
    model.eval()
    (new_score, old_score), confidence = facts["compared"]
    n = int(len(train_y))
    elapsed = time.monotonic() - facts["t0"]
    finetune = {"n_photos": n, "n_kept_out": len(facts["kept"]), "before_photos": before_user,
                "after_photos": after_user, "measured_right": None if new_score is None else new_score.right,
                "parent_measured_right": None if old_score is None else old_score.right,
                "measured_on": None if new_score is None else new_score.description}
    training = {"kind": KIND_FINETUNE, "method": "head only, frozen backbone, L2-SP towards the parent head",
                "init_checkpoint": str(base_path), "steps": trained.steps, "max_steps": recipe.max_steps,
                "batch_size": recipe.batch_size, "lr": recipe.lr, "pull_to_parent": recipe.pull_to_parent,
                "user_share": round(trained.user_share, 4), "label_smoothing": recipe.label_smoothing,
                "temperature": round(trained.temperature, 4), "views": int(facts["train_x"].shape[1]),
                "n_train": n, "n_replay": 0 if facts["replay_y"] is None else int(len(facts["replay_y"])),
                "replay": None if facts["replay"] is None else str(facts["replay"]), "elapsed_s": round(elapsed, 2),
                "device": "cpu", "augment": "photo views", "skipped_photos": facts["errors"]}
    meta = CheckpointMeta(
        name=name or finetuned_name(base_name, f" – {n} photo{'s' if n != 1 else ''}"),
        preset=base_meta.preset, arch=PHOTO_ARCH, input_size=INPUT_SIZE, mean=0.0, std=1.0,
        class_names=list(base_meta.class_names), metrics={**thresholds, "finetune": finetune}, training=training,
        history=[],
    )
    run = FinishedRun(model=model, meta=meta)
    run.finetune_report = PhotoFinetuneReport(
        n_trained=n, n_kept_out=len(facts["kept"]), before_user=before_user, after_user=after_user,
        elapsed_s=elapsed, threshold_inherited_from=thresholds.get("threshold_inherited_from"),
        learned=_right(head, facts["train_x"][:, 0], train_y)[0], steps=trained.steps,
        measured=(new_score, old_score), confidence=confidence, computed=facts["computed"],
        comparison=photo_comparison(meta.name, base_name, str(base_path), new_score, old_score))
    return run


REPLAY_FILE = "weights/photo-replay.npz"


def default_replay_path() -> Path | None:
    """The replay set shipped next to the photo model (features of its own training images), if any."""
    from ..base.paths import bundled_path

    path = bundled_path(REPLAY_FILE)
    return path if path.is_file() else None


def photos_the_photo_model_answers(examples: Sequence) -> list:
    """The stored photos that the photo model answers (core.predict routes Fashion-MNIST-style
    images, small grey light-on-black, to the 28×28 network instead). Only small images are
    decoded: anything larger than a Fashion-MNIST-style image is a photo by its size alone."""
    from ..base.formats import open_listed_image
    from ..photo import load_image
    from ..photo.model_input import FASHION_MNIST_MAX_SIDE, is_fashion_mnist_style

    out = []
    for example in examples:
        try:
            with open_listed_image(example.path) as img:
                small = max(img.size) <= FASHION_MNIST_MAX_SIDE
            if not small or not is_fashion_mnist_style(load_image(example.path)):
                out.append(example)
        except (OSError, ValueError, ImageLoadError):
            continue  # unreadable: the fine-tune names it if it is ever used
    return out
