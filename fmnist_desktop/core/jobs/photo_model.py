"""Training a photo model, start to finish (the GUI's Train page, `fmnist train --kind photo`):

1. the images: labelled real photos (a labels file or a labelled folder, split by sender as in
   core.data.labelled_photos) and a class-balanced sample of Fashion-MNIST (as it is and
   inverted), for bags and ankle boots, which the photos lack;
2. their backbone activations up to the first trained block, cached (core.data.photo_features);
3. training the last blocks and the head (core.learn.photo_training);
4. ImageNet's frozen opinion attached (core.models.imagenet_opinion), then the "not sure"
   threshold calibrated on the held-out senders' photos (core.learn.calibration);
5. a FinishedRun with the same metadata fields as a 28×28 run, saved by core.jobs.runs.save_run.

No Qt here.
"""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np

from ..base.errors import FmnistError
from ..base.formats import count_noun
from ..base.labels import CLASS_NAMES
from ..data.labelled_photos import LabelledPhoto, read_labels, read_photo_folder, split_by_sender
from ..data.photo_features import NONE_CLASS, PhotoItem, build_activations, cache_dir
from ..learn.calibration import calibrate_photo, started_from_parent
from ..learn.photo_config import check_photo_config
from ..learn.photo_training import Finished, PhotoTrainConfig, _Trainable, iter_photo_training, probabilities_from
from ..models.photo_net import INPUT_SIZE, PHOTO_ARCH, PhotoNet, pretrained_weights_path
from ..store.checkpoint import CheckpointMeta, load_model
from ..store.library import shipped_name
from .runs import FinishedRun


@dataclass(frozen=True)
class Preparing:
    """Images being run through the frozen backbone (cached for the next run)."""

    what: str
    done: int
    total: int


@dataclass(frozen=True)
class PhotoRunDone:
    run: FinishedRun
    calibration: dict


def photo_items(photos: Sequence[LabelledPhoto], root: Path) -> list[PhotoItem]:
    return [PhotoItem(label=NONE_CLASS if p.label < 0 else p.label, path=str(root / p.file)) for p in photos]


def fashion_mnist_items(labels: np.ndarray, per_class: int, seed: int) -> list[PhotoItem]:
    rs = np.random.RandomState(seed)
    out = []
    for c in range(len(CLASS_NAMES)):
        where = np.where(labels == c)[0]
        for i in rs.choice(where, min(per_class, len(where)), replace=False):
            out.append(PhotoItem(label=c, fashion_mnist_index=int(i)))
    return out


def load_labelled_photos(labels_or_folder: str | Path, root: str | Path | None = None) -> tuple[list[LabelledPhoto], Path]:
    """A labels CSV (with `root`, default its folder) or a folder of class subfolders."""
    src = Path(labels_or_folder)
    if src.is_dir():
        return read_photo_folder(src), src
    return read_labels(src, root), Path(root) if root is not None else src.parent


def _weights_id(path: Path) -> str:
    stat = path.stat()
    return hashlib.sha256(f"{path.name}:{stat.st_size}:{stat.st_mtime_ns}".encode()).hexdigest()[:12]


