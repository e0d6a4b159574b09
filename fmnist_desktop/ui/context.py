"""The application context shared by the main window and every page.

One `AppContext` is created by the main window and handed to each page. It owns the QSettings,
the background import of torch and the torch-dependent core modules, the model library and the
active model, and it is the one place errors are shown from, so pages stay thin.

Nothing here imports torch at module import time: the window must appear first. Call
`start_background_import()` once the window is shown; `torchReady` fires (on the GUI thread)
when torch, the core modules and the model library are usable.
"""

from __future__ import annotations

import datetime as _dt
import importlib
import os
import sys
import threading
import traceback
from pathlib import Path

from PySide6.QtCore import QObject, QSettings, Qt, Signal, Slot
from PySide6.QtWidgets import QApplication, QMessageBox, QWidget

from fmnist_desktop import APP_NAME, ORG_NAME
from fmnist_desktop.core.base import edition
from fmnist_desktop.core.base.errors import FmnistError
from fmnist_desktop.core.store.logs import write_log

# Core modules the pages need once torch is loaded; importing them here (off the GUI thread) means
# later `import`s inside pages are dictionary look-ups, not multi-second stalls.
BACKGROUND_MODULES = (
    "torch",
    "fmnist_desktop.core.store.checkpoint",
    "fmnist_desktop.core.photo",
    "fmnist_desktop.core.predict.predictor",
    "fmnist_desktop.core.store.library",
)
# Imported too when present, but the app works without them (pages report their own absence).
OPTIONAL_BACKGROUND_MODULES = (
    "fmnist_desktop.core.models.networks",
    "fmnist_desktop.core.data.fashion_mnist",
    "fmnist_desktop.core.learn.training",
    "fmnist_desktop.core.learn.evaluation",
    "fmnist_desktop.core.store.user_photos",
)
# The lite edition (core.base.edition: no torch) answers through onnxruntime; these need torch.
TORCH_MODULES = ("torch", "fmnist_desktop.core.store.checkpoint")


