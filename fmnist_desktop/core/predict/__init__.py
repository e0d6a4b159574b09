"""Predicting: a model on photos. `predictor` (the Predictor: photo preparation in
`core.photo`, then the model, then the verdict, once), `photo_eval` (accuracy on a labelled photo
folder) and `photo_score` (the shipped model's score on the user's photos).

The names the GUI, the CLI and the server use are importable from this package too; they load on
first use, so importing one submodule does not load the others (and torch-free parts stay so).
"""

from ..base.lazy import lazy_exports

_EXPORTS = {
    "Predictor": "predictor",
    "iter_image_paths": "predictor",
    "evaluate_photo_folder": "photo_eval",
    "class_list": "photo_score",
}


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
