"""`fmnist export`: write a model for this app (checkpoint, bare state_dict) or for other
programs (ONNX run with onnxruntime, TorchScript), each verified against the model."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from .console import say, weights_argument, weights_path
from .registry import EXIT_OK, command
from ..core.base import edition
from ..core.base.errors import FmnistError
from ..core.base.output_safety import printable

FORMATS = ("checkpoint", "pt", "state_dict", "onnx", "torchscript")  # pt: the checkpoint, by its file suffix


def _export_arguments(p: argparse.ArgumentParser) -> None:
    weights_argument(p)
    p.add_argument("--kind", choices=("fmnist", "photo"), default="fmnist",
                   help="without --weights: export the active 28×28 network (fmnist, the default) or the active "
                   "photo model (photo: RGB 224×224 in 0..1 in, 11 logits out — the ten classes, then 'none of these')")
    p.add_argument(
        "--format", choices=FORMATS, default="checkpoint",
        help="checkpoint (or pt): the app's model file with its metadata (default); state_dict: the bare weights, as "
        "the origin notebook saved them; onnx: for onnxruntime and other ONNX runtimes (opset 18); "
        "torchscript: for torch.jit.load / libtorch. onnx and torchscript write the preprocessing contract "
        "beside the file (OUT.json) and are verified against the model before they are written",
    )
    p.add_argument("--json", action="store_true", help="print what was written (and the verification) as JSON")
    p.add_argument("out", metavar="OUT", help="file to write")


def _export_lite(args: argparse.Namespace, weights: Path, out: Path) -> int:
    """The lite edition (no torch): ONNX is the model's verified twin, copied, and checkpoint its
    file, copied; a bare state_dict and TorchScript need the full edition."""
    from ..core.base.paths import atomic_write_bytes
    from ..core.store.twins import export_twin

    if out.is_dir():
        raise FmnistError(f"{out} is a folder; give a file name to write.")
    if args.format == "onnx":
        export_twin(weights, out)
    elif args.format in ("checkpoint", "pt"):
        atomic_write_bytes(out, Path(weights).read_bytes())
    else:
        raise edition.NeedsFullEdition(edition.full_edition_line(f"Exporting to {args.format}"))
    size = out.stat().st_size
    if args.json:
        say(json.dumps({"path": str(out), "format": args.format, "size_bytes": size}, indent=2))
    else:
        say(f"Wrote {printable(out)} ({args.format}, {size / 1e6:.2f} MB)")
    return EXIT_OK


@command("export", "write a model to a file of your choice (also ONNX and TorchScript)", _export_arguments)
def _run_export(args: argparse.Namespace) -> int:
    if args.weights or args.kind == "fmnist":
        weights = weights_path(args)
    else:
        from ..core.store.library import ModelLibrary

        weights = ModelLibrary().active(args.kind).path
    out = Path(args.out)
    if not edition.has_torch():
        return _export_lite(args, weights, out)
    from ..core.store.checkpoint import load_checkpoint, save_checkpoint, save_state_dict

    from ..core.jobs.export import check_export_target, share_like_other_files

    previous_mode = check_export_target(out)  # a folder, device, pipe, read-only file or too long a name (issue 17)
    if out.is_dir():
        raise FmnistError(f"{out} is a folder; give a file name to write.")
    if args.format in ("onnx", "torchscript"):
        from ..core.jobs.export import export_model

        result = export_model(weights, out, args.format)
        if args.json:
            say(json.dumps(result.to_dict(), indent=2))
        else:
            say(f"Wrote {printable(out)} ({args.format}, {result.size_bytes / 1e6:.2f} MB) and its contract "
                f"{printable(result.contract_path.name)}")
            say(f"  {result.verification.line()}")
        return EXIT_OK
    state_dict, meta = load_checkpoint(weights)
    if args.format == "state_dict":
        save_state_dict(out, state_dict)
    else:
        save_checkpoint(out, state_dict, meta)
    share_like_other_files(out, previous_mode)
    if args.json:
        say(json.dumps({"path": str(out), "format": args.format, "size_bytes": out.stat().st_size}, indent=2))
    else:
        say(f"Wrote {printable(meta.name)} ({args.format}) to {printable(out)}")
    return EXIT_OK
