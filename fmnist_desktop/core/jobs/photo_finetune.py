"""Fine-tuning the photo model's head on the user's photos, in seconds (as Teachable Machine does),
without torch: the lite edition, which has none, runs this same path (`finetune_photo_head`).

The backbone stays frozen, so each kept photo's embeddings (a clean view and `AUGMENTED_VIEWS`
augmented ones, core.data.photo_embeddings) are computed once, when it is kept
(`store_kept_embeddings`) or by the first fine-tune that needs them, and stored beside the photos
(core.store.user_photos, keyed by backbone and input recipe): a fine-tune then costs only the
head's steps. The embeddings come from the model's ONNX twin (its `features` output, and
`imagenet` for ImageNet's opinion: core.predict.photo_twin); the model file is read without torch
(core.store.pt_file), the head trains in numpy, and the new model is the parent's file with the new
head (`store.pt_file.HeadOnParent`, written as a .pt that the full app loads like any other). The head retrains from the parent's by `core.learn.head_finetune` (L2-SP towards the
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

No Qt here and no torch (the contract `finetune-without-torch` in pyproject.toml): the GUI runs
`finetune_photo_head` in a task, a CLI or the lite edition can call it directly.
"""

from __future__ import annotations

import dataclasses
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from ..base.errors import FmnistError, ImageLoadError
from ..base.labels import NONE_INDEX
from ..learn.head_finetune import HeadRecipe, LinearHead, StepReport, train_head
from ..predict.photo_twin import NotAPhotoModel, PhotoModelFile, open_photo_model
from ..store.meta import CheckpointMeta
from ..store.pt_file import HeadOnParent
from .run_record import KIND_FINETUNE, FinishedRun

AUGMENTED_VIEWS = 2  # besides the clean view of each photo
RECIPE = HeadRecipe()
MIN_KEPT_OUT_TO_MEASURE = 5  # fewer kept-out photos than this make no honest before/after figure
MEASURING_CACHE = "photo-embeddings"  # under the app's cache: the measuring photos' embeddings
NUM_OUTPUTS = NONE_INDEX + 1  # the photo model's ten classes and "none of these"

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
               f"it names {self.learned} of them right after {self.steps} steps"]
        new, old = self.measured
        if new is not None and old is not None:
            verdict = "fewer than" if self.worse else ("more than" if new.right > old.right else "as many as")
            out.append(f"on {new.description} it names {new.right} right, {verdict} its parent ({old.right})")
        if self.confidence is not None:
            out.append(f"its mean confidence there is {100 * self.confidence[0]:.1f} % "
                       f"(its parent's {100 * self.confidence[1]:.1f} %)")
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


@dataclass(frozen=True)
class PhotoStores:
    """Where a model's embeddings of photos are kept, and ImageNet's opinion of their clean view
    (None: the model has no ImageNet opinion, core.models.imagenet_opinion)."""

    features: Any  # core.data.photo_embeddings.EmbeddingStore
    imagenet: Any = None


@dataclass(frozen=True)
class PhotoEmbeddings:
    features: np.ndarray  # (M readable photos, views, 1280)
    labels: np.ndarray  # (M,)
    errors: list
    computed: int  # photos that went through the backbone (the others were stored)
    imagenet: np.ndarray | None  # (M, 1000): ImageNet's probabilities of the clean views, or None


def photo_embeddings(backbone, photos: Sequence, stores: PhotoStores, n_augmented: int,
                     progress: Callable[[int, int], None] | None = None, stop=None,
                     input_size: int = 224) -> PhotoEmbeddings | None:
    """The readable photos' embeddings (and ImageNet's opinion of them when the model has one),
    each read from `stores` or computed once by `backbone` (core.predict.photo_twin.TwinBackbone,
    or a torch model wrapped by data.torch_backbone) and stored there; None when stopped."""
    from ..data.photo_embeddings import embed_photos, imagenet_opinions

    kept, pairs, errors = _with_digests(photos)
    got = embed_photos(backbone, pairs, stores.features, input_size, n_augmented, progress=progress, stop=stop)
    if got is None:
        return None
    readable = [pair for pair, ok in zip(pairs, got.ok) if ok]
    imagenet = None
    if stores.imagenet is not None:
        imagenet = imagenet_opinions(backbone, readable, stores.imagenet, input_size, stop)
        if imagenet is None:
            return None
    labels = np.asarray([int(p.label) for p, ok in zip(kept, got.ok) if ok], np.int64)
    return PhotoEmbeddings(got.features, labels, errors + got.errors, got.computed, imagenet)


def _stores(backbone, n_augmented: int, store_for: Callable[[str], Any], input_size: int) -> PhotoStores:
    from ..data.photo_embeddings import embedding_key, opinion_key

    imagenet = opinion_key(backbone, input_size)
    return PhotoStores(store_for(embedding_key(backbone, input_size, 1 + n_augmented)),
                       None if imagenet is None else dataclasses.replace(store_for(imagenet), dtype="float32"))


