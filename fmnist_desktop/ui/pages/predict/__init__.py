"""The Predict page (`PredictPage`): one photo in detail (`single_view`), many in a table
(`batch_view`, its rows `batch_rows`, classified by `list_tasks`), and the My photos dialog
(`my_photos`)."""

from .page import PredictPage

__all__ = ["PredictPage"]
