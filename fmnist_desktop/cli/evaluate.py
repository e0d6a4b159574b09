"""`fmnist evaluate` (the Fashion-MNIST test set) and `fmnist evaluate-photos` (labelled real photos)."""

from __future__ import annotations

import argparse
import json

from ..core.base.errors import FmnistError
from ..core.base.output_safety import printable
from .console import ProgressBar, StopOnCtrlC, chosen_device, complain, print_torch_notes, say, weights_argument, weights_path
from .registry import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, command


def _evaluate_arguments(p: argparse.ArgumentParser) -> None:
    weights_argument(p)
    p.add_argument("--data", metavar="DIR", help="folder holding the Fashion-MNIST test files (default: search the usual places)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or mps (default: auto)")
    p.add_argument("--json", action="store_true", help="print the results as JSON")


@command("evaluate", "measure a model on the 10,000 Fashion-MNIST test images", _evaluate_arguments)
def run_evaluate(args: argparse.Namespace) -> int:
    from ..core.jobs import evaluate as evaluate_job
    from ..core.jobs.state import PlainState

    weights = weights_path(args)
    device = chosen_device(args.device)
    bar = ProgressBar("Evaluating", 0) if not args.json else None

    def progress(_fraction, _message, done, total) -> None:
        if bar is not None and done is not None:
            bar.total = total
            bar.update(done)

    with StopOnCtrlC("Stopping the evaluation.") as ctrl_c:
        done = evaluate_job.run(evaluate_job.EvaluateInputs(weights, args.data, device=device, use_twin=True),
                                PlainState(ctrl_c.stop, on_progress=progress))
    if bar:
        bar.close()
    if done is None:
        say("Evaluation stopped.")
        return EXIT_INTERRUPTED
    result, meta, split, source = done.result, done.meta, done.split, done.source
    if done.engine_note:
        complain("note", done.engine_note)
    if args.json:
        out = evaluate_job.report(result, name=meta.name, path=weights, preset=meta.preset,
                                  data_source=source.description)
        say(json.dumps(out, indent=2, ensure_ascii=False))
        return EXIT_OK
    say(f"Model: {printable(meta.name)} ({printable(meta.preset or meta.arch)}) — {printable(weights)}")
    say(f"Data: {source.description}, {len(split):,} test images")
    say(f"Test Accuracy: {result.accuracy:.2f}% (loss {result.loss:.4f})")
    say("")
    say(f"{'class':<12} {'precision':>9} {'recall':>7} {'f1':>6} {'support':>8}")
    for row in result.per_class:
        say(f"{row['name']:<12} {row['precision']:8.1f}% {row['recall']:6.1f}% {row['f1']:5.1f}% {row['support']:8,}")
    confused = result.most_confused(3)
    if confused:
        say("")
        say("Most confused: " + "; ".join(f"{t} taken for {p} ×{n}" for t, p, n in confused))
    return EXIT_OK


def _evaluate_photos_arguments(p: argparse.ArgumentParser) -> None:
    from .routing import WEIGHTS_HELP

    weights_argument(p, WEIGHTS_HELP)
    p.add_argument("--pipeline", choices=("app", "notebook", "simple"), default="app",
                   help="photo preprocessing: app (the app's photo pipeline), notebook (the origin "
                   "notebook's Resize/Grayscale/Normalize) or simple (trim, invert, pad) (default: app)")
    p.add_argument("--device", default="cpu", help="auto, cpu, cuda or mps (default: cpu)")
    p.add_argument("--json", action="store_true", help="print the results (with per-file predictions) as JSON")
    p.add_argument("folder", metavar="DIR", help="folder with <index>_<name>/ subfolders of labelled photos")


@command("evaluate-photos", "measure a model on a folder of labelled real photos", _evaluate_photos_arguments)
def run_evaluate_photos(args: argparse.Namespace) -> int:
    from ..core.jobs.twins import predictor_for
    from ..core.predict.routed_eval import evaluate_photo_folder_routed
    from .routing import model_paths, models_line

    # By default the active photo model and 28×28 network together, as `fmnist predict` and the
    # app classify a dropped photo; --pipeline notebook/simple compare the 28×28 network's inputs.
    routed = args.pipeline == "app"  # the app's own answers: the ONNX twins, through the Predictor's routing
    if routed:
        weights_list = model_paths(args)
        predictor = predictor_for(weights_list, chosen_device(args.device))
        print_torch_notes(predictor)
    else:  # the notebook's and the simple pipeline feed the active 28×28 network's torch model
        from ..core.predict.predictor import Predictor

        weights_list = [weights_path(args)]
        predictor = Predictor.from_checkpoints(weights_list, chosen_device(args.device), use_twins=False)
    if "photo" in predictor.slots and args.pipeline != "app":
        raise FmnistError(f"--pipeline {args.pipeline} prepares photos for a 28×28 network; "
                          f"{printable(weights_list[0])} is a photo model.")
    weights = weights_list[0]
    bar = ProgressBar("Preparing photos", 0) if not args.json else None

    def progress(done: int, total: int) -> None:
        bar.total = total
        bar.update(done)

    with StopOnCtrlC("Stopping after the current photo.") as ctrl_c:
        if routed:
            result = evaluate_photo_folder_routed(predictor, args.folder, progress=progress if bar else None,
                                                  stop=ctrl_c.stop)
        else:
            from ..core.predict.photo_eval import evaluate_photo_folder  # the torch pipelines

            result = evaluate_photo_folder(predictor, args.folder, args.pipeline,
                                           progress=progress if bar else None, stop=ctrl_c.stop)
    if bar:
        bar.close()
    if args.json:
        out = json.loads(result.to_json())
        out["model"] = {"path": str(weights), "name": predictor.meta.name, "preset": predictor.meta.preset}
        out["models"] = [{"kind": kind, "name": slot.meta.name, "path": str(path)}
                         for (kind, slot), path in zip(predictor.slots.items(), weights_list)]
        say(json.dumps(out, indent=2, ensure_ascii=False))
    else:
        say(f"Model: {printable(models_line(predictor))} — {', '.join(printable(p) for p in weights_list)}")
        say(f"Photos: {printable(args.folder)} ({result.n} read, pipeline {args.pipeline})")
        say(result.table())
        for record in result.files:
            if record["error"]:
                complain("skipped", printable(record['error']))
    if ctrl_c.stop.is_set():
        return EXIT_INTERRUPTED
    return EXIT_FAILED if result.errors else EXIT_OK  # like predict: some photos could not be read
