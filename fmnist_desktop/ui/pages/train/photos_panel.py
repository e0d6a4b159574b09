"""The Train page's "Real photos" box: an optional labelled photo set to train on with Fashion-MNIST.

A photo set is a labels CSV (`file,class,sender_id`; class a class name, `none` or `skip`, as in
weights/realworld-train-labels.csv) or a folder of `<index>_<name>/` subfolders plus an optional
`none/` (core.data.labelled_photos.read_photo_folder). The page prepares it in its background task
(core.data.labelled_photos.load_photo_training_set, cached) and shows the counts here.
"""

from __future__ import annotations

import math
from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QFileDialog, QGroupBox, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from ....core.base.formats import count_noun
from ....core.base.verdict import is_calibrated
from ...settings_keys import TRAIN_PHOTOS

NO_PHOTOS_TEXT = "None: Fashion-MNIST only."


class PhotoSetPanel(QGroupBox):
    """Choose (or clear) the labelled photo set; `changed(path or None)` when it changes."""

    changed = Signal(object)

    def __init__(self, settings, parent: QWidget | None = None):
        super().__init__("Real photos (optional)", parent)
        self.setObjectName("photoSetBox")
        self.settings = settings
        self._path: str | None = None
        layout = QVBoxLayout(self)
        self.path_label = QLabel(NO_PHOTOS_TEXT, self)
        self.path_label.setObjectName("photoSetPath")
        self.path_label.setAccessibleName("Labelled photo set")
        self.path_label.setWordWrap(True)
        self.path_label.setToolTip(
            "Labelled real photos trained on together with Fashion-MNIST: a labels CSV (file,class,sender_id; "
            "class a class name, none or skip) or a folder of 0_T-shirt_top … 9_Ankle_boot subfolders plus an "
            "optional none/ for things that are none of the ten. Held-out senders calibrate the model's "
            "“not sure” threshold. The “Real photos” preset is made for this.")
        layout.addWidget(self.path_label)
        buttons = QHBoxLayout()
        self.csv_button = QPushButton("Labels file…", self)
        self.csv_button.setObjectName("photoSetCsvButton")
        self.csv_button.setToolTip("A CSV with file,class,sender_id columns (paths relative to its folder)")
        self.csv_button.clicked.connect(lambda: self.choose_file())
        self.folder_button = QPushButton("Folder…", self)
        self.folder_button.setObjectName("photoSetFolderButton")
        self.folder_button.setToolTip("A folder of <index>_<name>/ subfolders (0_T-shirt_top … 9_Ankle_boot, none/)")
        self.folder_button.clicked.connect(lambda: self.choose_folder())
        self.clear_button = QPushButton("Clear", self)
        self.clear_button.setObjectName("photoSetClearButton")
        self.clear_button.clicked.connect(lambda: self.set_path(None))
        for button in (self.csv_button, self.folder_button, self.clear_button):
            buttons.addWidget(button)
        layout.addLayout(buttons)
        self.counts_label = QLabel("", self)
        self.counts_label.setObjectName("photoSetCounts")
        self.counts_label.setWordWrap(True)
        self.counts_label.setStyleSheet("color: #555;")
        self.counts_label.hide()
        layout.addWidget(self.counts_label)
        saved = settings.value(TRAIN_PHOTOS)
        self.set_path(str(saved) if saved and Path(str(saved)).exists() else None, emit=False)

    def path(self) -> str | None:
        return self._path

    def inputs(self) -> list[QWidget]:
        return [self.csv_button, self.folder_button, self.clear_button]

    def set_path(self, path: str | None, emit: bool = True) -> None:
        self._path = str(path) if path else None
        self.settings.setValue(TRAIN_PHOTOS, self._path or "")
        self.path_label.setText(self._path if self._path else NO_PHOTOS_TEXT)
        self.clear_button.setEnabled(self._path is not None)
        self.counts_label.hide()
        if emit:
            self.changed.emit(self._path)

    def show_counts(self, counts: dict[str, int]) -> None:
        """The prepared set's figures (core.data.labelled_photos.PhotoTrainingSet.counts())."""
        self.counts_label.setText(describe_counts(counts))
        self.counts_label.show()

    def choose_file(self) -> None:
        start = str(Path(self._path).parent) if self._path else str(Path.home())
        path, _ = QFileDialog.getOpenFileName(self, "Choose a photo labels file", start, "Labels files (*.csv);;All files (*)")
        if path:
            self.set_path(path)

    def choose_folder(self) -> None:
        start = self._path or str(Path.home())
        path = QFileDialog.getExistingDirectory(self, "Choose a folder of labelled photos", start)
        if path:
            self.set_path(path)


def describe_counts(counts: dict[str, int]) -> str:
    return (f"{counts['train']:,} photos to train on ({counts['train_none']:,} none of the ten), "
            f"{counts['val']:,} held out by sender to calibrate “not sure” ({counts['val_none']:,} none of the ten).")


def describe_calibration(metrics: dict) -> str | None:
    """A photo-trained model's "not sure" threshold and held-out photo figures, in one sentence."""
    threshold = metrics.get("not_sure_threshold")
    held = metrics.get("held_out_photos")
    if threshold is None or not isinstance(held, dict):
        return None

    def pct(key):
        value = held.get(key)
        return "–" if not isinstance(value, (int, float)) or not math.isfinite(value) else f"{100 * value:.1f} %"

    level = f"Not sure below {100 * float(threshold):.1f} % confidence"
    if not is_calibrated(metrics):
        level += (" (the uncalibrated default: too few held-out photos of the ten classes to set the model's own "
                  "level)")
    none = held.get("n_none")
    none_part = (f", {pct('none_flagged_rate')} of the none-of-the-ten photos called not sure"
                 if isinstance(none, int) and none > 0 else "")
    return (f"{level}. On {count_noun(held['n'], 'held-out photo') if isinstance(held.get('n'), int) else '? held-out photos'}: "
            f"{pct('accuracy')} right, {pct('not_sure_rate')} called not sure{none_part}.")
