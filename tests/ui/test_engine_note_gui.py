"""The Predict page says, in one line under "Answered by", when a model is answered by torch
because its ONNX twin could not be made (issue 25); with its twin it says nothing more."""

from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = pytest.mark.timeout(240)

FM_TROUSER = Path(__file__).resolve().parents[2] / "resources" / "samples" / "fashion-mnist_1_Trouser.png"


def _drop_one(page, path, qtbot, drop_paths):
    with qtbot.waitSignal(page.predictionShown, timeout=120_000) as shown:
        drop_paths(page.drop_zone, [path])
    return shown.args[0]


def test_a_model_without_a_twin_says_torch_answered_it(make_main_window, qtbot, drop_paths, monkeypatch):
    from fmnist_desktop.core.jobs.export_formats import ExportError

    def refuse(*_a, **_k):
        raise ExportError("The exported onnx model does not answer like the original.")

    for where in ("fmnist_desktop.core.predict.predictor.find_twin", "fmnist_desktop.core.store.twins.find_twin"):
        monkeypatch.setattr(where, lambda _path: None)  # as if the shipped model had no twin yet
    monkeypatch.setattr("fmnist_desktop.core.jobs.twins.MAKE_IN_CHILD_PROCESS", False)  # the fake exporter lives here
    monkeypatch.setattr("fmnist_desktop.core.jobs.export.export_model", refuse)
    window = make_main_window()
    window.show_page("predict")
    page = window.pages["predict"]
    result = _drop_one(page, FM_TROUSER, qtbot, drop_paths)
    assert result.prediction.ok
    lines = page.single.answered_label.text().splitlines()
    assert lines[0].startswith("Answered by the 28×28 network – ")
    assert lines[1:] == ["Default model (shipped with the app) is answered by torch: "
                         "The exported onnx model does not answer like the original."]


def test_a_model_with_its_twin_says_only_who_answered(make_main_window, qtbot, drop_paths):
    window = make_main_window()
    window.show_page("predict")
    page = window.pages["predict"]
    result = _drop_one(page, FM_TROUSER, qtbot, drop_paths)
    assert result.prediction.engine_note == ""
    assert len(page.single.answered_label.text().splitlines()) == 1
