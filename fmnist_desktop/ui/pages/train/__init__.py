"""The Train page (`TrainPage`): form, data-set box, run handling, and the unsaved-model holder;
`LiteTrainPage`: what the lite edition (no torch) shows in its place."""

from .lite import LiteTrainPage
from .page import TrainPage

__all__ = ["LiteTrainPage", "TrainPage"]
