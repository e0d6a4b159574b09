"""`fmnist predict`: classify photos or Fashion-MNIST-style images."""

from __future__ import annotations

import argparse
import json
import sys

from ..core.errors import FmnistError
from .console import ProgressBar, StopOnCtrlC, chosen_device, say, weights_argument, weights_path
from .registry import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, PROG, command


def _predict_arguments(p: argparse.ArgumentParser) -> None:
    weights_argument(p)
    p.add_argument("--top-k", type=int, default=3, metavar="K", help="how many classes to show per image (default: 3)")
    p.add_argument("--device", default="cpu", help="auto, cpu, cuda or mps (default: cpu)")
    p.add_argument("--json", action="store_true", help="print the predictions as JSON")
    p.add_argument("paths", nargs="+", metavar="PATH", help="image files or folders (searched recursively)")


@command("predict", "classify photos or Fashion-MNIST-style images", _predict_arguments)
def run_predict(args: argparse.Namespace) -> int:
    from ..core.predict import Predictor, iter_image_paths

    if not 1 <= args.top_k <= 10:
        raise FmnistError(f"--top-k must be between 1 and 10, not {args.top_k}.")
    files = list(iter_image_paths(args.paths))
    if not files:
        raise FmnistError(f"No images found in {', '.join(args.paths)}.")
    weights = weights_path(args)
    predictor = Predictor.from_checkpoint(weights, chosen_device(args.device))
    bar = ProgressBar("Classifying", len(files)) if len(files) > 1 and not args.json else None
    with StopOnCtrlC("Stopping after the current image.") as ctrl_c:
        results = predictor.predict_paths(
            files, progress=(lambda d, t: bar.update(d)) if bar else None, stop=ctrl_c.stop, top_k=args.top_k
        )
    if bar:
        bar.close()
    from ..core.verdict import format_confidence

    def format_percent(p: float) -> str:
        return format_confidence(p).replace(" ", "")

    failed = [r for r in results if not r.ok]
    if args.json:
        # The documented shape scripts rely on: a list with one object per image.
        say(json.dumps([r.to_dict() for r in results], indent=2, ensure_ascii=False))
    else:
        for r in results:
            if r.ok:
                # Columns: path, best class, its confidence, "sure"/"not sure" (the model's own
                # threshold, core.verdict), the runners-up. Percentages never round up across it.
                others = ", ".join(f"{name} {format_percent(p)}" for name, p in r.top_k[1:])
                flag = "not sure" if r.not_sure else "sure"
                say(f"{r.path}\t{r.label}\t{format_percent(r.confidence)}\t{flag}" + (f"\t({others})" if others else ""))
        for r in failed:
            print(f"{PROG}: skipped: {r.error}", file=sys.stderr)
        if len(results) > 1:
            say(f"{len(results) - len(failed)} of {len(results)} images classified with {predictor.meta.name}.")
    if len(results) < len(files):
        return EXIT_INTERRUPTED
    return EXIT_FAILED if failed else EXIT_OK
