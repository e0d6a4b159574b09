"""The lite edition's tests: torch is hidden (tests/lite/hide_torch.py, installed by
tests/conftest.py when FMNIST_HIDE_TORCH=1), as in a venv without it. Run them through
tests/test_lite_edition.py, which first makes the built-in 28×28 network's ONNX twin (what the
lite build ships, made by `python -m fmnist_desktop.build --make-twins`)."""

from __future__ import annotations

import importlib.util
import sys

import pytest


@pytest.fixture(autouse=True)
def torch_is_hidden(caplog):
    with pytest.raises(ImportError):
        importlib.util.find_spec("torch")
    yield
    # A background task that reached for torch fails quietly in the window (a log line, a cell
    # that never fills): the log says so.
    reached = [r.getMessage()[:200] for r in caplog.records if "No module named 'torch" in r.getMessage()]
    assert not reached, reached
    leaked = sorted(name for name in sys.modules if name.split(".")[0] in ("torch", "torchvision"))
    assert not leaked, f"torch was imported: {leaked[:3]}"


@pytest.fixture
def lite_window(make_main_window):
    from fmnist_desktop.core.base import paths
    from fmnist_desktop.core.store.twins import find_twin

    if find_twin(paths.default_weights_path()) is None:
        pytest.fail("weights/default.pt has no ONNX twin: run these tests through tests/test_lite_edition.py")
    window = make_main_window()
    assert window.context.import_error() is None, window.context.import_error()
    return window
