"""`fmnist predict`: classify photos or Fashion-MNIST-style images."""

from __future__ import annotations

import argparse
import json

from ..core.base.errors import FmnistError
from ..core.base.formats import count_noun
from ..core.base.output_safety import printable
from .console import ProgressBar, StopOnCtrlC, chosen_device, complain, print_torch_notes, say, weights_argument
from .registry import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, command
from .routing import KIND_COLUMN, WEIGHTS_HELP, model_paths, models_line


def _predict_arguments(p: argparse.ArgumentParser) -> None:
    weights_argument(p, WEIGHTS_HELP)
    p.add_argument("--top-k", type=int, default=3, metavar="K", help="how many classes to show per image (default: 3)")
    p.add_argument("--device", default="cpu", help="auto, cpu, cuda or mps (default: cpu)")
    output = p.add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true", help="print the predictions as one JSON list (at the end)")
    output.add_argument("--jsonl", action="store_true",
                        help="print one JSON object per image as each is classified (JSON Lines)")
    p.add_argument("paths", nargs="+", metavar="PATH", help="image files or folders (searched recursively)")


@command("predict", "classify photos or Fashion-MNIST-style images", _predict_arguments)
def run_predict(args: argparse.Namespace) -> int:
    """Results stream: a table line (or a JSON Lines object) per image as its batch is
    classified, with a progress bar on stderr for several images; `--json` collects one
    document. Names are written with `printable` (a tab or newline in a file name cannot forge
    a line); in JSON a name that is not valid UTF-8 is also kept, base64-encoded, in "path_bytes"."""
    from ..core.base.verdict import format_confidence
    from ..core.jobs.twins import predictor_for
    from ..core.predict.predictor import iter_image_paths

    if not 1 <= args.top_k <= 10:
        raise FmnistError(f"--top-k must be between 1 and 10, not {args.top_k}.")
    files = list(iter_image_paths(args.paths))
    if not files:
        raise FmnistError(f"No images found in {', '.join(printable(p) for p in args.paths)}.")
    # By default the active photo model and 28×28 network together: each image meets the one it suits.
    predictor = predictor_for(model_paths(args), chosen_device(args.device))
    print_torch_notes(predictor)
    bar = ProgressBar("Classifying", len(files)) if len(files) > 1 and not args.json else None

    def format_percent(p: float) -> str:
        return format_confidence(p).replace(" ", "")

    collected: list[dict] = []
    count = failed = 0
    with StopOnCtrlC("Stopping after the current image.") as ctrl_c:
        stream = predictor.iter_predict_paths(
            files, progress=(lambda d, t: bar.update(d)) if bar else None, stop=ctrl_c.stop, top_k=args.top_k,
            files=files,
        )
        for r in stream:
            if bar:
                bar.clear()  # on a terminal: the bar's line, before a result line is printed
            count += 1
            failed += not r.ok
            if args.json:
                collected.append(r.to_dict())
            elif args.jsonl:
                say(json.dumps(r.to_dict(), ensure_ascii=False))
            elif r.ok:
                # Columns: path, best class, its confidence, "sure"/"not sure" (the answering model's
                # own threshold, core.base.verdict), the model that answered (photo / 28×28), the
                # runners-up. Percentages never round up across the threshold.
                others = ", ".join(f"{printable(name)} {format_percent(p)}" for name, p in r.top_k[1:])
                flag = "not sure" if r.not_sure else "sure"
                say(f"{printable(r.path)}\t{printable(r.label)}\t{format_percent(r.confidence)}\t{flag}"
                    f"\t{KIND_COLUMN.get(r.model_kind, r.model_kind)}" + (f"\t({others})" if others else ""))
            else:
                complain("skipped", printable(r.error))
    if bar:
        bar.close()
    if args.json:
        # The documented shape scripts rely on: a list with one object per image.
        say(json.dumps(collected, indent=2, ensure_ascii=False))
    elif not args.jsonl and count > 1:
        say(f"{count - failed} of {count_noun(count, 'image')} classified with {printable(models_line(predictor))}.")
    if count < len(files):
        return EXIT_INTERRUPTED
    return EXIT_FAILED if failed else EXIT_OK
