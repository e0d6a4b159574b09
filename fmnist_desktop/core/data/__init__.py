"""Data sets: Fashion-MNIST sources and IDX reading (`fashion_mnist`), labelled photo folders
and label files with their prepared-photo cache (`labelled_photos`).

Public names below load on first use (`base.lazy`).
"""

from ..base.lazy import lazy_exports

_EXPORTS = {
    "load_dataset": "fashion_mnist",
    "load_test_split": "fashion_mnist",
    "load_photo_training_set": "labelled_photos",
}


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
