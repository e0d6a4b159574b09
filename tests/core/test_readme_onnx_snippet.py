"""The README's onnxruntime snippet runs as printed, on a model exported by the app."""

from __future__ import annotations

import contextlib
import io
import re
import shutil
from pathlib import Path

import pytest

from fmnist_desktop.core.jobs import export

REPO = Path(__file__).resolve().parents[2]


def readme_snippet() -> str:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text.split("### Using an exported model from plain Python", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


@pytest.mark.skipif(export.export_formats_available()["onnx"] is not None, reason="onnx extras not installed")
def test_the_readme_snippet_classifies_a_sample(tmp_path, monkeypatch):
    code = readme_snippet()
    assert 8 <= len(code.strip().splitlines()) <= 12
    export.export_model(REPO / "weights" / "default.pt", tmp_path / "model.onnx", "onnx")
    shutil.copy(REPO / "resources" / "samples" / "fashion-mnist_7_Sneaker.png", tmp_path / "sneaker.png")
    monkeypatch.chdir(tmp_path)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "README.md", "exec"), {"__name__": "__readme__"})
    label, confidence = out.getvalue().strip().rsplit(" ", 1)
    assert label == "Sneaker" and float(confidence.rstrip("%")) > 50