def iter_photo_run(
    config: PhotoTrainConfig,
    photos: str | Path,
    photo_root: str | Path | None,
    fashion_mnist,  # core.data.fashion_mnist.FashionMNIST (its train split is sampled)
    init: str | Path | None = None,
    name: str | None = None,
    stop: threading.Event | None = None,
    cache_folder: Path | None = None,
) -> Iterator[Any]:
    """Preparing…, the training events, then PhotoRunDone (or the Cancelled/Failed event)."""
    check_photo_config(config)  # before a photo or the backbone is loaded
    labelled, root = load_labelled_photos(photos, photo_root)
    train_photos, val_photos = split_by_sender(labelled)
    if not train_photos:
        raise FmnistError(f"{photos}: no photos left to train on after holding out senders.")
    fm_images = fashion_mnist.train.images.numpy() if fashion_mnist is not None else None
    fm_labels = fashion_mnist.train.labels.numpy() if fashion_mnist is not None else np.zeros(0, np.int64)
    train_items = photo_items(train_photos, root) + fashion_mnist_items(fm_labels, config.fashion_mnist_per_class, config.seed)
    val_items = photo_items(val_photos, root)

    if init is not None:
        net, init_meta = load_model(init)
        if not isinstance(net, PhotoNet):
            raise FmnistError(f"{Path(init).name} is not a photo model; fine-tune a photo model with --kind photo.")
        weights_id = "init:" + _weights_id(Path(init))
        backbone = net.backbone
    else:
        net = PhotoNet.pretrained()
        weights_id = "imagenet:" + _weights_id(pretrained_weights_path())
        backbone = net.backbone
    backbone.eval()

    # build_activations reports through a callback; run it in a thread so progress streams out
    results: dict[str, Any] = {}
    for key, items, views, what in (("val", val_items, 1, "held-out photos"),
                                    ("train", train_items, config.views, "training images")):
        if not items:
            results[key] = None
            continue
        queue: list[Preparing] = []
        box: dict[str, Any] = {}

        def work(items=items, views=views, what=what):
            try:
                box["value"] = build_activations(
                    backbone, items, views, config.from_block, INPUT_SIZE, fm_images, weights_id, cache_folder,
                    seed=config.seed, progress=lambda d, t: queue.append(Preparing(what, d, t)), stop=stop)
            except BaseException as exc:  # noqa: BLE001 — re-raised below, on this thread
                box["error"] = exc

        thread = threading.Thread(target=work, name="photo-features", daemon=True)
        thread.start()
        sent = 0
        while thread.is_alive() or sent < len(queue):
            thread.join(0.25)
            if len(queue) > sent:
                yield queue[-1]
                sent = len(queue)
        if "error" in box:
            raise box["error"]
        if box.get("value") is None:
            return  # stopped while preparing
        results[key] = box["value"]

    finished = None
    resume = resume_file(cache_folder, config, weights_id, train_items, val_items)
    for event in iter_photo_training(config, net, results["train"], results["val"], stop, resume):
        if isinstance(event, Finished):
            finished = event
        else:
            yield event
    if finished is None:
        return
    # ImageNet's opinion branches off where training began: the blocks before it are ImageNet's.
    finished.model.attach_imagenet_opinion(config.from_block).eval()
    calibration = calibrate_on(finished.model, config.from_block, results["val"])
    if init is not None:  # too few held-out photos: the parent's threshold, as the GUI's fine-tune keeps it
        calibration = started_from_parent(calibration, shipped_name(init) or init_meta.name, init_meta.metrics)
    meta = photo_meta(finished, config, calibration, name=name, n_train=len(train_items),
                      n_val=len(val_items), photos=str(photos))
    yield PhotoRunDone(FinishedRun(model=finished.model, meta=meta), calibration)


def resume_file(cache_folder: Path | None, config: PhotoTrainConfig, weights_id: str,
                train_items: Sequence[PhotoItem], val_items: Sequence[PhotoItem]) -> Path:
    """Where a run writes its state after each epoch, named by everything that makes it this run
    (recipe, starting weights, images), so only the same command picks it up."""
    recipe = {k: v for k, v in config.summary().items() if k not in ("device", "title")}
    key = json.dumps([recipe, weights_id, [(i.label, i.path, i.fashion_mnist_index) for i in train_items],
                      [(i.label, i.path) for i in val_items]], sort_keys=True, default=str)
    folder = cache_folder if cache_folder is not None else cache_dir()
    return folder / f"photo-run-{hashlib.sha256(key.encode()).hexdigest()[:16]}.resume.pt"


def calibrate_on(net: PhotoNet, from_block: int, val) -> dict:
    if val is None:
        return {}
    probs = probabilities_from(_Trainable(net, from_block), val.activations, np.arange(val.n_items))
    return calibrate_photo(probs, val.labels)


def photo_meta(finished: Finished, config: PhotoTrainConfig, calibration: dict, *, name: str | None,
               n_train: int, n_val: int, photos: str) -> CheckpointMeta:
    held = calibration.get("held_out_photos", {})
    acc = held.get("accuracy")
    title = name or (f"{config.title} – {count_noun(len(finished.history), 'epoch')}"
                     + (f" – {100 * acc:.1f}% on held-out photos" if isinstance(acc, float) else ""))
    metrics = {k: v for k, v in calibration.items()}
    if finished.history:
        metrics["val_accuracy"] = finished.history[-1].val_acc
    return CheckpointMeta(
        name=title, preset=config.preset, arch=PHOTO_ARCH, input_size=INPUT_SIZE, mean=0.0, std=1.0,
        class_names=list(CLASS_NAMES), metrics=metrics,
        training={**config.summary(), "kind": "train", "device": finished.device,
                  "elapsed_s": round(finished.elapsed_s, 1), "n_train": n_train, "n_val": n_val,
                  "photos": photos, "augment": "none"},
        history=[e.to_dict() for e in finished.history],
    )
