"""Qt user interface: a thin view over `fmnist_desktop.core`.

Modules here import only the torch-free core modules (`labels`, `paths`, `errors`, `formats`,
`logs`) at import time; torch and the torch-based core modules are imported in the background
after the window is shown. Pages live in `pages/` and never import each other; background work
is `tasks`; shared widgets are in `widgets/`.
"""
