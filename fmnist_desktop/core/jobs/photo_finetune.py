"""Fine-tuning the photo model's head on the user's own photos, in seconds (as Teachable Machine does).

The backbone stays frozen: each stored photo (core.store.user_photos) is run through it once as a
clean letterboxed view and `AUGMENTED_VIEWS` augmented ones (core.data.photo_features.augmented_view),
giving pooled 1280-d features (PhotoNet.features). Only the linear head trains, starting from the
base model's head: AdamW, class-balanced batches, and a pull towards the base head's weights (so a
handful of photos corrects it without it forgetting the classes the user has no photos of). An
optional replay set (an .npz of `features` (N, 1280) float16 and `labels` (N,) int64, 0..9 and
10 = none, made from the base model's own training images) is mixed into every batch for the same
reason.

The photos kept out by user_photos (one in five, by hash) are never trained on; when there are at
least `MIN_KEPT_OUT_TO_MEASURE` of them the run reports the accuracy on them before and after,
otherwise it claims no figure. The "not sure" threshold follows the rule of every fine-tune
(`core.learn.calibration.finetuned_thresholds`, as the 28×28 network's in `core.jobs.runs`):
recalibrated on the kept-out photos when there are enough of them, else the base model's, and the
metadata says which (`threshold_calibrated_on` or `threshold_inherited_from`).

No Qt here: the GUI runs `finetune_photo_head` in a task, a CLI could call it directly.
"""

from __future__ import annotations

import copy
import os
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from ..base.errors import FmnistError, ImageLoadError
from ..models.photo_net import INPUT_SIZE, NUM_OUTPUTS, PHOTO_ARCH, PhotoNet
from ..store.checkpoint import CheckpointMeta, load_model
from .runs import KIND_FINETUNE, FinishedRun

AUGMENTED_VIEWS = 2  # besides the clean view of each photo
STEPS = 300
BATCH_SIZE = 64
LR = 1e-3
PULL_TO_BASE = 1e-2  # weight of ||W - W_base||²: the head moves only as far as the photos need
MIN_KEPT_OUT_TO_MEASURE = 5  # fewer kept-out photos than this make no honest before/after figure
FEATURE_BATCH = 8  # the backbone is fastest on CPU in small batches (core.data.photo_features.BATCH)
DECODE_SIDE = 320  # as core.data.photo_features: views are cut from the photo decoded at this size
REPORT_EVERY = 10  # head steps between two reports of its loss (a live curve, not a cost)
StepReport = Callable[[int, int, float, float], None]  # (done, steps, loss, batch accuracy in %)


@dataclass(frozen=True)
class PhotoFinetuneReport:
    """Accuracy (0..1) on the user's kept-out photos before and after; None when too few to say."""

    n_trained: int
    n_kept_out: int
    before_user: float | None
    after_user: float | None
    elapsed_s: float
    threshold_inherited_from: str | None  # None: recalibrated on the kept-out photos

    def lines(self) -> list[str]:
        """The run in a few lines; its "not sure" threshold is said from the model's metadata
        (the Train page's `describe_threshold`), as for a fine-tuned 28×28 network."""
        out = [f"Trained the photo model's head on {self.n_trained} of your photos in {self.elapsed_s:.1f} s"]
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


def _views(path: Path, n_augmented: int, seed: int) -> list:
    """The clean letterboxed view of a photo, then `n_augmented` augmented ones."""
    from ..data.photo_features import augmented_view
    from ..photo import load_image
    from ..photo.model_input import flatten_alpha, letterbox

    img = flatten_alpha(load_image(path, max_side=DECODE_SIDE))
    rng = random.Random(seed)
    return [letterbox(img, INPUT_SIZE)] + [augmented_view(img, INPUT_SIZE, rng) for _ in range(n_augmented)]


def photo_features(net: PhotoNet, photos: Sequence, n_augmented: int, seed: int = 0,
                   progress: Callable[[int, int], None] | None = None, stop=None):
    """Pooled features of each photo's views: (features (M, views, 1280) float32, labels (M,),
    errors). A photo that cannot be read is skipped and named in `errors`. None when stopped."""
    from ..photo.model_input import to_unit_tensor

    views_per_photo = 1 + n_augmented
    rendered, labels, errors = [], [], []
    for i, photo in enumerate(photos):
        if stop is not None and stop.is_set():
            return None
        try:
            rendered.extend(_views(Path(photo.path), n_augmented, seed * 1_000_003 + i))
            labels.append(int(photo.label))
        except (ImageLoadError, FmnistError, OSError) as exc:
            errors.append(str(exc))
    feats = []
    net.eval()
    total = len(rendered)
    with torch.inference_mode():
        for k in range(0, total, FEATURE_BATCH):
            if stop is not None and stop.is_set():
                return None
            x = to_unit_tensor(rendered[k:k + FEATURE_BATCH]).contiguous(memory_format=torch.channels_last)
            feats.append(net.features(x).float())
            if progress is not None:
                progress(min(total, k + FEATURE_BATCH), total)
    if not feats:
        return np.zeros((0, views_per_photo, net.head.in_features), np.float32), np.zeros(0, np.int64), errors
    out = torch.cat(feats).numpy().reshape(len(labels), views_per_photo, -1)
    return out, np.asarray(labels, np.int64), errors


