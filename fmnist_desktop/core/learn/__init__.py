"""Learning: the training loop (`training`), metrics on the test split (`evaluation`),
augmentation (`transforms`, `realworld_aug`), the one batched inference loop (`inference`) and
the calibration of "not sure" thresholds (`calibration`).

Public names below load on first use (`base.lazy`).
"""

from ..base.lazy import lazy_exports

_EXPORTS = {
    "BatchEnd": "training",
    "Cancelled": "training",
    "EpochEnd": "training",
    "Failed": "training",
    "Finished": "training",
    "Started": "training",
    "TrainConfig": "training",
    "format_epoch_line": "training",
    "iter_training": "training",
    "resolve_device": "training",
    "evaluate": "evaluation",
}


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
