"""The Train page (`TrainPage`): form, data-set box, run handling, and the unsaved-model holder."""

from .page import TrainPage

__all__ = ["TrainPage"]
