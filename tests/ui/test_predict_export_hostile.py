"""Export CSV on the Predict page with hostile file names (issue 12, hostile items 6 and 9): a name
that is not valid UTF-8 made the export crash ("Something went wrong", no CSV); cells starting
with = + - @ were written as formulas a spreadsheet would run."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import pytest
from PIL import Image

pytestmark = pytest.mark.timeout(180)


def test_export_csv_with_a_non_utf8_name_and_formula_names(window_with_model, qtbot, tmp_path):
    folder = tmp_path / "dropped"
    folder.mkdir()
    Image.new("RGB", (60, 80), (200, 30, 30)).save(Path(os.fsdecode(bytes(folder) + b"/nb_\xff.png")))
    Image.new("RGB", (60, 80), (30, 30, 200)).save(folder / "ok.png")
    (folder / "=HYPERLINK(1).png").write_bytes(b"")  # unreadable: its error message starts with its name
    (folder / "@SUM(1).png").write_bytes(b"not an image")

    page = window_with_model.pages["predict"]
    window_with_model.show_page("predict")
    with qtbot.waitSignal(page.batchFinished, timeout=60_000):
        page.predict_paths([str(folder)])
    assert len(page.rows()) == 4

    out = tmp_path / "export.csv"
    assert page.export_csv(out), window_with_model.context.last_error
    text = out.read_bytes().decode("utf-8")  # strictly valid UTF-8
    records = list(csv.DictReader(text.splitlines()))
    assert len(records) == 4
    assert any(r["file"].endswith("nb_\\xff.png") and r["top_class"] for r in records)
    errors = sorted(r["error"] for r in records if r["error"])
    assert errors and all(e.startswith("'=") or e.startswith("'@") for e in errors), errors
    for record in records:
        for value in record.values():
            assert not value.startswith(("=", "+", "-", "@")), value
