"""The log files: where they are, rotation, and `write_log` for tracebacks. No Qt, no torch.

`configure(name)` is called once by each face of the app (`app.main` → app.log, `cli.main` →
cli.log): it attaches a rotating file handler to the package's logger, so every
`logging.getLogger(__name__).error(...)` below `fmnist_desktop` (a worker's caught traceback,
say) lands in the log file, in the windowed packaged app too, which has no console.
`write_log(text)` appends a block of text (an unhandled exception's traceback) through the same
handler (setting it up only if nothing has yet in this process); it never raises, because a
logging failure must not cause a second crash. `serve --workers N` processes call `configure`
themselves (`serve.server.app_from_env`). `reset` drops the handler (tests give every test its own
data folder).
"""

from __future__ import annotations

import logging
import logging.handlers
from pathlib import Path

from ..base import paths
from ..base.url_secrets import mask_passwords

APP_LOG = "app.log"
CLI_LOG = "cli.log"
PACKAGE_LOGGER = "fmnist_desktop"
MAX_BYTES = 1_000_000  # per file; with BACKUPS old files that is at most 4 MB of logs
BACKUPS = 3
FORMAT = "--- %(asctime)s %(levelname)s %(name)s ---\n%(message)s"

_active_name = APP_LOG


def log_path(name: str | None = None) -> Path:
    """The log file `name` (default: the one `configure` chose, app.log until then)."""
    return paths.logs_dir() / (name or _active_name)


def _handler_for(logger: logging.Logger) -> logging.handlers.RotatingFileHandler | None:
    for handler in logger.handlers:
        if isinstance(handler, logging.handlers.RotatingFileHandler) and getattr(handler, "_fmnist", False):
            return handler
    return None


def configure(name: str = APP_LOG, level: int = logging.INFO) -> Path | None:
    """Send the package's log records to the rotating file `name`; returns its path (None if the
    folder cannot be written). Calling it again (another name, or after the data folder moved, as
    tests do) replaces the handler instead of adding a second one."""
    global _active_name
    _active_name = name
    logger = logging.getLogger(PACKAGE_LOGGER)
    target = log_path(name)
    handler = _handler_for(logger)
    if handler is not None and Path(handler.baseFilename) == target.resolve():
        return target
    if handler is not None:
        logger.removeHandler(handler)
        handler.close()
    try:
        handler = logging.handlers.RotatingFileHandler(
            target, maxBytes=MAX_BYTES, backupCount=BACKUPS, encoding="utf-8", delay=True
        )
    except OSError:
        return None
    handler._fmnist = True  # type: ignore[attr-defined] - marks the handler this module owns
    handler.setFormatter(_MaskingFormatter(FORMAT, "%Y-%m-%d %H:%M:%S"))
    handler.setLevel(level)
    logger.addHandler(handler)
    if logger.level == logging.NOTSET or logger.level > level:
        logger.setLevel(level)
    return target


class _MaskingFormatter(logging.Formatter):
    """Every log record, traceback included, with storage URLs' passwords masked."""

    def format(self, record: logging.LogRecord) -> str:
        return mask_passwords(super().format(record))


def reset() -> None:
    """Detach and close the handler `configure` attached (the next log call sets one up again)."""
    global _active_name
    logger = logging.getLogger(PACKAGE_LOGGER)
    handler = _handler_for(logger)
    if handler is not None:
        logger.removeHandler(handler)
        handler.close()
    _active_name = APP_LOG


def write_log(text: str, name: str | None = None) -> Path | None:
    """Append `text` (a traceback, say) to the log file; its path, or None when it could not be
    written. Uses the handler `configure` set up; only a process that configured nothing (or a
    different file, `name`) gets one here."""
    logger = logging.getLogger(PACKAGE_LOGGER)
    handler = _handler_for(logger)
    if handler is None or (name is not None and name != _active_name):
        if configure(name or _active_name) is None:
            return None
        handler = _handler_for(logger)
        if handler is None:
            return None
    target = Path(handler.baseFilename)
    record = logger.makeRecord(PACKAGE_LOGGER, logging.ERROR, __file__, 0, text.rstrip("\n"), None, None)
    handler.handle(record)
    try:
        handler.flush()
        return target if target.exists() else None
    except OSError:
        return None
