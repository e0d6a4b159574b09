"""core.base.output_safety: names the user does not control, written where other programs read them
(issue 12, hostile items 6 and 9)."""

from __future__ import annotations

import base64
import csv
import io
import json
import os
from pathlib import Path

import pytest

from fmnist_desktop.core.base.output_safety import csv_cell, path_fields, printable, utf8_text
from fmnist_desktop.core.predict.predictor import Prediction

FORGED = "fake.png\tBag\t99.9%\nx.png"
NON_UTF8 = os.fsdecode(b"nb_\xff\xfe.png")


def _unescape(text: str) -> str:
    return text.encode("latin-1", "backslashreplace").decode("unicode_escape")


@pytest.mark.parametrize("name", [FORGED, "a\\tb", "bell\x07\x1b[31mred", "line\u2028sep", "plain name.png", "é ü 漢字"])
def test_printable_is_one_line_without_control_characters_and_reversible(name):
    out = printable(name)
    assert "\t" not in out and "\n" not in out and "\r" not in out and "\x1b" not in out and "\u2028" not in out
    assert out.isprintable()
    if name.isascii():
        assert _unescape(out) == name


def test_printable_shows_undecodable_bytes_as_hex():
    assert printable(NON_UTF8) == "nb_\\xff\\xfe.png"


@pytest.mark.parametrize("value", ["=HYPERLINK(\"http://x\")", "+1+1", "-2+3", "@SUM(A1)", "\tx", "\rx"])
def test_csv_cells_that_a_spreadsheet_would_run_are_neutralised(value):
    assert csv_cell(value) == "'" + value


def test_csv_cells_of_non_utf8_names_can_be_written_as_utf8():
    buffer = io.StringIO()
    csv.writer(buffer).writerow([csv_cell(NON_UTF8), csv_cell(0.5), csv_cell(-1.5)])
    buffer.getvalue().encode("utf-8")  # no UnicodeEncodeError
    assert buffer.getvalue().startswith("nb_\\xff\\xfe.png,0.5,-1.5")


def test_path_fields_keep_a_non_utf8_name_recoverable():
    fields = path_fields(Path("/tmp") / NON_UTF8)
    text = json.dumps(fields, ensure_ascii=False)
    text.encode("utf-8")
    assert fields["path"] == "/tmp/nb_\ufffd\ufffd.png"
    assert base64.b64decode(fields["path_bytes"]) == b"/tmp/nb_\xff\xfe.png"
    assert path_fields("plain.png") == {"path": "plain.png"}
    assert utf8_text("ok") == "ok"


def test_a_failed_prediction_for_a_non_utf8_name_is_valid_json():
    p = Prediction(Path(NON_UTF8), -1, "", 0.0, (), [], None, None, f"{NON_UTF8} is empty (0 bytes).", NON_UTF8)
    out = json.dumps(p.to_dict(), ensure_ascii=False)
    out.encode("utf-8")
    assert base64.b64decode(p.to_dict()["path_bytes"]) == os.fsencode(NON_UTF8)