def kept_photos_store(backbone, n_augmented: int = AUGMENTED_VIEWS, root=None, input_size: int = 224) -> PhotoStores:
    """Where the kept photos' embeddings by this backbone and input recipe are stored."""
    from ..store.user_photos import embedding_store

    return _stores(backbone, n_augmented, lambda key: embedding_store(key, root), input_size)


def measuring_store(backbone, input_size: int = 224) -> PhotoStores:
    """Where the measuring photos' clean-view embeddings by this backbone are cached."""
    from ..base.paths import app_data_dir
    from ..data.photo_embeddings import EmbeddingStore

    return _stores(backbone, 0, lambda key: EmbeddingStore(app_data_dir() / "cache" / MEASURING_CACHE / key),
                   input_size)


def _open(model_path, find_twin=None) -> PhotoModelFile:
    """The photo model file with its ONNX twin (made first when it is missing or stale: that, and
    only that, needs torch; the lite edition passes a `find_twin` that never makes one)."""
    if find_twin is None:
        from .twins import ensure_twin as find_twin
    return open_photo_model(model_path, find_twin)


def store_kept_embeddings(model_path: str | os.PathLike[str], examples: Sequence, stop=None, find_twin=None) -> int:
    """When photos are kept: store their embeddings by the photo model at `model_path` (a task,
    never the GUI thread). Returns how many went through the backbone (0: all were stored)."""
    try:
        model = _open(model_path, find_twin)
    except NotAPhotoModel:
        return 0
    size = model.meta.input_size
    got = photo_embeddings(model.backbone, examples, kept_photos_store(model.backbone, AUGMENTED_VIEWS, None, size),
                           AUGMENTED_VIEWS, stop=stop, input_size=size)
    return 0 if got is None else got.computed


def answers(model: PhotoModelFile, head: LinearHead, x: np.ndarray, imagenet: np.ndarray | None) -> np.ndarray:
    """The probabilities (N, 11) the photo model with `head` gives photos with embeddings `x`
    (N, 1280): its head's softmax, with ImageNet's opinion mixed in as its forward pass does
    when it has one (`imagenet`: the photos' ImageNet probabilities)."""
    return model.probabilities(head.weight, head.bias, x, imagenet)


def named_right(probs: np.ndarray, labels: np.ndarray) -> int:
    """As `Predictor` answers: a garment is named by the best of the ten classes; a "none of the
    ten" photo is right when "none" wins."""
    labels = np.asarray(labels)
    named = np.where(labels == NONE_INDEX, probs.argmax(1), probs[:, :10].argmax(1))
    return int((named == labels).sum())


def measure_against_parent(model: PhotoModelFile, head: LinearHead, parent: LinearHead, measuring=None,
                           progress=None, stop=None):
    """((new PhotoScore, parent's), (new mean confidence, parent's)) on the measuring photos
    (`measuring`: (source, description, [(path, class)]); default `photo_score.measuring_photos()`),
    from their cached embeddings; ((None, None), None) when there are none. None when stopped."""
    from ..predict.photo_score import PhotoScore, measuring_photos

    _source, description, items = measuring if measuring is not None else measuring_photos()
    photos = [SimpleExample(Path(p), int(label)) for p, label in items]
    size = model.meta.input_size
    got = photo_embeddings(model.backbone, photos, measuring_store(model.backbone, size), 0, progress=progress,
                           stop=stop, input_size=size)
    if got is None:
        return None
    if not len(got.labels):
        return (None, None), None
    if len(got.labels) != len(items):
        description = description.replace(f"the {len(items)} ", f"the {len(got.labels)} readable ", 1)
    probs = [answers(model, h, got.features[:, 0], got.imagenet) for h in (head, parent)]
    scores = [PhotoScore(named_right(p, got.labels), len(got.labels), description) for p in probs]
    return (scores[0], scores[1]), (float(probs[0].max(1).mean()), float(probs[1].max(1).mean()))


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
    find_twin=None,
) -> FinishedRun | None:
    """The base photo model with its head retrained on the user's photos and measured against it
    (see the module docstring); None when `stop` (anything with `is_set()`) was set. Raises
    FmnistError when the base is not a photo model or no photo can be trained on. `steps`: at most
    this many head steps (default the recipe's). `base_name`: the base model's name as the library
    lists it (default: its metadata's). `measuring`: (source, description, [(path, class)]),
    default `photo_score.measuring_photos()`. `embeddings_root`: the kept photos' folder.
    `on_step(done, max_steps, loss, accuracy %)`: the head's training as it goes (a live curve).
    `find_twin(path)`: the model file's valid ONNX twin (default `jobs.twins.ensure_twin`, which
    makes one with torch when it is missing). The run's model is a `store.pt_file.HeadOnParent`."""
    t0 = time.monotonic()
    base = _open(base_checkpoint_path, find_twin)
    train, kept = _split(user_photos)
    recipe = recipe if steps is None else dataclasses.replace(recipe, max_steps=steps)
    replay_x, replay_y = load_replay(replay) if replay is not None else (None, None)
    size = base.meta.input_size
    stores = kept_photos_store(base.backbone, augmented_views, embeddings_root, size)
    mine = photo_embeddings(base.backbone, train, stores, augmented_views, _phase(progress, "your photos"), stop, size)
    if mine is None:
        return None
    if len(mine.labels) == 0:
        raise FmnistError("None of your saved photos can be read any more. " + "; ".join(mine.errors[:2]))
    kept_out = None
    if len(kept) >= MIN_KEPT_OUT_TO_MEASURE:
        kept_out = photo_embeddings(base.backbone, kept, stores, augmented_views,
                                    _phase(progress, "your kept-out photos"), stop, size)
        if kept_out is None:
            return None
        if len(kept_out.labels) < MIN_KEPT_OUT_TO_MEASURE:
            kept_out = None
    parent = LinearHead.of(base.weight, base.bias)
    trained = train_head(parent, mine.features, mine.labels, replay_x, replay_y, recipe, seed, stop, on_step)
    if trained is None:
        return None
    compared = measure_against_parent(base, trained.head, parent, measuring, _phase(progress, "the measuring photos"),
                                      stop)
    if compared is None:
        return None
    facts = dict(mine=mine, kept_out=kept_out, kept=kept, compared=compared, replay=replay, replay_y=replay_y, t0=t0)
    return _finished(base, base_checkpoint_path, base_name, name, trained, recipe, facts)


