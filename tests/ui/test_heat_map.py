"""Where the answer came from (issue 26, "beyond the anchors"): the Predict page's toggle draws the
heat map over "What the model saw" from a task, for either kind of model, and takes it away again."""

from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = pytest.mark.timeout(240)

REPO = Path(__file__).resolve().parents[2]
FM_TSHIRT = REPO / "resources" / "samples" / "fashion-mnist_0_T-shirt_top.png"
SNEAKER_PHOTO = REPO / "tests" / "data" / "photo_sneaker.jpg"


@pytest.fixture
def shipped_window(make_main_window, monkeypatch):
    """A main window with the shipped photo model (the tests' homes have none by default)."""
    from fmnist_desktop.core.base import paths

    monkeypatch.setattr(paths, "photo_weights_path", lambda: REPO / "weights" / "photo.pt")
    return make_main_window()


@pytest.mark.parametrize("path, panel_name", [(SNEAKER_PHOTO, "photo_input_panel"), (FM_TSHIRT, "final")])
def test_the_toggle_draws_the_map_over_what_the_model_saw(shipped_window, qtbot, drop_paths, path, panel_name):
    window = shipped_window
    window.show_page("predict")
    page = window.pages["predict"]
    with qtbot.waitSignal(page.predictionShown, timeout=120_000):
        drop_paths(page.drop_zone, [path])
    single = page.single
    panel = single.photo_input_panel if panel_name == "photo_input_panel" else single.panels["final"]
    plain = panel.image().copy()
    toggle = single.findChild(type(page.heat_map.toggle), "heatMapToggle")
    assert toggle is not None and toggle.isVisible()
    toggle.setChecked(True)
    qtbot.waitUntil(lambda: panel.image() is not None and panel.image() != plain, timeout=120_000)
    assert page.heat_map.status.text() == "Red: where the answer came from most."
    toggle.setChecked(False)
    assert panel.image() == plain  # off again: the picture the model saw, as it was
