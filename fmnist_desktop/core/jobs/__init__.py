"""Recipes the GUI, the CLI and the server share: `runs` (train → evaluate → calibrate → save),
`finetune`, `tuning` and `export`.

The names the GUI, the CLI and the server use are importable from this package too; they load on
first use, so importing one submodule does not load the others (and torch-free parts stay so).
"""

from ..base.lazy import lazy_exports

_EXPORTS = {
    "format_params": "tuning",
    "export_model": "export",
}


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
