"""What the app keeps on disk: checkpoints (safe load, atomic save), the model library, the
user's photos and presets, and the log files.

The names the GUI, the CLI and the server use are importable from this package too; they load on
first use, so importing one submodule does not load the others (and torch-free parts stay so).
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
