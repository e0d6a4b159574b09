"""Data sets: Fashion-MNIST sources and IDX reading (`fashion_mnist`), labelled photo folders
and label files with their prepared-photo cache (`labelled_photos`).

The names the GUI, the CLI and the server use are importable from this package too; they load on
first use, so importing one submodule does not load the others (and torch-free parts stay so).
"""

from importlib import import_module

_EXPORTS = {
    "load_dataset": "fashion_mnist",
    "load_test_split": "fashion_mnist",
    "load_photo_training_set": "labelled_photos",
}


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"{__name__}.{module}"), name)


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
