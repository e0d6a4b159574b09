"""Console helpers shared by the subcommands: the text progress bar, Ctrl-C handling, output."""

from __future__ import annotations

import math
import shutil
import signal
import sys
import threading
import time
from pathlib import Path
from typing import TextIO


class ProgressBar:
    """A one-line text progress bar on stderr.

    On a terminal it redraws in place (carriage return) at most ten times a second; when stderr
    is a file or a pipe (CI logs) it prints a plain line at each quarter instead, so logs stay short.
    """

    def __init__(self, label: str, total: int, stream: TextIO | None = None, unit: str = ""):
        self.label = label
        self.total = max(0, int(total))
        self.stream = stream or sys.stderr
        self.unit = unit
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self._last_draw = -math.inf  # the first update always draws
        self._last_quarter = -1
        self._drawn = False

    def _amount(self, n: int) -> str:
        if self.unit == "bytes":
            return f"{n / 1e6:.1f}"
        return f"{n:,}"

    def _line(self, done: int, extra: str) -> str:
        frac = min(1.0, done / self.total) if self.total else 1.0
        width = 24
        filled = int(round(frac * width))
        bar = "#" * filled + "-" * (width - filled)
        unit = " MB" if self.unit == "bytes" else ""
        text = f"{self.label} [{bar}] {frac * 100:3.0f}% {self._amount(done)}/{self._amount(self.total)}{unit}"
        return f"{text} {extra}".rstrip()

    def update(self, done: int, extra: str = "") -> None:
        if self.tty:
            now = time.monotonic()
            if now - self._last_draw < 0.1 and done < self.total:
                return
            self._last_draw = now
            columns = shutil.get_terminal_size((100, 20)).columns
            self.stream.write("\r" + self._line(done, extra)[: columns - 1].ljust(columns - 1))
            self.stream.flush()
            self._drawn = True
        else:
            quarter = int(4 * done / self.total) if self.total else 4
            if quarter > self._last_quarter and (quarter > 0 or done == 0):
                self._last_quarter = quarter
                self.stream.write(self._line(done, extra) + "\n")
                self.stream.flush()

    def clear(self) -> None:
        """Wipe the bar's line on a terminal so other output can be printed; the next update
        draws it again."""
        if self.tty and self._drawn:
            columns = shutil.get_terminal_size((100, 20)).columns
            self.stream.write("\r" + " " * (columns - 1) + "\r")
            self.stream.flush()
            self._drawn = False
            self._last_draw = -math.inf

    def close(self) -> None:
        if self.tty and self._drawn:
            columns = shutil.get_terminal_size((100, 20)).columns
            self.stream.write("\r" + " " * (columns - 1) + "\r")
            self.stream.flush()
            self._drawn = False


def say(*parts: object) -> None:
    """Print a result on stdout at once (pipes see it immediately), with every character a
    terminal would act on escaped (`output_safety.terminal_text`; JSON stays valid JSON)."""
    from ..core.base.output_safety import terminal_text

    print(terminal_text(" ".join(str(part) for part in parts)), flush=True)


def complain(label: str, message: object) -> None:
    """`fmnist: <label>: <message>` on stderr as one line, whatever the message holds (a file or
    model name with ESC, a newline or a right-to-left override): the one printer of errors,
    notes and warnings."""
    from ..core.base.output_safety import terminal_text

    print(f"fmnist: {label}: {terminal_text(message, one_line=True)}", file=sys.stderr, flush=True)


def weights_path(args) -> Path:
    """The model file `--weights FILE` names, or the library's active model (the default)."""
    if getattr(args, "weights", None):
        return Path(args.weights)
    from ..core.store.library import ModelLibrary

    return ModelLibrary().active().path


def chosen_device(name: str):
    """The torch device `--device NAME` asks for (a `TrainingError` when it is not available);
    "cpu" as it is, so that answering on the CPU never imports torch (the lite edition: "auto" too)."""
    from ..core.base import edition

    if name == "cpu" or (name == "auto" and not edition.has_torch()):
        return "cpu"
    edition.require_torch(f"Running on {name}")
    from ..core.learn.training import resolve_device

    return resolve_device(name)


def print_torch_notes(predictor) -> None:
    """`fmnist: note: <model> is answered by torch: <why>` for each model without an ONNX twin
    (through `complain`, so a model name cannot put control characters on the terminal)."""
    for note in getattr(predictor, "torch_notes", ()):
        complain("note", note)


def weights_argument(p, help: str = "model file (default: the library's active model)") -> None:
    p.add_argument("--weights", metavar="FILE", help=help)


_NOT_INSTALLED = object()


class StopOnCtrlC:
    """First Ctrl-C sets `stop` (the work ends cleanly after the current batch); a second one
    interrupts at once. Restores the previous handler on exit."""

    def __init__(self, message: str):
        self.stop = threading.Event()
        self.message = message
        self._previous = _NOT_INSTALLED

    def _handle(self, signum, frame):
        if self.stop.is_set():
            raise KeyboardInterrupt
        self.stop.set()
        sys.stderr.write(f"\n{self.message} (press Ctrl-C again to quit at once)\n")
        sys.stderr.flush()

    def __enter__(self) -> "StopOnCtrlC":
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        # Exactly the handler found on entry: SIG_IGN for a background job, or None when it was
        # set outside Python (then the default stands in, as Python cannot reinstall it).
        if self._previous is not _NOT_INSTALLED:
            signal.signal(signal.SIGINT, signal.SIG_DFL if self._previous is None else self._previous)


def print_preset_notices() -> None:
    """`fmnist: note: ...` on stderr for each entry of the user's presets.json that is set aside
    (a wrong type, an unusable name), as the library's repairs are reported. The notices
    escape the names themselves."""
    from ..core.store.user_presets import preset_notices

    for notice in preset_notices():
        complain("note", notice)
