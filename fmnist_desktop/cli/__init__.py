"""`fmnist`: the command-line face of Fashion-MNIST Desktop, over the same core as the GUI.

    fmnist train     [--preset NAME] [--epochs N] [--batch-size B] [--lr LR] [--device D] ...
    fmnist evaluate  [--weights FILE] [--data DIR] [--json]
    fmnist predict   [--weights FILE] [--top-k K] [--json] PATH...
    fmnist models    [--activate ID] [--rename ID NAME] [--delete ID] [--import FILE] [--json]
    fmnist export    [--weights FILE] [--format checkpoint|state_dict|onnx|torchscript] OUT
    fmnist serve     [--weights FILE] [--host H] [--port P] [--workers N] [--token T]
    fmnist tune      [--preset BASE] [--trials N] [--budget 30m] [--study NAME] [--data DIR]

Exit status: 0 success; 2 the input cannot be used (missing or damaged data set, model file or
image, an unavailable device, a bad option value — every `FmnistError` but `SaveError`) and
argparse's usage errors; 1 the work itself failed (training failed once started, a file could
not be written, some images in a prediction batch could not be read, or an unexpected error —
whose traceback goes to the log file, never to the terminal); 130 interrupted with Ctrl-C.

Errors are one line on stderr: `fmnist: error: <message>`.

Subcommands are registered with `@command(...)` (`registry`); adding one is a function that adds
its arguments and a function that runs it, in a module of this package imported below. Console
helpers (the progress bar, Ctrl-C handling) are in `console`.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from pathlib import Path

from .. import __version__
from ..core.base import edition
from ..core.base.errors import FmnistError, SaveError
from ..core.store.logs import CLI_LOG, configure as configure_logging, write_log
from . import evaluate, export, models, predict, serve, train, tune  # noqa: F401 - each registers its subcommands
from .console import ProgressBar, StopOnCtrlC, complain
from .registry import COMMANDS, EXIT_BAD_INPUT, EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, PROG, Command, command

# The order `fmnist --help` lists the subcommands in (the modules register them in import order).
HELP_ORDER = ("train", "evaluate", "predict", "evaluate-photos", "models", "export", "serve", "tune")

__all__ = ["COMMANDS", "Command", "ProgressBar", "StopOnCtrlC", "build_parser", "command", "main"]


# What the lite edition (core.base.edition: no torch) cannot do at all: one line, exit status 2.
NEEDS_TORCH = {"train": "Training a model (fmnist train)", "tune": "Tuning (fmnist tune)"}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Train, evaluate and use Fashion-MNIST clothing classifiers from the command line.",
        epilog="Exit status: 0 ok, 1 the work failed, 2 unusable input, 130 interrupted.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    listed = sorted(COMMANDS.values(), key=lambda c: HELP_ORDER.index(c.name) if c.name in HELP_ORDER else len(HELP_ORDER))
    for cmd in listed:
        p = sub.add_parser(cmd.name, help=cmd.help, description=cmd.help[:1].upper() + cmd.help[1:] + ".")
        cmd.add_arguments(p)
        p.set_defaults(run=cmd.run)
    return parser


def _log_unexpected(argv: list[str] | None) -> Path | None:
    """The traceback of an unexpected error into cli.log; its path, or None (never raises)."""
    return write_log(f"fmnist {__version__} argv={argv!r}\n{traceback.format_exc()}", CLI_LOG)


def main(argv: list[str] | None = None) -> int:
    for stream in (sys.stdout, sys.stderr):
        # A console or pipe in a legacy encoding (Windows cp1252) must not turn a model name
        # with an unusual character into a crash.
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            try:
                reconfigure(errors="replace")
            except (ValueError, OSError):
                pass
    configure_logging(CLI_LOG)
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, usage errors: argparse already printed
        return int(exc.code or 0) if isinstance(exc.code, int) else EXIT_BAD_INPUT
    if args.command in NEEDS_TORCH and not edition.has_torch():
        complain("error", edition.full_edition_line(NEEDS_TORCH[args.command]))
        return EXIT_BAD_INPUT
    try:
        return args.run(args)
    except SaveError as exc:
        complain("error", exc)
        return EXIT_FAILED
    except FmnistError as exc:
        complain("error", exc)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print(f"\n{PROG}: interrupted; nothing half-written was kept.", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader went away (`fmnist predict ... | head`); stay quiet like other tools.
        try:
            sys.stdout = open(os.devnull, "w")
        except OSError:
            pass
        return EXIT_OK
    except Exception as exc:  # noqa: BLE001 — never a traceback on the terminal
        if isinstance(exc, ModuleNotFoundError) and exc.name in ("torch", "torchvision") and not edition.has_torch():
            complain("error", edition.full_edition_line(f"This part of fmnist {args.command}"))
            return EXIT_BAD_INPUT
        log = _log_unexpected(argv if argv is not None else sys.argv[1:])
        where = f"; see log file {log}" if log else ""
        complain("error", f"unexpected {type(exc).__name__}: {exc}{where}")
        return EXIT_FAILED
