"""Recipes the GUI, the CLI and the server share: `runs` (train → evaluate → calibrate → save),
`finetune`, `tuning` and `export`.

The names the GUI, the CLI and the server use are importable from this package too; they load on
first use, so importing one submodule does not load the others (and torch-free parts stay so).
"""

from importlib import import_module

_EXPORTS = {
    "format_params": "tuning",
    "export_model": "export",
}


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"{__name__}.{module}"), name)


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
