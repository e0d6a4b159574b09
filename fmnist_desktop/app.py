"""Desktop entry point: command-line flags, QApplication set-up, the exception hook, the window.

`main()` handles `--version` and `--self-test` before any Qt object exists (the self-test must
run in a frozen build without a display). torch is NOT imported here: the window is shown first
and the context imports torch in a background thread.

`--startup-probe` (used by bench/bench_startup.py and tests) quits as soon as the window has been
shown and prints one line: `startup-probe shown_s=<seconds since process start> torch_loaded=<bool>`.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import threading
import time
import traceback

from fmnist_desktop import APP_ID, APP_NAME, ORG_NAME, __version__
from fmnist_desktop.core.base import paths
from fmnist_desktop.core.store.logs import APP_LOG, configure as configure_logging, write_log

def _process_age_s() -> float:
    """Seconds since this process started (includes interpreter start-up), best effort."""
    try:
        # Linux: field 22 of /proc/self/stat is the start time in clock ticks since boot.
        with open("/proc/self/stat", encoding="ascii") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        start_ticks = int(fields[19])
        with open("/proc/uptime", encoding="ascii") as uptime:
            up_s = float(uptime.read().split()[0])
        return up_s - start_ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, AttributeError):
        # Not Linux: time since this module was imported (misses interpreter start-up).
        return time.perf_counter() - _MODULE_T0


_MODULE_T0 = time.perf_counter()


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog=APP_ID, description=f"{APP_NAME}: train and use a clothing classifier.")
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    parser.add_argument("--self-test", action="store_true", help="check the installation without a window and exit")
    parser.add_argument("--startup-probe", action="store_true", help=argparse.SUPPRESS)
    # The desktop entry's "Exec=fmnist-desktop %F": images (or folders) opened with the app.
    parser.add_argument("paths", nargs="*", metavar="IMAGE", help="images or folders to classify at start")
    # Qt's own options (-platform offscreen, -style fusion...) pass through to QApplication;
    # argparse would take their values for IMAGEs, so the IMAGEs are picked out here.
    args, _qt_args = parser.parse_known_args(argv)
    args.paths = _image_arguments(argv)
    return args


# Qt options that take a value (QGuiApplication / QApplication documentation).
_QT_OPTIONS_WITH_VALUE = frozenset({
    "-platform", "-platformpluginpath", "-platformtheme", "-plugin", "-qmljsdebugger", "-style",
    "-stylesheet", "-session", "-display", "-geometry", "-name", "-title", "-visual",
    "-qwindowgeometry", "-qwindowicon", "-qwindowtitle", "-qwindowiconname",
})


def _image_arguments(argv: list[str]) -> list[str]:
    paths: list[str] = []
    skip_value = False
    only_paths = False
    for arg in argv:
        if skip_value:
            skip_value = False
        elif only_paths or not arg.startswith("-"):
            paths.append(arg)
        elif arg == "--":
            only_paths = True
        elif arg in _QT_OPTIONS_WITH_VALUE:
            skip_value = True
    return paths


class ExceptionReporter:
    """Unhandled exceptions → log file + a readable dialog; the app keeps running.

    `sys.excepthook` catches exceptions raised in Qt slots and event handlers on the GUI thread
    (PySide6 routes them there and carries on); `threading.excepthook` catches those in Python
    threads, whose report is forwarded to the GUI thread through a queued signal.
    """

    def __init__(self) -> None:
        from PySide6.QtCore import QObject, Qt, Signal

        class _Bridge(QObject):
            report = Signal(str, str)

        self._bridge = _Bridge()
        self._bridge.report.connect(self._show, Qt.ConnectionType.QueuedConnection)
        self._previous_hook = sys.excepthook
        self._previous_thread_hook = threading.excepthook
        self.dialogs_shown = 0

    def install(self) -> None:
        sys.excepthook = self.handle
        threading.excepthook = self._handle_thread

    def uninstall(self) -> None:
        sys.excepthook = self._previous_hook
        threading.excepthook = self._previous_thread_hook

    def handle(self, exc_type, exc, tb) -> None:
        if issubclass(exc_type, KeyboardInterrupt):
            self._previous_hook(exc_type, exc, tb)
            return
        text = "".join(traceback.format_exception(exc_type, exc, tb))
        where = write_log(text)
        print(text, file=sys.stderr)
        self._bridge.report.emit(f"{exc_type.__name__}: {exc}", str(where) if where else "")

    def _handle_thread(self, hook_args) -> None:
        if hook_args.exc_type is SystemExit:
            return
        self.handle(hook_args.exc_type, hook_args.exc_value, hook_args.exc_traceback)

    def _show(self, summary: str, where: str) -> None:
        from PySide6.QtCore import Qt
        from PySide6.QtWidgets import QApplication, QMessageBox

        if QApplication.instance() is None:
            return
        self.dialogs_shown += 1
        box = QMessageBox(QApplication.activeWindow())
        box.setObjectName("unexpectedErrorDialog")
        box.setIcon(QMessageBox.Icon.Critical)
        box.setWindowTitle("Something went wrong")
        box.setText("Something went wrong, but your work and models are safe.")
        details = f"{summary}"
        if where:
            details += f"\n\nThe details were written to {where}. Please include that file if you report this."
        box.setInformativeText(details)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()


def create_application(argv: list[str]):
    """The QApplication, with the names QSettings uses."""
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication(argv)
    app.setOrganizationName(ORG_NAME)
    app.setApplicationName(APP_NAME)
    app.setApplicationVersion(__version__)
    app.setDesktopFileName(APP_ID)
    icon_file = paths.bundled_path("resources/icons/fmnist-desktop.png")
    if icon_file.is_file():
        from PySide6.QtGui import QIcon

        app.setWindowIcon(QIcon(str(icon_file)))
    return app


def main(argv: list[str] | None = None) -> int:
    # In a frozen build, multiprocessing children re-enter main(); this makes them do their job.
    multiprocessing.freeze_support()
    argv = list(sys.argv if argv is None else [sys.argv[0], *argv])
    args = parse_args(argv[1:])
    if args.version:
        print(f"{APP_ID} {__version__}")
        return 0
    if args.self_test:
        # Lazy: the self-test imports torch and must not need a display or a QApplication.
        from fmnist_desktop import selftest

        return int(selftest.main() or 0)

    configure_logging(APP_LOG)  # before the window: every worker's caught traceback lands in app.log
    app = create_application(argv)
    reporter = ExceptionReporter()
    reporter.install()

    from fmnist_desktop.ui.main_window import MainWindow

    window = MainWindow()
    if args.startup_probe:
        from PySide6.QtCore import QTimer

        def report_and_quit() -> None:
            # Called from the event loop right after the first show: the window is on screen.
            print(f"startup-probe shown_s={_process_age_s():.3f} torch_loaded={'torch' in sys.modules}", flush=True)
            window.close()
            # Queued: the event loop is not running yet when this is connected.
            QTimer.singleShot(0, app.quit)

        window.shown.connect(report_and_quit)
        window.show()
    else:
        window.show()
        if args.paths:
            window.open_images(args.paths)
    try:
        return app.exec()
    finally:
        reporter.uninstall()


if __name__ == "__main__":
    raise SystemExit(main())
