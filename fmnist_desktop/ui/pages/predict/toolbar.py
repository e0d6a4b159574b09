"""The Predict page's input row: Open images… (Ctrl+O while the page is shown), Open folder…,
Paste (Ctrl+V) and Try a sample. Like `ThresholdBox`, its widgets are children of the page, laid
out by `add_to`. The file dialogs (remembering their folder) and the bundled samples live here; what
they pick, and Paste, are signals the page acts on."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QBoxLayout, QFileDialog, QWidget

from ....core.base import paths
from ....core.base.formats import is_photo_file, photo_file_filter
from ...settings_keys import PREDICT_LAST_DIR
from ...widgets.banner import make_button


class InputBar(QObject):
    pathsChosen = Signal(list)  # files, or one folder, picked in a dialog
    pasteRequested = Signal()
    sampleRequested = Signal()

    def __init__(self, page: QWidget, settings):
        super().__init__(page)
        self._page = page  # the dialogs' parent
        self._settings = settings
        self._samples: list[Path] | None = None  # the bundled samples, listed once
        self._sample_index = 0
        self.open_files_button = make_button(page, "Open images…", "openImagesButton", self.open_files_dialog)
        self.open_folder_button = make_button(page, "Open folder…", "openFolderButton", self.open_folder_dialog)
        self.paste_button = make_button(page, "Paste", "pasteButton", self.pasteRequested.emit)
        self.paste_button.setToolTip("Classify an image from the clipboard (Ctrl+V)")
        self.sample_button = make_button(page, "Try a sample", "sampleButton", self.sampleRequested.emit)

        # Ctrl+O here opens images (the page's main action); the File menu opens models with Ctrl+Shift+O.
        self.open_images_action = QAction("Open images…", page)
        self.open_images_action.setShortcut(QKeySequence.StandardKey.Open)
        self.open_images_action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)  # active while the page is shown
        self.open_images_action.triggered.connect(lambda _checked=False: self.open_files_dialog())
        page.addAction(self.open_images_action)
        self.open_files_button.setToolTip("Classify image files (Ctrl+O)")

        self.paste_action = QAction("Paste image", page)
        self.paste_action.setShortcut(QKeySequence.StandardKey.Paste)
        self.paste_action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)  # active while the page is shown
        self.paste_action.triggered.connect(self.pasteRequested)
        page.addAction(self.paste_action)

    def add_to(self, layout: QBoxLayout) -> None:
        for button in (self.open_files_button, self.open_folder_button, self.paste_button, self.sample_button):
            layout.addWidget(button)

    def last_dir(self) -> str:
        return str(self._settings.value(PREDICT_LAST_DIR, str(Path.home())))

    def _remember_dir(self, folder: Path) -> None:
        self._settings.setValue(PREDICT_LAST_DIR, str(folder))

    def open_files_dialog(self) -> None:
        files, _ = QFileDialog.getOpenFileNames(self._page, "Open images", self.last_dir(), photo_file_filter())
        if files:
            self._remember_dir(Path(files[0]).parent)
            self.pathsChosen.emit(files)

    def open_folder_dialog(self) -> None:
        folder = QFileDialog.getExistingDirectory(self._page, "Open a folder of images", self.last_dir())
        if folder:
            self._remember_dir(Path(folder))
            self.pathsChosen.emit([folder])

    def sample_paths(self) -> list[Path]:
        """The example photos shipped with the app (listed once: a few files in resources/samples)."""
        if self._samples is None:
            folder = paths.bundled_path("resources/samples")
            # Phone photos first: most people try the app with one, and the photo model answers them.
            self._samples = sorted((p for p in folder.iterdir() if p.is_file() and is_photo_file(p.name)),
                                   key=lambda p: (not p.name.startswith("photo_"), p.name)) \
                if folder.is_dir() else []
        return self._samples

    def next_sample(self) -> Path | None:
        """The samples in turn; None when none is installed."""
        samples = self.sample_paths()
        if not samples:
            return None
        sample = samples[self._sample_index % len(samples)]
        self._sample_index += 1
        return sample

    def update_sample_button(self) -> None:
        samples = self.sample_paths()
        self.sample_button.setEnabled(bool(samples))
        self.sample_button.setToolTip("Classify one of the example photos shipped with the app" if samples
                                      else "No sample images are installed")
