"""Qt-free core of Fashion-MNIST Desktop.

Nothing in this package may import PySide6 (a test enforces it). Modules that need torch import
it at module level, so the GUI imports them lazily, off the GUI thread, after the window is shown.
`labels`, `paths` and `errors` stay torch-free so the GUI can use them at start-up.
"""
