"""Defaults shared by the CLI, the GUI and the core, written once."""

DEFAULT_VAL_SIZE = 5000  # training images held out for validation (the rest are trained on)
