"""Models page ▸ Local API: start and stop `fmnist serve` for the active model, inside the app.

`serve.server.BackgroundServer` runs uvicorn in a thread of this process on 127.0.0.1 only
(another address is for the command line, which warns about it). Starting (loading the model,
binding the port) and stopping (answering the requests in flight) run as background tasks; the
address is shown as a link to the API's own documentation page.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QGroupBox, QHBoxLayout, QLabel, QPushButton, QSpinBox, QWidget

HOST = "127.0.0.1"


class ServePanel(QGroupBox):
    def __init__(self, context, runner, parent: QWidget | None = None):
        super().__init__("Local API (fmnist serve)", parent)
        self.setObjectName("servePanel")
        self.context = context
        self.runner = runner
        self.server = None  # serve.server.BackgroundServer while it runs
        self.serving_id: str | None = None
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
        self.address.setOpenExternalLinks(True)
        self.address.setWordWrap(True)
        row.addWidget(self.button)
        row.addWidget(self.port_spin)
        row.addWidget(self.address, 1)
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

    def start(self) -> None:
        entry = self.context.active_entry()
        if entry is None or not self._available or self.runner.is_running():
            return
        from ...serve.server import BackgroundServer

        server = BackgroundServer(entry.path, HOST, self.port_spin.value())

        def task(state):
            state.set_progress(None, f"Starting the API server for “{entry.name}”…")
            server.start()
            return server

        def started(running) -> None:
            self.server = running
            self.serving_id = entry.id
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
            self._buttons()
            return
        url = self.server.url
        active = self.context.active_entry()
        note = ""
        if active is not None and active.id != self.serving_id:
            note = " — still serving the previous active model; stop and start to serve the new one"
        self.address.setText(
            f"Serving “{self.server.model_name}” at <a href=\"{url}/docs\">{url}</a> "
            f"(POST {url}/predict){note}")
        self._buttons()

    def shutdown(self, timeout_s: float = 5.0) -> None:
        """Window closing: stop the server here and now (requests in flight get their answer)."""
        if self.server is not None:
            self.server.stop(timeout_s)
            self.server = None