def background_modules() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(modules that must import, modules imported when they can) for this edition."""
    if edition.has_torch():
        return BACKGROUND_MODULES, OPTIONAL_BACKGROUND_MODULES
    return tuple(m for m in BACKGROUND_MODULES if m not in TORCH_MODULES), ("fmnist_desktop.core.store.user_photos",)


def make_settings() -> QSettings:
    """The app's settings store. Uses QSettings' default format so tests can redirect it to INI."""
    return QSettings(QSettings.defaultFormat(), QSettings.Scope.UserScope, ORG_NAME, APP_NAME)


def open_settings() -> tuple[QSettings, str | None]:
    """The app's settings, after setting a damaged settings file aside.

    Qt reads a damaged INI file silently and keeps whatever it could parse (binary junk becomes
    keys), so the app would start on garbage and later write it back. A file Qt reports as
    unreadable, or that is not the UTF-8 text Qt writes, is renamed `<name>.corrupt-<time>` and
    the app starts with defaults. Returns the settings and a one-line message for the user, or None.
    """
    settings = make_settings()
    path = Path(settings.fileName())
    if settings.status() == QSettings.Status.NoError and not (_is_ini_file(settings) and _ini_looks_damaged(path)):
        return settings, None
    del settings  # unchanged, so nothing is written back
    aside = path.with_name(f"{path.name}.corrupt-{_dt.datetime.now():%Y%m%d-%H%M%S}")
    try:
        os.replace(path, aside)
    except OSError as exc:
        return make_settings(), (f"The settings file {path} is damaged and could not be set aside "
                                 f"({exc.strerror or exc}); default settings are used.")
    return make_settings(), (f"The settings file was damaged; it was set aside as {aside.name} "
                             f"(in {aside.parent}) and default settings are used.")


def _is_ini_file(settings: QSettings) -> bool:
    # The native format is an INI file only on Linux and other Unix; the registry (Windows) and
    # plist files (macOS) are Qt's to check.
    return settings.format() == QSettings.Format.IniFormat or sys.platform not in ("win32", "darwin")


def _ini_looks_damaged(path: Path) -> bool:
    """True for a settings file that is not what Qt writes: UTF-8 text whose lines are
    sections, key=value pairs or comments."""
    try:
        text = path.read_bytes().decode("utf-8-sig")  # a BOM from a text editor is fine
    except FileNotFoundError:
        return False
    except (OSError, UnicodeDecodeError):
        return True
    if "\x00" in text:
        return True
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith((";", "#")) or "=" in line:
            continue
        if line.startswith("[") and line.endswith("]"):
            continue
        return True
    return False


class AppContext(QObject):
    """State shared by the pages: settings, torch readiness, model library, active model."""

    torchReady = Signal()
    torchFailed = Signal(str)  # the background import failed; the message is for the user
    # Either kind's active model changed (the photo model or the 28×28 network); carries the
    # active 28×28 network (`active_entry()`); `active_entries()` has both.
    activeModelChanged = Signal(object)  # core.store.library.ModelEntry
    modelsChanged = Signal()
    statusMessage = Signal(str)
    errorShown = Signal(str, str)  # title, message — lets tests and the status bar observe errors

    # Internal: carries the background import's outcome to the GUI thread (queued connection).
    _importDone = Signal(object, str)

    def __init__(self, settings: QSettings | None = None, parent: QObject | None = None):
        super().__init__(parent)
        # A damaged settings file is set aside at once (before anything reads it); the user is
        # told when the window is up (start_background_import).
        self.settings_notice: str | None = None
        if settings is None:
            settings, self.settings_notice = open_settings()
        self.settings = settings
        self._library = None
        self._active = None
        self._active_models: list = []  # library.active_models(): [photo model (when any), 28×28 network]
        self._torch_ready = False
        self._import_error: str | None = None
        self._device_summary = "loading…"
        self._import_thread: threading.Thread | None = None
        # (steps done, steps in all, what loads now) while the engine loads (the status bar shows it).
        self.loading_step: tuple[int, int, str] = (0, len(BACKGROUND_MODULES) + len(OPTIONAL_BACKGROUND_MODULES) + 1, "")
        self._dialog_parent: QWidget | None = None
        self.last_error: tuple[str, str] | None = None
        self._importDone.connect(self._on_import_done, Qt.ConnectionType.QueuedConnection)

    # ----------------------------------------------------------------- background import
    def start_background_import(self) -> None:
        """Import torch + core modules and open the model library in a background thread."""
        if self._import_thread is not None:
            return
        if self.settings_notice:
            self.show_error("Settings reset", self.settings_notice)
        # A plain daemon thread: an import cannot be cancelled, and if the user quits while torch
        # is still loading, the process must not wait for it.
        self._import_thread = threading.Thread(target=self._import_in_background, name="torch-import", daemon=True)
        self._import_thread.start()

    def _import_in_background(self) -> None:
        payload, error = None, ""
        required, optional = background_modules()
        total = len(required) + len(optional) + 1
        try:
            for step, name in enumerate(required):
                self.loading_step = (step, total, name)  # one tuple, replaced whole: read safely by the GUI
                importlib.import_module(name)
            for step, name in enumerate(optional, len(required)):
                self.loading_step = (step, total, name)
                try:
                    importlib.import_module(name)
                except ImportError:
                    pass
            self.loading_step = (total - 1, total, "the model library")
            from fmnist_desktop.core.store.library import ModelLibrary

            payload = (ModelLibrary(), _describe_device())
        except FmnistError as exc:
            error = str(exc)
        except Exception as exc:  # noqa: BLE001 — reported to the user and to the log, never a crash
            _log_exception(exc)
            error = f"Could not load the machine-learning engine: {exc}"
        try:
            self._importDone.emit(payload, error)
        except RuntimeError:
            pass  # the window (and this context) closed while torch was loading: nobody to tell

    @Slot(object, str)
    def _on_import_done(self, payload: object, error: str) -> None:
        if error:
            self._import_error = error
            self._device_summary = "unavailable"
            self.torchFailed.emit(error)
            self.show_error("Could not start the model engine", error)
            return
        library, summary = payload  # type: ignore[misc]
        from fmnist_desktop.core.base.threads import serial_in_this_thread

        # Before the GUI thread's first torch op: it must never own an OpenMP pool, or every
        # training and prediction thread runs 1.5x slower (core/threads.py says why).
        serial_in_this_thread()
        self._library = library
        self._device_summary = summary
        self._torch_ready = True
        try:
            self._read_active()
        except FmnistError as exc:
            # An empty library is a normal first-run state, not an error worth a dialog: the
            # status bar and the pages say "no model" and point to Train / Open model.
            self._active, self._active_models = None, []
            self.statusMessage.emit(str(exc))
        self._report_library_repairs()
        self.torchReady.emit()
        self.modelsChanged.emit()
        self.activeModelChanged.emit(self._active)

    def wait_until_ready(self, timeout_s: float | None = None) -> bool:
        """Block until the import thread finished (for scripts/benchmarks, not the GUI thread)."""
        if self._import_thread is None:
            return self._torch_ready
        self._import_thread.join(timeout_s)
        return not self._import_thread.is_alive()

    # ----------------------------------------------------------------- queries
    def is_torch_ready(self) -> bool:
        return self._torch_ready

    def import_error(self) -> str | None:
        return self._import_error

    def library(self):
        """The `core.store.library.ModelLibrary` (only valid after `torchReady`)."""
        if self._library is None:
            raise RuntimeError("the model library is available only after torchReady")
        return self._library

    def active_entry(self):
        """The active `core.store.library.ModelEntry`, or None before torchReady / when none is usable."""
        return self._active

    def active_entries(self) -> list:
        """What answers a dropped image (`library.active_models()`): the active photo model (when
        there is one) first, then the active 28×28 network; [] before torchReady / when none."""
        return list(self._active_models)

    def active_entry_of(self, kind: str):
        """The active model of `kind` ("photo" or "fmnist"), or None."""
        return next((e for e in self._active_models if getattr(e, "kind", None) == kind), None)

    def _read_active(self) -> None:
        """Re-read both kinds' active models from the library (FmnistError when there is none)."""
        self._active_models = list(self._library.active_models())
        self._active = next((e for e in self._active_models if getattr(e, "kind", None) != "photo"), None)

    def device_summary(self) -> str:
        """Where models run: "CPU", "CUDA: NVIDIA H100…", "MPS"; "loading…" before torchReady."""
        return self._device_summary

    # ----------------------------------------------------------------- changes
    def set_active(self, entry_id: str) -> bool:
        """Make a library entry the active model of its kind (photo model or 28×28 network).
        Returns False (and shows why) on failure."""
        try:
            self.library().set_active(entry_id)
            self._read_active()
        except FmnistError as exc:
            self.show_error("Could not switch model", str(exc))
            return False
        self.activeModelChanged.emit(self._active)
        self.modelsChanged.emit()
        chosen = next((e for e in self._active_models if getattr(e, "id", None) == entry_id), self._active)
        name = getattr(chosen, "name", entry_id)
        self.statusMessage.emit(f"Active model: {name}")
        return True

    def refresh_models(self) -> None:
        """Re-read the active entry after the library changed (add/rename/delete/import)."""
        if self._library is None:
            return
        previous = [_entry_key(e) for e in self._active_models]
        try:
            self._read_active()
        except FmnistError as exc:
            self._active, self._active_models = None, []
            self.statusMessage.emit(str(exc))
        self._report_library_repairs()
        self.modelsChanged.emit()
        if previous != [_entry_key(e) for e in self._active_models]:  # either kind's
            self.activeModelChanged.emit(self._active)

    def _report_library_repairs(self) -> None:
        """Tell the user once what the library had to repair (damaged index, vanished files)."""
        take = getattr(self._library, "take_notices", None)
        notices = take() if take is not None else []
        if notices:
            self.show_error("Model library repaired", " ".join(notices))

    # ----------------------------------------------------------------- errors
    def set_dialog_parent(self, widget: QWidget) -> None:
        self._dialog_parent = widget

    def show_error(self, title: str, message: str) -> None:
        """Show a readable error near the user without blocking the event loop.

        The box is window-modal and opened with `open()` rather than `exec()`, so workers keep
        running and tests are never stuck on a dialog.
        """
        self.last_error = (title, message)
        self.errorShown.emit(title, message)
        self.statusMessage.emit(f"{title}: {message}")
        if QApplication.instance() is None:
            return
        box = QMessageBox(self._dialog_parent)
        box.setObjectName("errorDialog")
        box.setIcon(QMessageBox.Icon.Warning)
        box.setWindowTitle(title)
        box.setText(title)
        box.setInformativeText(message)
        box.setStandardButtons(QMessageBox.StandardButton.Ok)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()


def _entry_key(entry) -> tuple:
    if entry is None:
        return (None,)
    return (getattr(entry, "id", None), getattr(entry, "name", None))


def _describe_device() -> str:
    if not edition.has_torch():
        return "CPU (lite edition: onnxruntime)"
    import torch

    if torch.cuda.is_available():
        return f"CUDA: {torch.cuda.get_device_name(0)}"
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return "MPS"
    return "CPU"


def _log_exception(exc: BaseException) -> None:
    write_log("".join(traceback.format_exception(exc)))
