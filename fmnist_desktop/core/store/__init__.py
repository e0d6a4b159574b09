"""What the app keeps on disk: checkpoints (safe load, atomic save), the model library, the
user's photos and presets, and the log files.

Public names below load on first use (`base.lazy`).
"""

from ..base.lazy import lazy_exports

_EXPORTS = {
    "load_checkpoint": "checkpoint",
    "load_model": "checkpoint",
    "read_meta": "checkpoint",
    "save_checkpoint": "checkpoint",
    "save_state_dict": "checkpoint",
    "ModelLibrary": "library",
    "all_presets": "user_presets",
    "get_preset": "user_presets",
    "save_user_preset": "user_presets",
    "APP_LOG": "logs",
    "CLI_LOG": "logs",
    "configure": "logs",
    "write_log": "logs",
}


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
