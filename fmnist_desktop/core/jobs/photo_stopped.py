"""A stopped photo-model run: its best finished epoch, calibrated like a finished run.

`core.jobs.photo_model.iter_photo_run` ends a stopped run with the training loop's `Cancelled`,
whose `best` is the best finished epoch. That model still needs its "not sure" threshold before it
is worth saving: the held-out senders' activations are in the feature cache already (same images,
same frozen blocks), so calibrating it costs a moment. No Qt here.
"""

from __future__ import annotations

from pathlib import Path

from ..data.photo_features import build_activations
from ..data.labelled_photos import split_by_sender
from ..learn.photo_training import PhotoTrainConfig
from ..models.photo_net import INPUT_SIZE, pretrained_weights_path
from .photo_model import _weights_id, calibrate_on, load_labelled_photos, photo_items, photo_meta
from .runs import FinishedRun


def kept_after_stop(best, config: PhotoTrainConfig, photos, photo_root=None, cache_folder: Path | None = None,
                    n_train: int = 0) -> FinishedRun:
    """The best finished epoch of a stopped run (started from the ImageNet backbone) as a FinishedRun."""
    labelled, root = load_labelled_photos(photos, photo_root)
    _train, held_out = split_by_sender(labelled)
    val_items = photo_items(held_out, root)
    calibration = {}
    if val_items:
        val = build_activations(best.model.backbone, val_items, 1, config.from_block, INPUT_SIZE, None,
                                "imagenet:" + _weights_id(pretrained_weights_path()), cache_folder, seed=config.seed)
        calibration = calibrate_on(best.model, config.from_block, val) if val is not None else {}
    meta = photo_meta(best, config, calibration, name=None, n_train=n_train, n_val=len(val_items), photos=str(photos))
    meta.name += " (stopped early)"
    return FinishedRun(model=best.model, meta=meta)
