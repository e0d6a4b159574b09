"""Qt-free core of Fashion-MNIST Desktop.

Nothing in this package may import PySide6, nor the ui, cli or app layers (import-linter contracts
in pyproject.toml, and a test). Modules that need torch import it at module level, so the GUI
imports them lazily, off the GUI thread, after the window is shown. `labels`, `paths`, `errors`,
`formats` and `logs` stay torch-free so the GUI can use them at start-up.
"""
