"""Qt user interface: a thin view over `fmnist_desktop.core`.

Modules here import only `core.labels`, `core.paths` and `core.errors` at import time; torch and
the torch-based core modules are imported in the background after the window is shown.
"""