def _balanced_sampler(labels: np.ndarray, rng: np.random.Generator) -> Callable[[int], np.ndarray]:
    """Draw indices so that every class present is equally likely, whatever its count."""
    weights = np.zeros(len(labels), np.float64)
    for c in np.unique(labels):
        where = labels == c
        weights[where] = 1.0 / where.sum()
    weights /= weights.sum()
    return lambda n: rng.choice(len(labels), size=n, p=weights)


def _accuracy(head: torch.nn.Linear, features: np.ndarray, labels: np.ndarray) -> float:
    with torch.inference_mode():
        logits = head(torch.from_numpy(features))
    return float((logits.argmax(1).numpy() == labels).mean())


def _train_head(head, opt, steps, flat_x, flat_y, draw_user, replay_x, replay_y, draw_replay, base_w, base_b,
                stop, on_step: StepReport | None = None) -> bool:
    """`steps` AdamW steps on class-balanced batches (half replay when there is a replay set),
    pulled towards the base head; False when stopped. `on_step(done, steps, loss, accuracy %)`
    every `REPORT_EVERY` steps (the Train page's live curve)."""
    for step in range(steps):
        if stop is not None and stop.is_set():
            return False
        if draw_replay is not None:  # half the user's photos, half the replay set
            u, r = draw_user(BATCH_SIZE // 2), draw_replay(BATCH_SIZE - BATCH_SIZE // 2)
            x = torch.cat([flat_x[u], torch.from_numpy(replay_x[r])])
            y = torch.cat([flat_y[u], torch.from_numpy(replay_y[r])])
        else:
            u = draw_user(BATCH_SIZE)
            x, y = flat_x[u], flat_y[u]
        loss = F.cross_entropy(head(x), y)
        loss = loss + PULL_TO_BASE * ((head.weight - base_w).pow(2).sum() + (head.bias - base_b).pow(2).sum())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if on_step is not None and ((step + 1) % REPORT_EVERY == 0 or step + 1 == steps):
            with torch.no_grad():
                accuracy = 100.0 * float((head(x).argmax(1) == y).float().mean())
            on_step(step + 1, steps, float(loss.detach()), accuracy)
    return True


def finetune_photo_head(
    base_checkpoint_path: str | os.PathLike[str],
    user_photos: Sequence,  # core.store.user_photos.Example (path, label, kept_out)
    replay: str | os.PathLike[str] | None = None,
    steps: int = STEPS,
    stop=None,
    progress: Callable[[int, int], None] | None = None,
    *,
    augmented_views: int = AUGMENTED_VIEWS,
    seed: int = 0,
    name: str | None = None,
    base_name: str | None = None,
    on_step: StepReport | None = None,
) -> FinishedRun | None:
    """The base photo model with its head retrained on the user's photos (see the module
    docstring); None when `stop` (anything with `is_set()`) was set. Raises FmnistError when the
    base is not a photo model or no photo can be trained on. `base_name`: the base model's name as
    the library lists it (default: its metadata's), for the new model's name and threshold."""
    from ..learn.calibration import finetuned_thresholds
    from .runs import finetuned_name

    t0 = time.monotonic()
    base, base_meta = load_model(base_checkpoint_path)
    if not isinstance(base, PhotoNet):
        raise FmnistError(f"{Path(base_checkpoint_path).name} is not a photo model; its head cannot be fine-tuned here.")
    photos = [p for p in user_photos if 0 <= int(p.label) < NUM_OUTPUTS]
    train = [p for p in photos if not getattr(p, "kept_out", False)]
    kept = [p for p in photos if getattr(p, "kept_out", False)]
    if not train:
        raise FmnistError("There are no photos to fine-tune on yet.",
                          hint="Confirm or correct a few predictions on the Predict page first.")
    measure = len(kept) >= MIN_KEPT_OUT_TO_MEASURE
    replay_x, replay_y = load_replay(replay) if replay is not None else (None, None)

    # Each photo's views run through the frozen backbone once; the progress covers both sets.
    n_train_views = len(train) * (1 + augmented_views)
    total = n_train_views + (len(kept) if measure else 0)
    report = (lambda done, _t: progress(done, total)) if progress is not None else None
    got = photo_features(base, train, augmented_views, seed, report, stop)
    if got is None:
        return None
    train_x, train_y, errors = got
    if len(train_y) == 0:
        raise FmnistError("None of your saved photos can be read any more. " + "; ".join(errors[:2]))
    kept_x = kept_y = None
    if measure:
        later = (lambda done, _t: progress(n_train_views + done, total)) if progress is not None else None
        got = photo_features(base, kept, 0, seed, later, stop)
        if got is None:
            return None
        kept_x, kept_y = got[0][:, 0], got[1]
        measure = len(kept_y) >= MIN_KEPT_OUT_TO_MEASURE

    head = copy.deepcopy(base.head).float()
    base_w, base_b = head.weight.detach().clone(), head.bias.detach().clone()
    before_user = _accuracy(head, kept_x, kept_y) if measure else None

    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    flat_x = torch.from_numpy(train_x.reshape(-1, train_x.shape[-1]))
    flat_y = torch.from_numpy(np.repeat(train_y, train_x.shape[1]))
    draw_user = _balanced_sampler(flat_y.numpy(), rng)
    draw_replay = _balanced_sampler(replay_y, rng) if replay_y is not None and len(replay_y) else None
    opt = torch.optim.AdamW(head.parameters(), lr=LR, weight_decay=0.0)
    head.train()
    # A 64×1280 batch through one linear layer is too small to share between cores: on the shared
    # 2-core machine 300 steps took 7.0 s with 2 threads and 0.5 s with 1 (load average ~9.4).
    # torch's setting is per OS thread, so this changes nothing for the caller's other threads.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        if not _train_head(head, opt, steps, flat_x, flat_y, draw_user, replay_x, replay_y, draw_replay,
                           base_w, base_b, stop, on_step=on_step):
            return None
    finally:
        torch.set_num_threads(threads)
    head.eval()
    after_user = _accuracy(head, kept_x, kept_y) if measure else None
    kept_probs = None
    if measure:
        with torch.inference_mode():
            kept_probs = torch.softmax(head(torch.from_numpy(kept_x)), 1).numpy()
    base_name = base_name or base_meta.name
    thresholds = finetuned_thresholds(base_name, base_meta.metrics, kept_probs, kept_y)

    model = copy.deepcopy(base)
    model.head.load_state_dict(head.state_dict())
    model.eval()
    elapsed = time.monotonic() - t0
    finetune = {"n_photos": int(len(train_y)), "n_kept_out": len(kept),
                "before_photos": before_user, "after_photos": after_user}
    metrics = {**thresholds, "finetune": finetune}
    training = {"kind": KIND_FINETUNE, "method": "head only, frozen backbone", "init_checkpoint": str(base_checkpoint_path),
                "steps": steps, "batch_size": BATCH_SIZE, "lr": LR, "views": 1 + augmented_views,
                "n_train": int(len(train_y)), "n_replay": 0 if replay_y is None else int(len(replay_y)),
                "replay": None if replay is None else str(replay), "elapsed_s": round(elapsed, 2),
                "device": "cpu", "augment": "photo views", "skipped_photos": errors}
    meta = CheckpointMeta(
        name=name or finetuned_name(base_name, f" – {len(train_y)} photo{'s' if len(train_y) != 1 else ''}"),
        preset=base_meta.preset, arch=PHOTO_ARCH, input_size=INPUT_SIZE, mean=0.0, std=1.0,
        class_names=list(base_meta.class_names), metrics=metrics, training=training, history=[],
    )
    run = FinishedRun(model=model, meta=meta)
    run.finetune_report = PhotoFinetuneReport(n_trained=int(len(train_y)), n_kept_out=len(kept),
                                              before_user=before_user, after_user=after_user,
                                              elapsed_s=elapsed,
                                              threshold_inherited_from=thresholds.get("threshold_inherited_from"))
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
    from PIL import Image

    from ..photo import load_image
    from ..photo.model_input import FASHION_MNIST_MAX_SIDE, is_fashion_mnist_style

    out = []
    for example in examples:
        try:
            with Image.open(example.path) as img:
                small = max(img.size) <= FASHION_MNIST_MAX_SIDE
            if not small or not is_fashion_mnist_style(load_image(example.path)):
                out.append(example)
        except (OSError, ValueError, ImageLoadError):
            continue  # unreadable: the fine-tune names it if it is ever used
    return out
