"""The list's teaching bar, above its table: Confirm and Correct… for the selected rows, My photos…,
and "Fine-tune with my photos (N kept)", so teaching is in reach from the list (not only in a
row's context menu or its detailed view). The bar decides nothing: it asks the list for the
selected rows and emits what the user chose; the page keeps the photos and starts the fine-tune.
"""

from __future__ import annotations

from typing import Callable

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QMenu, QPushButton, QToolButton, QWidget

from ....core.base.labels import label_name
from .single_view import add_correct_actions


class ListTeachBar(QWidget):
    keepRequested = Signal(str, int)  # a selected row's path, the class to keep it as
    myPhotosRequested = Signal()
    finetuneRequested = Signal()

    def __init__(self, selected: Callable[[], list], confirm_of: Callable[[object], int | None],
                 parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("listTeachBar")
        self._selected = selected  # () -> the selected readable BatchRows
        self._confirm_of = confirm_of  # row -> the class Confirm keeps it as
        self._ready = False
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.label = QLabel("Teach with the selected rows:", self)
        layout.addWidget(self.label)
        self.confirm_button = QPushButton("Confirm", self)
        self.confirm_button.setObjectName("listConfirmButton")
        self.confirm_button.setToolTip("Keep the selected photos in My photos with the class the model gave them")
        self.confirm_button.clicked.connect(self._confirm)
        self.correct_button = QToolButton(self)
        self.correct_button.setObjectName("listCorrectButton")
        self.correct_button.setText("Correct…")
        self.correct_button.setToolTip("Keep the selected photos in My photos with the class you choose")
        self.correct_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        menu = QMenu(self.correct_button)
        menu.setObjectName("listCorrectMenu")
        add_correct_actions(menu, self._correct)
        self.correct_button.setMenu(menu)
        self.my_photos_button = QPushButton("My photos…", self)
        self.my_photos_button.setObjectName("listMyPhotosButton")
        self.my_photos_button.clicked.connect(self.myPhotosRequested.emit)
        self.finetune_button = QPushButton("Fine-tune with my photos", self)
        self.finetune_button.setObjectName("listFinetuneButton")
        self.finetune_button.clicked.connect(self.finetuneRequested.emit)
        for widget in (self.confirm_button, self.correct_button):
            layout.addWidget(widget)
        layout.addStretch(1)
        layout.addWidget(self.my_photos_button)
        layout.addWidget(self.finetune_button)

    def update_state(self, *, ready: bool, busy: bool, photo_count: int | None, readiness) -> None:
        """Enable the buttons for what can be done now; the Fine-tune button counts the kept photos."""
        self._ready = ready
        self.my_photos_button.setEnabled(ready)
        kept = f"{photo_count} kept" if photo_count is not None else "counting…"
        if readiness is not None and not readiness.can_run:
            kept += f", needs {readiness.needed} more"
        self.finetune_button.setText(f"Fine-tune with my photos ({kept})")
        self.finetune_button.setEnabled(ready and not busy and readiness is not None and readiness.can_run)
        self.finetune_button.setToolTip(readiness.explanation() if readiness is not None else "")
        self.update_selection()

    def update_selection(self) -> None:
        rows = self._selected() if self._ready else []
        self.confirm_button.setEnabled(bool(rows))
        self.correct_button.setEnabled(bool(rows))
        if len(rows) == 1:
            self.confirm_button.setText(f"Confirm “{label_name(self._confirm_of(rows[0]))}”")
        else:
            self.confirm_button.setText(f"Confirm {len(rows)}" if rows else "Confirm")

    def _confirm(self) -> None:
        for row in self._selected():
            if row.kept_as is None:  # a kept row keeps its class: confirming the old guess would undo a correction
                self.keepRequested.emit(row.path, self._confirm_of(row))

    def _correct(self, class_index: int) -> None:
        for row in self._selected():
            self.keepRequested.emit(row.path, class_index)
