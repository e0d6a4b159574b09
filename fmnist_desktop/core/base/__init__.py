"""The bottom layer: plain-Python pieces every other part uses.

Errors (`errors`), which edition runs (`edition`: full, or lite without torch), class names
(`labels`), file formats and the one photo-file predicate (`formats`), limits on hostile images (`image_limits`), escaping for terminal and JSON output
(`output_safety`), app folders and atomic writes (`paths`), thread settings (`threads`), shared
defaults (`defaults`) and the one "not sure" rule (`verdict`). No torch, numpy or Qt: the GUI
imports this before torch is loaded.

Public names below load on first use (`base.lazy`).
"""

from .lazy import lazy_exports

_EXPORTS = {
    "FmnistError": "errors",
    "SaveError": "errors",
    "describe_exception": "errors",
    "CLASS_NAMES": "labels",
    "class_index": "labels",
    "PHOTO_FORMATS_TEXT": "formats",
    "format_clock": "formats",
    "count_noun": "formats",
    "format_span": "formats",
    "is_photo_file": "formats",
    "photo_file_filter": "formats",
    "recorded_test_accuracy": "formats",
    "csv_row": "output_safety",
    "printable": "output_safety",
    "atomic_write_text": "paths",
    "parallel_in_this_thread": "threads",
    "serial_in_this_thread": "threads",
    "DEFAULT_THRESHOLD": "verdict",
    "Verdict": "verdict",
    "decide": "verdict",
    "format_confidence": "verdict",
    "threshold_of": "verdict",
    "DEFAULT_VAL_SIZE": "defaults",
}


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
