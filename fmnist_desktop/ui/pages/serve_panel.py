"""Models page ▸ Local API: start and stop `fmnist serve` for the active models, inside the app.

`serve.server.BackgroundServer` runs uvicorn in a thread of this process on 127.0.0.1 only
(another address is for the command line, which warns about it). It serves what the app answers
with: the active photo model and the active 28×28 network (each image routed, as on the Predict
page and in `fmnist serve`), under the names the app gives them. Starting (loading the models,
binding the port) and stopping (answering the requests in flight) run as background tasks; the
address is shown as a link to the API's own documentation page. Where no browser opens it, the
panel says so and offers to copy the address.
"""

from __future__ import annotations

import html

from PySide6.QtCore import Qt, QUrl
from PySide6.QtGui import QDesktopServices, QGuiApplication
from PySide6.QtWidgets import QGroupBox, QHBoxLayout, QLabel, QPushButton, QSpinBox, QWidget

HOST = "127.0.0.1"
NOWRAP = '<span style="white-space:nowrap">'


class ServePanel(QGroupBox):
    def __init__(self, context, runner, parent: QWidget | None = None):
        super().__init__("Local API (fmnist serve)", parent)
        self.setObjectName("servePanel")
        self.context = context
        self.runner = runner
        self.server = None  # serve.server.BackgroundServer while it runs
        self.serving_id: tuple | None = None  # the ids of the models being served
        row = QHBoxLayout(self)
        self.button = QPushButton("Start server", self)
        self.button.setObjectName("serveButton")
        self.button.clicked.connect(self.toggle)
        self.port_spin = QSpinBox(self)
        self.port_spin.setObjectName("servePortSpin")
        self.port_spin.setRange(1024, 65535)
        self.port_spin.setValue(8000)
        self.port_spin.setPrefix("port ")
        self.address = QLabel("Not running. Other programs can classify images over HTTP on this computer.", self)
        self.address.setObjectName("serveAddress")
        self.address.setTextInteractionFlags(Qt.TextInteractionFlag.TextBrowserInteraction)
        self.address.setOpenExternalLinks(False)  # opened by open_link, which says when it cannot
        self.address.linkActivated.connect(self.open_link)
        self.address.setWordWrap(True)
        self.copy_button = QPushButton("Copy address", self)
        self.copy_button.setObjectName("serveCopyButton")
        self.copy_button.setToolTip("Copy the API's address, to paste into a browser or another program")
        self.copy_button.clicked.connect(self.copy_address)
        self.copy_button.hide()
        self.link_note = QLabel("", self)
        self.link_note.setObjectName("serveLinkNote")
        self.link_note.setWordWrap(True)
        self.link_note.hide()
        self._link: str | None = None
        row.addWidget(self.button)
        row.addWidget(self.port_spin)
        row.addWidget(self.address, 1)
        row.addWidget(self.link_note)
        row.addWidget(self.copy_button)
        from ...serve import INSTALL_HINT, missing_dependencies

        missing = missing_dependencies()
        if missing:
            self.button.setEnabled(False)
            self.port_spin.setEnabled(False)
            self.address.setText(f"Not available: {', '.join(missing)} not installed. {INSTALL_HINT}")
        self._available = not missing
        context.activeModelChanged.connect(lambda _entry: self._describe())

    def is_running(self) -> bool:
        return self.server is not None and self.server.is_running()

    def url(self) -> str | None:
        return self.server.url if self.server is not None else None

    def toggle(self) -> None:
        if self.server is not None:
            self.stop()
        else:
            self.start()

    def open_link(self, url: str) -> None:
        """Open the API's page in the browser; where none opens (no browser, no desktop), say so
        and offer the address to copy instead of doing nothing."""
        self._link = url
        if QDesktopServices.openUrl(QUrl(url)):
            self.link_note.hide()
            self.copy_button.hide()
            return
        self.link_note.setText(f"No web browser could be opened for {url}. Copy the address and open it yourself.")
        self.link_note.show()
        self.copy_button.show()

    def copy_address(self) -> None:
        if self._link:
            QGuiApplication.clipboard().setText(self._link)
            self.link_note.setText(f"Copied {self._link}.")

    def start(self) -> None:
        entries = self.context.active_entries() or [e for e in (self.context.active_entry(),) if e is not None]
        if not entries or not self._available or self.runner.is_running():
            return
        from ...serve.server import BackgroundServer

        server = BackgroundServer([e.path for e in entries], HOST, self.port_spin.value())
        names = " and ".join(f"“{e.name}”" for e in entries)

        def task(state):
            state.set_progress(None, f"Starting the API server for {names}…")
            server.start()
            return server

        def started(running) -> None:
            self.server = running
            self.serving_id = tuple(e.id for e in entries)
            self._describe()

        def failed(message: str) -> None:
            self.address.setText(f"Could not start: {message}")

        self.button.setEnabled(False)
        self.runner.start(task, on_result=started, on_error=failed, on_finished=self._buttons,
                          description="Starting the API server", needs_torch=True)

    def stop(self) -> None:
        server, self.server = self.server, None
        if server is None:
            return

        def task(state):
            state.set_progress(None, "Stopping the API server…")
            server.stop()

        self.button.setEnabled(False)
        self.runner.start(task, on_result=lambda _r: self._describe(), on_error=lambda m: self.address.setText(m),
                          on_finished=self._buttons, description="Stopping the API server")

    def _buttons(self) -> None:
        self.button.setEnabled(self._available)
        self.button.setText("Stop server" if self.server is not None else "Start server")
        self.port_spin.setEnabled(self._available and self.server is None)

    def _describe(self) -> None:
        if self.server is None:
            self.address.setText("Stopped." if self.serving_id else self.address.text())
            self.serving_id = None
            self.link_note.hide()
            self.copy_button.hide()
            self._buttons()
            return
        url = self.server.url
        active = tuple(e.id for e in self.context.active_entries())
        note = ""
        if active and active != self.serving_id:
            note = " — still serving the previous active model; stop and start to serve the new one"
        names = " and ".join(f"“{html.escape(name)}”" for name in self.server.model_names)
        # An address is never broken over two lines ("http://" / "127.0.0.1:8000/predict").
        self.address.setText(
            f"Serving {names} at {NOWRAP}<a href=\"{url}/docs\">{url}</a></span> "
            f"({NOWRAP}POST {url}/predict</span>){note}")
        self._buttons()

    def shutdown(self, timeout_s: float = 5.0) -> None:
        """Window closing: stop the server here and now (requests in flight get their answer)."""
        if self.server is not None:
            self.server.stop(timeout_s)
            self.server = None
