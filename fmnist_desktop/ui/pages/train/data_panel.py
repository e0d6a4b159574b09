"""The Train page's "Data set" box: which Fashion-MNIST source a run will use, Choose folder…,
and Download (with progress and Cancel). Looking for the files and downloading run as tasks."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QFileDialog, QGroupBox, QHBoxLayout, QLabel, QProgressBar, QVBoxLayout, QWidget

from ...settings_keys import DATA_FOLDER
from ...tasks import Progress, TaskRunner
from ...widgets.banner import make_button

DOWNLOAD_TIP = "Download Fashion-MNIST (about 30 MB) into the app's data folder."


class DataPanel(QGroupBox):
    """Shows the data source; `message(kind, text)` asks the page to show a banner."""

    message = Signal(str, str)  # Banner kind, text
    downloadStateChanged = Signal(bool)  # a download started (True) or ended

    def __init__(self, settings, scan_runner: TaskRunner, download_runner: TaskRunner, parent: QWidget | None = None):
        super().__init__("Data set", parent)
        self.settings = settings
        self._scan = scan_runner
        self._download = download_runner
        self.has_local_data = False
        layout = QVBoxLayout(self)
        self.data_label = QLabel("Looking for Fashion-MNIST…", self)
        self.data_label.setObjectName("dataSourceLabel")
        self.data_label.setAccessibleName("Data source")
        self.data_label.setWordWrap(True)
        self.data_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.data_label)
        buttons = QHBoxLayout()
        self.choose_folder_button = make_button(self, "Choose folder…", "chooseDataFolderButton",
                                                self._choose_data_folder,
                                                accessible_name="Choose the Fashion-MNIST folder")
        self.download_button = make_button(self, "Download", "downloadButton", self._on_download_clicked,
                                           accessible_name="Download Fashion-MNIST", tooltip=DOWNLOAD_TIP)
        buttons.addWidget(self.choose_folder_button)
        buttons.addWidget(self.download_button)
        layout.addLayout(buttons)
        self.download_progress = QProgressBar(self)
        self.download_progress.setObjectName("downloadProgress")
        self.download_progress.hide()
        layout.addWidget(self.download_progress)

    def inputs(self) -> list[QWidget]:
        return [self.choose_folder_button, self.download_button]

    def folder(self) -> str | None:
        folder = self.settings.value(DATA_FOLDER) or None
        return str(folder) if folder else None

    def is_downloading(self) -> bool:
        return self._download.is_running()

    # ----------------------------------------------------------------- sources

    def refresh(self) -> None:
        """Show which Fashion-MNIST source training will use (or how to get one)."""
        folder = self.folder()

        def scan(state):
            from ....core.data import fashion_mnist as data

            return data.candidate_sources(Path(folder) if folder else None)

        self._scan.start(scan, on_result=self._show_sources,
                         on_error=lambda msg: self.data_label.setText(f"Could not look for the data set: {msg}"))

    def _show_sources(self, sources) -> None:
        found = [source for source, complete in sources if complete and source.kind != "download"]
        folder = self.folder()
        self.has_local_data = bool(found)
        if found:
            source = found[0]
            text = f"<b>Found:</b> {source.description}"
            if source.path is not None and str(source.path) not in source.description:
                text += f"<br><span style='color:#555'>{source.path}</span>"
            if folder and source.kind != "folder":
                text += f"<br>The chosen folder {folder} does not hold a complete set; using this instead."
            self.data_label.setText(text)
            self.download_button.hide()
        else:
            tried = "".join(f"<li>{s.description}</li>" for s, _ in sources if s.kind != "download")
            self.data_label.setText(
                "<b>Fashion-MNIST is not on this computer yet.</b> Training needs it. You can:"
                "<ul style='margin-left:-20px'>"
                "<li><b>Download</b> it (about 30 MB) into the app's own data folder,</li>"
                "<li>install the Debian/Ubuntu package: <code>sudo apt-get install dataset-fashion-mnist</code>,</li>"
                "<li>or <b>choose a folder</b> that holds the four <code>*-ubyte.gz</code> files.</li></ul>"
                f"Looked in:<ul style='margin-left:-20px'>{tried}</ul>"
            )
            self.download_button.show()
        self.data_label.setProperty("datasetFound", bool(found))

    def _choose_data_folder(self) -> None:
        start = str(self.folder() or Path.home())
        folder = QFileDialog.getExistingDirectory(self, "Folder with Fashion-MNIST", start)
        if folder:
            self.set_folder(folder)

    def set_folder(self, folder: str | None) -> None:
        if folder:
            self.settings.setValue(DATA_FOLDER, str(folder))
        else:
            self.settings.remove(DATA_FOLDER)
        self.refresh()

    # ----------------------------------------------------------------- download

    def _on_download_clicked(self) -> None:
        """The Download button starts a download; while one runs it reads "Cancel download"."""
        if self._download.is_running():
            self.download_button.setEnabled(False)  # until the download has stopped (within one 64 kB read)
            self._download.cancel()
        else:
            self.start_download()

    def start_download(self) -> None:
        """Download into the app folder, only on the user's click, with a progress bar and Cancel."""
        self.download_button.setText("Cancel download")
        self.download_button.setToolTip("Stop the download; nothing half-downloaded is kept.")
        self.download_progress.setRange(0, 0)
        self.download_progress.show()

        def download(state):
            from ....core.data import fashion_mnist as data

            def progress(done: int, total: int) -> None:
                state.set_progress(None, f"{done / 1e6:.1f} of {total / 1e6:.1f} MB", done=done, total=total)

            return data.find_dataset(download=True, progress=progress, stop=state)

        def on_progress(progress: Progress) -> None:
            if progress.fraction is not None:
                self.download_progress.setRange(0, 1000)
                self.download_progress.setValue(int(progress.fraction * 1000))
            self.download_progress.setFormat(progress.message or "%p%")

        def finished() -> None:
            self.download_button.setText("Download")
            self.download_button.setToolTip(DOWNLOAD_TIP)
            self.download_button.setEnabled(True)
            self.download_progress.hide()
            self.refresh()
            self.downloadStateChanged.emit(False)

        self._download.start(
            download,
            on_progress=on_progress,
            on_cancelled=lambda: self.message.emit("info", "Download cancelled. Nothing was kept."),
            on_error=lambda msg: self.message.emit("error", f"<b>Download failed:</b> {msg}"),
            on_finished=finished,
            description="Downloading Fashion-MNIST",
        )
        self.downloadStateChanged.emit(True)
