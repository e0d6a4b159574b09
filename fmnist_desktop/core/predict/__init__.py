"""Predicting: a model on photos. `predictor` (the Predictor: photo preparation in
`core.photo`, then the model, then the verdict, once), `photo_eval` (accuracy on a labelled photo
folder) and `photo_score` (the shipped model's score on the user's photos).

The names the GUI, the CLI and the server use are importable from this package too; they load on
first use, so importing one submodule does not load the others (and torch-free parts stay so).
"""

from importlib import import_module

_EXPORTS = {
    "Predictor": "predictor",
    "iter_image_paths": "predictor",
    "evaluate_photo_folder": "photo_eval",
    "class_list": "photo_score",
}


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"{__name__}.{module}"), name)


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
