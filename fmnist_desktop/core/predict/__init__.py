"""Predicting: a model on photos. `predictor` (the Predictor: photo preparation in
`core.photo`, then the model, then the verdict, once), `photo_eval` (accuracy on a labelled photo
folder) and `photo_score` (the shipped model's score on the user's photos).

Public names below load on first use (`base.lazy`).
"""

from ..base.lazy import lazy_exports

_EXPORTS = {
    "Predictor": "predictor",
    "iter_image_paths": "predictor",
    "evaluate_photo_folder": "photo_eval",
    "class_list": "photo_score",
}


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