def _finished(base: PhotoModelFile, base_path, base_name, name, trained, recipe, facts) -> FinishedRun:
    """The new model, its metadata, its report and its comparison with the parent."""
    from ..learn.calibration import finetuned_thresholds
    from .model_comparison import photo_comparison
    from .run_record import finetuned_name

    base_meta = base.meta
    head, parent = trained.head, LinearHead.of(base.weight, base.bias)
    mine, kept_out = facts["mine"], facts["kept_out"]
    train_y, kept_y, kept_probs = mine.labels, None, None
    before_user = after_user = None
    if kept_out is not None:
        kept_y, clean = kept_out.labels, kept_out.features[:, 0]
        kept_probs = answers(base, head, clean, kept_out.imagenet)
        before_user = named_right(answers(base, parent, clean, kept_out.imagenet), kept_y) / len(kept_y)
        after_user = named_right(kept_probs, kept_y) / len(kept_y)
    base_name = base_name or base_meta.name
    thresholds = finetuned_thresholds(base_name, base_meta.metrics, kept_probs, kept_y)
    model = HeadOnParent(base.state, head.weight, head.bias, after_write=_twin_maker(base, head))
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
                "temperature": round(trained.temperature, 4), "views": int(mine.features.shape[1]),
                "n_train": n, "n_replay": 0 if facts["replay_y"] is None else int(len(facts["replay_y"])),
                "replay": None if facts["replay"] is None else str(facts["replay"]), "elapsed_s": round(elapsed, 2),
                "device": "cpu", "augment": "photo views", "skipped_photos": mine.errors}
    meta = CheckpointMeta(
        name=name or finetuned_name(base_name, f" – {n} photo{'s' if n != 1 else ''}"),
        preset=base_meta.preset, arch=base_meta.arch, input_size=base_meta.input_size, mean=0.0, std=1.0,
        class_names=list(base_meta.class_names), metrics={**thresholds, "finetune": finetune}, training=training,
        history=[],
    )
    run = FinishedRun(model=model, meta=meta)
    run.finetune_report = PhotoFinetuneReport(
        n_trained=n, n_kept_out=len(facts["kept"]), before_user=before_user, after_user=after_user,
        elapsed_s=elapsed, threshold_inherited_from=thresholds.get("threshold_inherited_from"),
        learned=named_right(answers(base, head, mine.features[:, 0], mine.imagenet), train_y), steps=trained.steps,
        measured=(new_score, old_score), confidence=confidence,
        computed=mine.computed + (kept_out.computed if kept_out is not None else 0),
        comparison=photo_comparison(meta.name, base_name, str(base_path), new_score, old_score))
    return run


def _twin_maker(base: PhotoModelFile, head: LinearHead) -> Callable[[Path, CheckpointMeta], None]:
    """What makes the new model's ONNX twin once its file is written: the parent's twin with the
    new head (core.predict.head_twin), in a second, without torch. When that fails the twin is
    made on first use, as for any model; the save itself never fails for it."""

    def make(path: Path, meta: CheckpointMeta) -> None:
        import logging

        from ..predict.head_twin import derive_head_twin

        try:
            derive_head_twin(path, meta, base.backbone.twin, head.weight, head.bias,
                             lambda features, imagenet: answers(base, head, features, imagenet))
        except (FmnistError, OSError, ImportError) as exc:
            logging.getLogger(__name__).warning("No ONNX twin made from the parent's for %s: %s", path.name, exc)

    return make


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
