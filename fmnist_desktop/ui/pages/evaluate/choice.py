"""The Evaluate page's two choices: which model (the active 28×28 network, the active photo model,
or any model in the library) and what it is measured on — the Fashion-MNIST test set for a 28×28
network; for a photo model the real photos shipped with the app or a labelled folder the user
picks (`<index>_<class>/` sub-folders, and `none/`, as `fmnist evaluate-photos` reads them)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QComboBox, QFileDialog, QHBoxLayout, QLabel, QSizePolicy, QWidget

ACTIVE_FMNIST, ACTIVE_PHOTO = "active:fmnist", "active:photo"  # follow the active model of the kind
TEST_SET, SHIPPED_PHOTOS, PICK_FOLDER = "test-set", "shipped", "pick"
KIND_WORDS = {"fmnist": "28×28 network", "photo": "photo model"}


class EvaluateChoice(QWidget):
    """"Model: [...]  On: [...]"; `changed` fires when either changes."""

    changed = Signal()

    def __init__(self, context, parent: QWidget | None = None):
        super().__init__(parent)
        self.context = context
        self._folder: str | None = None  # the labelled folder picked last
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(QLabel("Model:", self))
        self.model_combo = QComboBox(self)
        self.model_combo.setObjectName("evaluateModelCombo")
        self.model_combo.setAccessibleName("Model to evaluate")
        self.model_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.model_combo.setMinimumContentsLength(18)
        self.model_combo.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        layout.addWidget(self.model_combo, 3)
        layout.addWidget(QLabel("On:", self))
        self.data_combo = QComboBox(self)
        self.data_combo.setObjectName("evaluateDataCombo")
        self.data_combo.setAccessibleName("What the model is evaluated on")
        self.data_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.data_combo.setMinimumContentsLength(16)
        self.data_combo.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        layout.addWidget(self.data_combo, 2)
        self.model_combo.currentIndexChanged.connect(self._on_model_changed)
        self.data_combo.activated.connect(self._on_data_activated)
        self.data_combo.currentIndexChanged.connect(lambda _i: self.changed.emit())
        self.refresh()

    # ----------------------------------------------------------------- models

    def refresh(self) -> None:
        """List the library's models again (after a change), keeping the choice when it still exists."""
        current = self.model_combo.currentData() or ACTIVE_FMNIST
        self.model_combo.blockSignals(True)
        try:
            self.model_combo.clear()
            for key, kind in ((ACTIVE_FMNIST, "fmnist"), (ACTIVE_PHOTO, "photo")):
                entry = self.context.active_entry_of(kind)
                if entry is not None:
                    self.model_combo.addItem(f"The active {KIND_WORDS[kind]}: {entry.name}", key)
            for entry in self._library_entries():
                self.model_combo.addItem(f"{entry.name} ({KIND_WORDS.get(entry.kind, entry.kind)})", entry.id)
            index = self.model_combo.findData(current)
            self.model_combo.setCurrentIndex(max(0, index))
        finally:
            self.model_combo.blockSignals(False)
        self._fill_data()

    def _library_entries(self) -> list:
        if not self.context.is_torch_ready():
            return []
        try:
            return list(self.context.library().entries())
        except Exception:  # noqa: BLE001 - a damaged library is reported by the Models page
            return []

    def entry(self):
        """The chosen model's library entry, or None (no model, or the engine is loading)."""
        key = self.model_combo.currentData()
        if key == ACTIVE_FMNIST:
            return self.context.active_entry_of("fmnist")
        if key == ACTIVE_PHOTO:
            return self.context.active_entry_of("photo")
        return next((e for e in self._library_entries() if e.id == key), None)

    def follows_active(self) -> bool:
        return self.model_combo.currentData() in (ACTIVE_FMNIST, ACTIVE_PHOTO)

    def kind(self) -> str:
        entry = self.entry()
        return getattr(entry, "kind", "fmnist") if entry is not None else "fmnist"

    def select_model(self, entry_id: str) -> bool:
        """Choose a library model by id (the Train page's "Evaluate it"); False when it is not listed."""
        self.refresh()
        index = self.model_combo.findData(entry_id)
        if index < 0:
            return False
        self.model_combo.setCurrentIndex(index)
        return True

    def _on_model_changed(self, _index: int) -> None:
        self._fill_data()
        self.changed.emit()

    # ----------------------------------------------------------------- data

    def _fill_data(self) -> None:
        current = self.data_combo.currentData()
        self.data_combo.blockSignals(True)
        try:
            self.data_combo.clear()
            if self.kind() == "photo":
                self.data_combo.addItem("The real photos shipped with the app", SHIPPED_PHOTOS)
                if self._folder:
                    self.data_combo.addItem(f"Folder: {self._folder}", self._folder)
                self.data_combo.addItem("A labelled folder…", PICK_FOLDER)
            else:
                self.data_combo.addItem("The Fashion-MNIST test set", TEST_SET)
            index = self.data_combo.findData(current)
            self.data_combo.setCurrentIndex(index if index >= 0 and current != PICK_FOLDER else 0)
        finally:
            self.data_combo.blockSignals(False)

    def photo_folder(self) -> str | None:
        """The labelled folder chosen, or None for the shipped real photos."""
        data = self.data_combo.currentData()
        return None if data in (SHIPPED_PHOTOS, PICK_FOLDER, TEST_SET, None) else str(data)

    def set_photo_folder(self, folder: str | Path) -> None:
        """Measure the photo model on a labelled folder (what "A labelled folder…" picks)."""
        self._folder = str(folder)
        self._fill_data()
        self.data_combo.setCurrentIndex(max(0, self.data_combo.findData(self._folder)))
        self.changed.emit()

    def _on_data_activated(self, _index: int) -> None:
        if self.data_combo.currentData() != PICK_FOLDER:
            return
        folder = QFileDialog.getExistingDirectory(
            self, "A folder of labelled photos (0_T-shirt_top … 9_Ankle_boot sub-folders, none/)",
            self._folder or str(Path.home()))
        if folder:
            self.set_photo_folder(folder)
        else:
            self._fill_data()
            self.data_combo.setCurrentIndex(max(0, self.data_combo.findData(self._folder or SHIPPED_PHOTOS)))

    def data_description(self) -> str:
        """What the evaluation runs on, for the button's tooltip and the header."""
        if self.kind() != "photo":
            return "the Fashion-MNIST test set"
        folder = self.photo_folder()
        return f"the labelled photos in {folder}" if folder else "the real photos shipped with the app"
