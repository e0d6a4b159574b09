"""The Models page (`page.ModelsPage`), its table (`table`), "Real photos" column (`photo_column`),
history chart (`history`) and file types (`files`)."""

from .files import EXPORT_FILTERS, EXPORT_SUFFIXES, MODEL_FILTER
from .page import ModelsPage
from .table import (
    COL_ACC,
    COL_DATE,
    COL_DEVICE,
    COL_EPOCHS,
    COL_HELD_OUT,
    COL_KIND,
    COL_NAME,
    COL_PHOTOS,
    COL_PRESET,
    COL_SIZE,
    COL_TIME,
    ENTRY_ROLE,
    HEADERS,
    SORT_ROLE,
    format_created,
)

__all__ = ["ModelsPage", "HEADERS", "COL_NAME", "COL_KIND", "COL_DATE", "COL_PRESET", "COL_EPOCHS", "COL_ACC", "COL_HELD_OUT",
           "COL_PHOTOS", "COL_TIME", "COL_SIZE", "COL_DEVICE", "ENTRY_ROLE", "SORT_ROLE", "MODEL_FILTER",
           "EXPORT_FILTERS", "EXPORT_SUFFIXES", "format_created"]
