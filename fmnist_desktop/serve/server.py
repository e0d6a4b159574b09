"""Running the API: in the foreground with uvicorn (the CLI) or in a background thread (the GUI).

Uvicorn's own shutdown is the graceful one: on SIGTERM or Ctrl-C it stops accepting, lets the
requests in flight finish, then the app's lifespan closes the inference pool, and the process
exits 0. The app's `serve.shutdown.ShutdownGuard` bounds the wait: a request still running
`shutdown.GRACE_S` (10 s) after the signal is answered with a JSON 503, well before uvicorn's own
`GRACEFUL_S` would cancel it with a traceback and a plain-text 500.
"""

from __future__ import annotations

import errno
import ipaddress
import json
import os
import socket
import sys
import threading
import time
from dataclasses import asdict
from pathlib import Path

from ..core.base.errors import FmnistError
from . import INSTALL_HINT, missing_dependencies
from .app import ServeSettings, create_app
from .guards import loopback_hosts

ENV_CONFIG = "FMNIST_SERVE_CONFIG"  # how `--workers N` hands the settings to each worker process
from . import ENV_TOKEN  # noqa: E402,F401 — importable from here too
GRACEFUL_S = 30


def require_dependencies() -> None:
    missing = missing_dependencies()
    if missing:
        raise FmnistError(f"Serving needs {', '.join(missing)}, which {'is' if len(missing) == 1 else 'are'} not installed.", INSTALL_HINT)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_port_free(host: str, port: int) -> None:
    """FmnistError naming the port when something already listens there (before the model loads)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        numeric = all(ch.isdigit() or ch == "." for ch in host) or ":" in host  # no DNS look-up for those
        socket.getaddrinfo(host, port, family, socket.SOCK_STREAM, 0, socket.AI_NUMERICHOST if numeric else 0)
    except (socket.gaierror, UnicodeError) as exc:  # "999.1.1.1", a name that does not resolve
        raise FmnistError(f"Cannot listen on {host!r}: it is not a valid address or known host name ({exc}).",
                          "Use 127.0.0.1 (this computer only), 0.0.0.0 (every network) or an address of this computer.") from None
    if port == 0:
        return
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno in (errno.EADDRNOTAVAIL, errno.EAFNOSUPPORT, errno.EINVAL):
                raise FmnistError(f"Cannot listen on {host}: it is not an address of this computer ({exc.strerror or exc}).",
                                  "Use 127.0.0.1 (this computer only) or an address this computer has.") from None
            raise FmnistError(
                f"Cannot listen on {host}:{port} ({exc.strerror or exc}).",
                "Another program (or another fmnist serve) may be using it; choose another --port.",
            ) from None


def url_for(host: str, port: int) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"


def load_app(weights, settings: ServeSettings, device: str = "cpu"):
    """`weights`: one model file, or several (the photo model and the 28×28 network: each image
    goes to the one it suits, and each result names the model that answered)."""
    from ..core.base.output_safety import terminal_text
    from ..core.jobs.twins import predictor_for
    from ..core.store.logs import write_log

    files = [weights] if isinstance(weights, (str, os.PathLike)) else list(weights)
    predictor = predictor_for(files, device)  # the ONNX twins answer; torch only where one cannot be made
    for note in predictor.torch_notes:
        print(f"fmnist serve: note: {terminal_text(note, one_line=True)}", file=sys.stderr)
        write_log(note)
    return create_app(predictor, settings, source=str(files[0])), predictor


def app_from_env():
    """Uvicorn's factory for worker processes (`--workers N`): settings come from ENV_CONFIG.
    Each worker is a new process, so it sets up its own logging (the CLI's log, as the parent)."""
    from ..core.store.logs import CLI_LOG, configure

    configure(CLI_LOG)
    raw = json.loads(os.environ[ENV_CONFIG])
    settings = ServeSettings(**raw["settings"], token=os.environ.get(ENV_TOKEN) or None)
    app = load_app(raw["weights"], settings, raw.get("device", "cpu"))[0]
    _chain_shutdown_to_signals(app)
    return app


def _chain_shutdown_to_signals(app) -> None:
    """In a `--workers N` process uvicorn's own Server handles SIGTERM/SIGINT (its handlers are
    installed before the app factory runs): call the app's grace period first, then its handler."""
    import signal

    if threading.current_thread() is not threading.main_thread():
        return
    for sig in (signal.SIGINT, signal.SIGTERM):
        previous = signal.getsignal(sig)
        if not callable(previous):
            continue

        def handler(signum, frame, previous=previous):
            _begin_shutdown(app)
            previous(signum, frame)

        signal.signal(sig, handler)


def _quiet_server_class():
    import uvicorn

    class Server(uvicorn.Server):
        """Uvicorn's server, but a SIGTERM / Ctrl-C that it has handled gracefully ends
        `run_server` normally (exit status 0) instead of being re-raised after the shutdown."""

        stopped_by: int | None = None

        def handle_exit(self, sig, frame):
            super().handle_exit(sig, frame)
            self.stopped_by = sig
            self._captured_signals.clear()
            _begin_shutdown(self.config.app)

    return Server


def run_server(
    weights: str | os.PathLike[str],
    host: str = "127.0.0.1",
    port: int = 8000,
    settings: ServeSettings | None = None,
    workers: int = 1,
    device: str = "cpu",
    log_level: str = "info",
    on_ready=None,
    on_stopped=None,
) -> int | None:
    """Serve in the foreground until SIGTERM / Ctrl-C: the requests in flight finish, then it
    returns the signal that stopped it (None when it stopped otherwise)."""
    import uvicorn

    settings = settings or ServeSettings()
    if workers > 1:
        files = [weights] if isinstance(weights, (str, os.PathLike)) else list(weights)
        env = {"weights": [str(Path(w).resolve()) for w in files], "device": device,
               "settings": {k: v for k, v in asdict(settings).items() if k != "token"}}
        os.environ[ENV_CONFIG] = json.dumps(env)
        if settings.token:
            os.environ[ENV_TOKEN] = settings.token
        uvicorn.run("fmnist_desktop.serve.server:app_from_env", factory=True, host=host, port=port, workers=workers,
                    log_level=log_level, timeout_graceful_shutdown=GRACEFUL_S, access_log=False)
        return None
    app, _ = load_app(weights, settings, device)
    config = uvicorn.Config(app, host=host, port=port, log_level=log_level, timeout_graceful_shutdown=GRACEFUL_S,
                            access_log=False, lifespan="on")
    server = _quiet_server_class()(config)
    if on_ready is not None:
        threading.Thread(target=_call_when_started, args=(server, on_ready), daemon=True).start()
    server.run()
    if on_stopped is not None:
        on_stopped(app.state.shutdown)  # what happened to the requests in flight (ShutdownState)
    return server.stopped_by


def _call_when_started(server, on_ready) -> None:
    while not server.started and not server.should_exit:
        time.sleep(0.02)
    if server.started:
        on_ready(_bound_port(server))


def _bound_port(server) -> int | None:
    try:
        return int(server.servers[0].sockets[0].getsockname()[1])
    except (AttributeError, IndexError):
        return None


class BackgroundServer:
    """The API in a background thread of this process (the GUI's Start/Stop server).

    `start()` loads the model, binds, and returns the address once the server accepts requests
    (FmnistError when the port is taken or the model cannot be loaded); `stop()` finishes the
    requests in flight and joins the thread. Port 0 picks a free port.
    """

    def __init__(self, weights, host: str = "127.0.0.1", port: int = 8000, settings: ServeSettings | None = None):
        # One model file, or several (the active photo model and 28×28 network: each image routed).
        self.weights = Path(weights) if isinstance(weights, (str, os.PathLike)) else [Path(w) for w in weights]
        self.host = host
        self.port = port
        self.settings = settings or ServeSettings(threads=1, allowed_hosts=loopback_hosts(host) if is_loopback(host) else None)
        self._server = None
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        self.model_name = ""
        self.model_names: list[str] = []

    @property
    def url(self) -> str | None:
        return url_for(self.host, self.port) if self.is_running() else None

    def is_running(self) -> bool:
        return self._thread is not None and self._thread.is_alive() and self._server is not None and self._server.started

    def start(self, timeout_s: float = 30.0) -> str:
        import uvicorn

        require_dependencies()
        if self._thread is not None and self._thread.is_alive():
            raise FmnistError("The server is already running.")
        check_port_free(self.host, self.port)
        app, predictor = load_app(self.weights, self.settings)
        app.state.shutdown.grace_s = 3.0  # under this server's timeout_graceful_shutdown (5 s)
        self.model_name = predictor.meta.name
        self.model_names = [slot.meta.name for slot in predictor.slots.values()]  # the primary first
        config = uvicorn.Config(app, host=self.host, port=self.port, log_level="warning",
                                timeout_graceful_shutdown=5, access_log=False, lifespan="on")
        self._server = uvicorn.Server(config)
        self._error = None

        def run() -> None:
            try:
                self._server.run()
            except BaseException as exc:  # noqa: BLE001 — uvicorn exits with SystemExit when it cannot bind
                self._error = exc

        self._thread = threading.Thread(target=run, name="fmnist-serve", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._server.started:
                self.port = _bound_port(self._server) or self.port
                return url_for(self.host, self.port)
            if not self._thread.is_alive():
                break
            time.sleep(0.02)
        self.stop()
        raise FmnistError(f"The server could not start on {self.host}:{self.port}.",
                          "Another program may be using the port; choose another.")

    def stop(self, timeout_s: float = 10.0) -> None:
        if self._server is not None:
            _begin_shutdown(self._server.config.app)
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout_s)
        self._thread = None
        self._server = None


def _begin_shutdown(app) -> None:
    """Start the app's grace period for the requests in flight (serve.shutdown)."""
    state = getattr(getattr(app, "state", None), "shutdown", None)
    if state is not None:
        state.begin()
