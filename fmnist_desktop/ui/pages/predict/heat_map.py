"""The Predict page's "Show where the answer came from": a check box under the pictures that, while
on, replaces "What the model saw" with the same picture and a heat map of where the answer came
from (core.jobs.explain), computed in its own task so the window never waits for it."""

from __future__ import annotations

from PySide6.QtCore import QObject
from PySide6.QtWidgets import QCheckBox, QLabel, QVBoxLayout, QWidget

from ....core.base import edition
from ...tasks import TaskRunner
from ...widgets.images import pil_to_qimage

TOGGLE_TEXT = "Show where the answer came from"
TOGGLE_TIP = ("Colours the parts of the picture the answer came from, red the most: Grad-CAM on the photo "
              "model's last convolution, or for the 28×28 network how much hiding each part changes its answer.")


class HeatMap(QObject):
    """The toggle, its status line, and the task that draws the map for the shown result."""

    def __init__(self, view, runner: TaskRunner, model_paths, parent: QWidget | None = None):
        super().__init__(parent)
        self._view, self._runner, self._model_paths = view, runner, model_paths
        self._result = None
        self.widget = QWidget(parent)
        layout = QVBoxLayout(self.widget)
        layout.setContentsMargins(0, 0, 0, 0)
        self.toggle = QCheckBox(TOGGLE_TEXT, self.widget)
        self.toggle.setObjectName("heatMapToggle")
        self.toggle.setToolTip(TOGGLE_TIP)
        self.status = QLabel(self.widget)
        self.status.setObjectName("heatMapStatus")
        self.status.setWordWrap(True)
        layout.addWidget(self.toggle)
        layout.addWidget(self.status)
        self.toggle.toggled.connect(self._refresh)
        view.add_under_pictures(self.widget)
        self.widget.hide()

    def show_for(self, result) -> None:
        """A new result is shown: its map replaces the old one while the toggle is on."""
        self._result = result
        self._refresh()

    def _panel(self):
        from ...widgets.model_answer import is_photo_answer

        photo = is_photo_answer(self._result.prediction)
        return (self._view.photo_input_panel if photo else self._view.panels["final"]), \
            ("model_input" if photo else "final")

    def _refresh(self, *_args) -> None:
        self._runner.cancel()
        result = self._result
        usable = result is not None and not getattr(result.prediction, "error", None)
        self.widget.setVisible(usable)
        self.status.setText("")
        if not usable:
            return
        panel, key = self._panel()
        if not self.toggle.isChecked() or not edition.has_torch():
            panel.set_image(result.images.get(key))
            if self.toggle.isChecked():  # the lite edition: the map needs the torch model
                self.status.setText(edition.full_edition_line("Showing where the answer came from"))
            return
        self.status.setText("Working out where the answer came from…")
        paths = [str(p) for p in self._model_paths()]
        prediction = result.prediction

        def task(state):
            from ....core.jobs.explain import heat_map

            state.set_progress(None, "Working out where the answer came from…")
            return pil_to_qimage(heat_map(prediction, paths))

        self._runner.start(task, on_result=lambda image, shown=result: self._show(shown, image),
                           on_error=self._failed, description="Working out where the answer came from",
                           needs_torch=True)

    def _show(self, shown, image) -> None:
        if shown is not self._result or not self.toggle.isChecked():
            return  # the user moved on
        panel, _key = self._panel()
        panel.set_image(image)
        self.status.setText("Red: where the answer came from most.")

    def _failed(self, message: str) -> None:
        self.status.setText(f"Cannot show where the answer came from: {message}")
