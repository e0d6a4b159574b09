"""Data sets: Fashion-MNIST sources and IDX reading (`fashion_mnist`), labelled photo folders
and label files with their prepared-photo cache (`labelled_photos`).

The names the GUI, the CLI and the server use are importable from this package too; they load on
first use, so importing one submodule does not load the others (and torch-free parts stay so).
"""

from ..base.lazy import lazy_exports

_EXPORTS = {
    "load_dataset": "fashion_mnist",
    "load_test_split": "fashion_mnist",
    "load_photo_training_set": "labelled_photos",
}


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
