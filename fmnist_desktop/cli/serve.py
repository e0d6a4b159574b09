"""`fmnist serve`: the model behind a local HTTP API (fmnist_desktop.serve, FastAPI + uvicorn)."""

from __future__ import annotations

import argparse
import os
import re
import signal
from pathlib import Path

from .console import complain, say, weights_argument
from .registry import EXIT_OK, command
from ..core.base.errors import FmnistError


def parse_size(text: str) -> int:
    """ "20MB", "500k", "1.5M", "1048576" → bytes (k/M/G are powers of 1000; KiB/MiB of 1024)."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kmg]i?b?|b)?\s*", text.lower())
    if not m:
        raise FmnistError(f"--max-upload {text!r} is not a size; write e.g. 20MB, 500kB or 1048576.")
    unit = (m.group(2) or "b").rstrip("b") or ""
    factor = {"": 1, "k": 1e3, "m": 1e6, "g": 1e9, "ki": 1024, "mi": 1024**2, "gi": 1024**3}[unit]
    size = int(float(m.group(1)) * factor)
    if size < 1024:
        raise FmnistError("--max-upload must be at least 1 kB.")
    return size


def _serve_arguments(p: argparse.ArgumentParser) -> None:
    from ..serve import DEFAULT_MAX_FILES, ENV_TOKEN

    from .routing import WEIGHTS_HELP

    weights_argument(p, WEIGHTS_HELP)
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default: 127.0.0.1, this computer only; another address "
                   "makes the model reachable from the network and prints a warning)")
    p.add_argument("--port", type=int, default=8000, help="port (default: 8000)")
    p.add_argument("--workers", type=int, default=1, help="server processes, each with its own copy of the model (default: 1)")
    p.add_argument("--threads", type=int, help="inference threads per process (default: one per CPU, at most 4)")
    p.add_argument("--token", help=f"require 'Authorization: Bearer TOKEN' on every request (or set {ENV_TOKEN})")
    p.add_argument("--max-upload", default="20MB", metavar="SIZE", help="largest request body (default: 20MB)")
    p.add_argument("--max-files", type=int, default=DEFAULT_MAX_FILES, metavar="N",
                   help=f"most images in one request (default: {DEFAULT_MAX_FILES})")
    p.add_argument("--device", default="cpu", help="auto, cpu, cuda or mps (default: cpu)")


@command("serve", "serve the model over a local HTTP API (FastAPI; POST /predict, docs at /docs)", _serve_arguments)
def _run_serve(args: argparse.Namespace) -> int:
    from ..serve.server import ENV_TOKEN, check_port_free, is_loopback, require_dependencies, run_server, url_for

    require_dependencies()
    from ..serve.app import ServeSettings

    if not 0 <= args.port <= 65535:
        raise FmnistError(f"--port must be between 0 and 65535, not {args.port}.")
    for flag, value in (("--workers", args.workers), ("--threads", args.threads), ("--max-files", args.max_files)):
        if value is not None and value < 1:
            raise FmnistError(f"{flag} must be at least 1, not {value}.")
    from ..serve.guards import check_token, loopback_hosts

    if args.token is not None:
        check_token(args.token, "--token")  # '' used to switch the token off silently
        token = args.token
    else:
        token = os.environ.get(ENV_TOKEN)
        check_token(token, ENV_TOKEN)
    settings = ServeSettings(max_upload=parse_size(args.max_upload), max_files=args.max_files, token=token,
                             threads=args.threads,
                             allowed_hosts=loopback_hosts(args.host) if is_loopback(args.host) else None)
    from .console import chosen_device

    chosen_device(args.device)  # an unknown or absent device is one error line (exit 2), as in train and tune
    from .routing import model_paths

    weights = model_paths(args)  # by default the active photo model and 28×28 network (each image routed)
    from ..core.base.output_safety import printable

    metas = [_model_meta(w) for w in weights]  # a damaged model file is reported before the port is taken
    check_port_free(args.host, args.port)
    if not is_loopback(args.host):
        complain("warning", f"listening on {args.host}: other computers on the network can use this model"
                 + ("" if token else " (no --token: anyone who can reach the port)") + ".")
    for meta, path in zip(metas, weights):
        say(f"Model: {printable(meta.name)} — {printable(path)}")

    def ready(port: int | None) -> None:
        local = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(args.host, args.host)  # "::" listens on [::1], not always 127.0.0.1
        url = url_for(local, port or args.port)
        say(f"Serving on {url_for(args.host, port or args.port)}  (POST {url}/predict, docs at {url}/docs)")
        from ..serve.shutdown import GRACE_S

        say(f"Press Ctrl-C to stop (requests in flight then get up to {GRACE_S:g} s to finish)."
            + ("  Requests need 'Authorization: Bearer <token>'." if token else ""))

    if args.workers > 1:
        ready(args.port)
    outcome = {}
    stopped_by = run_server(weights, args.host, args.port, settings, workers=args.workers, device=args.device,
                            log_level="warning", on_ready=ready if args.workers == 1 else None,
                            on_stopped=lambda state: outcome.update(summary=state.summary()))
    name = signal.Signals(stopped_by).name if stopped_by else None
    from ..serve.shutdown import GRACE_S

    summary = outcome.get("summary") or f"requests in flight had up to {GRACE_S:g} s to finish, then a 503"
    say("Server stopped" + (f" ({name}); {summary}." if name else "."))
    return EXIT_OK


def _model_meta(path):
    """A model file's metadata: its ONNX twin's (torch-free: the lite edition), else the file's."""
    from ..core.base.edition import require_torch
    from ..core.store.twins import builtin_meta_from_twin

    meta = builtin_meta_from_twin(path)
    if meta is not None:
        return meta
    require_torch(f"Serving {path} (it has no ONNX twin)")
    from ..core.store.checkpoint import read_meta

    return read_meta(path)
