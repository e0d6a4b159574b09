"""Recipes the GUI, the CLI and the server share: `runs` (train → evaluate → calibrate → save),
`finetune`, `tuning` and `export`.

Public names below load on first use (`base.lazy`).
"""

from ..base.lazy import lazy_exports

_EXPORTS = {
    "format_params": "tuning",
    "export_model": "export",
}


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
