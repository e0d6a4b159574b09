"""What a finished training run becomes, written once for every way of training.

The Train page, Retrain, fine-tuning with the user's photos and `fmnist train` all end the same
way, in this order:

1. `finish_run(finished, data, ...)`: evaluate the trained model on the test split (stoppable;
   a failed or stopped evaluation leaves the model without a test score, never unsaved), build
   its `CheckpointMeta` (name, metrics, training summary, history: the same fields whichever path
   trained it) and, for a fine-tuning run, compare it with the model it started from (the new
   model's test score is measured once, here, and handed to the comparison).
2. `save_run(run, library)` adds it to the model library (or `save_run(run, out=path)` writes a
   file); a `SaveError` leaves the caller holding `run.model`/`run.meta` to try elsewhere.

No Qt here: the GUI calls these in its training task, the CLI in the terminal.
"""

from __future__ import annotations

import logging
import traceback
from pathlib import Path
from typing import Any, Callable, Sequence

from ..learn import evaluation
from ..store.checkpoint import CheckpointMeta, save_checkpoint
from ..base.errors import FmnistError, SaveError, describe_exception
from ..store.user_presets import get_preset
from .train import RunOutcome

log = logging.getLogger(__name__)

EVAL_BATCH_SIZE = 250  # small batches, so Stop answers within ~0.3 s on a CPU
# A finished run, its kinds and a fine-tuned model's name need no torch (the photo head's
# fine-tune makes one without it): they live in run_record and are importable from here too.
from .run_record import _FIGURES, _FINETUNED, _NOTES, KIND_FINETUNE, KIND_TRAIN, FinishedRun, finetuned_name  # noqa: E402,F401


def run_name(title: str, epochs: int, test_accuracy: float | None, kind: str = KIND_TRAIN) -> str:
    """"Fast – 3 epochs – 91.84%"; fine-tuning runs start with "Fine-tuned"."""
    prefix = f"Fine-tuned {title}" if kind == KIND_FINETUNE else title
    score = f" – {test_accuracy:.2f}%" if test_accuracy is not None else ""
    return f"{prefix} – {epochs} epoch{'s' if epochs != 1 else ''}{score}"


def run_meta(finished, data, test, *, kind: str = KIND_TRAIN, name: str | None = None,
             parent_name: str | None = None) -> CheckpointMeta:
    """The metadata of a finished run: the same fields whether the GUI or the CLI trained it."""
    config = finished.config
    preset = _preset_of(config)
    metrics: dict[str, Any] = {}
    if finished.history:
        last = finished.history[-1]
        metrics.update(val_accuracy=float(last.val_acc), val_loss=float(last.val_loss),
                       train_accuracy=float(last.train_acc))
    if test is not None:
        metrics.update(test_accuracy=float(test.accuracy), test_loss=float(test.loss))
    calibration = getattr(finished, "calibration", None)
    if getattr(config, "init_checkpoint", None) and kind != KIND_FINETUNE:  # a fine-tune: finetune_thresholds
        calibration = _thresholds_after_init(config.init_checkpoint, calibration)
    if calibration:  # trained with photos: its own "not sure" threshold (core.base.verdict)
        metrics.update(calibration)
    training = config.summary()
    training.update(
        kind=kind,
        device=finished.device,
        elapsed_s=round(float(finished.elapsed_s), 2),
        data_source=data.source.description,
        n_train=len(data.train),
        n_val=len(data.val),
    )
    accuracy = float(test.accuracy) if test is not None else None
    if name is None and kind == KIND_FINETUNE and parent_name:
        name = finetuned_name(parent_name, f" – {accuracy:.2f}%" if accuracy is not None else "")
    # From the recipe itself (not looked up by name): a tuning trial's recipe is no named preset.
    return CheckpointMeta(
        name=name or run_name(preset.title, len(finished.history), accuracy, kind),
        preset=preset.name,
        arch=preset.arch,
        input_size=preset.input_size,
        mean=preset.mean,
        std=preset.std,
        metrics=metrics,
        training=training,
        history=[e.to_dict() for e in finished.history],
    )


def finish_run(
    finished,
    data,
    *,
    kind: str = KIND_TRAIN,
    name: str | None = None,
    examples: Sequence[Any] = (),
    parent_name: str | None = None,
    stop=None,
    status: Callable[[str], None] | None = None,
    test_progress: Callable[[int, int], None] | None = None,
    eval_device: str | None = "cpu",
    eval_batch_size: int = EVAL_BATCH_SIZE,
) -> FinishedRun:
    """Evaluate a `training.Finished` run on `data.test` and describe it (see the module docstring).

    `stop` (anything with `is_set()`) ends the evaluation and the fine-tuning comparison between
    batches: the run is still returned, without those figures. `status(text)` hears each step.
    `eval_device=None` evaluates where the run trained. A fine-tune (`kind=KIND_FINETUNE`) is named
    after `parent_name` (the model it started from, as the library lists it) and keeps a calibrated
    "not sure" threshold (`finetune_thresholds`).
    """
    say = status or (lambda _text: None)
    say("Evaluating the new model on the test set…")
    test, evaluation_error = None, None
    try:
        test = evaluation.evaluate(
            finished.model, data.test, *_input_spec(finished.config),
            device=eval_device or finished.device, batch_size=eval_batch_size, progress=test_progress, stop=stop,
        )
    except Exception as exc:  # noqa: BLE001 - e.g. out of memory: the trained model is still kept
        log.error("Test-set evaluation after training failed:\n%s", traceback.format_exc())
        evaluation_error = describe_exception(exc)
    meta = run_meta(finished, data, test, kind=kind, name=name, parent_name=parent_name)
    run = FinishedRun(finished.model, meta, test, evaluation_error)
    if kind == KIND_FINETUNE:
        meta.metrics.update(finetune_thresholds(finished, examples, parent_name, stop))
    if kind == KIND_FINETUNE and not (stop is not None and stop.is_set()):
        from . import finetune

        say("Comparing with the model before fine-tuning…")
        report = finetune.before_after_report(
            finished.config.init_checkpoint, (finished.model, meta), examples, test_split=data.test, stop=stop,
            after_test_accuracy=None if test is None else float(test.accuracy) / 100,
        )
        if report is not None:
            run.finetune_report = report
            meta.metrics["finetune"] = {"before_test": report.before_fashion_mnist,
                                        "after_test": report.after_fashion_mnist,
                                        "before_photos": report.before_user, "after_photos": report.after_user}
    return run


def _thresholds_after_init(init_checkpoint, calibration):
    """A run that started from a model file keeps that model's thresholds unless it calibrated
    its own on enough held-out photos (`calibration.started_from_parent`)."""
    from ..learn.calibration import started_from_parent
    from ..store.checkpoint import read_meta
    from ..store.library import shipped_name

    try:
        parent = read_meta(init_checkpoint)
    except FmnistError:  # the parent vanished since training began: its own calibration, if any
        return calibration
    return started_from_parent(calibration, shipped_name(init_checkpoint) or parent.name, parent.metrics)


def finetune_thresholds(finished, examples: Sequence[Any], parent_name: str | None, stop=None) -> dict[str, Any]:
    """A fine-tuned 28×28 network's "not sure" thresholds (`calibration.finetuned_thresholds`, the
    rule the photo model's fine-tune follows too): recalibrated on the user's kept-out photos when
    there are enough, else the parent's. Stopped: the parent's, without running the model."""
    from ..learn import calibration
    from ..store.checkpoint import read_meta
    from ..store.user_photos import examples_to_arrays, split_examples

    parent = read_meta(finished.config.init_checkpoint)
    probs = labels = None
    _, kept = split_examples(examples)
    if len(kept) >= calibration.MIN_CALIBRATION_PHOTOS and not (stop is not None and stop.is_set()):
        images, labels, _ = examples_to_arrays(kept)
        if len(labels):
            probs = calibration.probabilities(finished.model, images, *_input_spec(finished.config))
    return calibration.finetuned_thresholds(parent_name or parent.name, parent.metrics, probs, labels)


def _preset_of(config):
    """The run's Preset: `config.preset` is a name, or (tuning trials) a Preset object."""
    return config.preset_obj() if hasattr(config, "preset_obj") else get_preset(config.preset)


def _input_spec(config) -> tuple[int, float, float]:
    preset = _preset_of(config)
    return preset.input_size, preset.mean, preset.std


def save_run(run: FinishedRun, library=None, *, out: str | Path | None = None, make_active: bool = False):
    """Add the run to `library` (a `core.store.library.ModelLibrary`; returns the `ModelEntry`), or write
    it to the file `out` (returns its path). Raises `SaveError` with the model still in `run`, and
    FmnistError for a model whose weights or figures are not finite numbers (a run that diverged:
    saved and made active, it made every later prediction fail)."""
    check_finite_run(run)
    if out is not None:
        return save_checkpoint(out, run.model, run.meta)
    entry = library.add(run.model, run.meta)
    if make_active:
        library.set_active(entry.id)
    return entry


def check_finite_run(run: FinishedRun) -> None:
    import math

    if hasattr(run.model, "non_finite_names"):  # a photo head fine-tune's model (store.pt_file.HeadOnParent)
        bad = run.model.non_finite_names()
    else:
        import torch

        state = run.model.state_dict() if hasattr(run.model, "state_dict") else run.model
        bad = [key for key, value in state.items() if isinstance(value, torch.Tensor) and value.is_floating_point()
               and not bool(torch.isfinite(value).all())]
    if bad:
        raise FmnistError(f"The trained model's weights are not finite numbers ({bad[0]}{' and more' if len(bad) > 1 else ''}): "
                          "training diverged; nothing was saved.", "Try a smaller learning rate.")
    metrics = run.meta.metrics if isinstance(run.meta.metrics, dict) else {}
    accuracy = metrics.get("test_accuracy")  # (a validation score may be NaN: no images held out)
    if isinstance(accuracy, float) and not math.isfinite(accuracy):
        raise FmnistError("The trained model's accuracy is not a number: training diverged; nothing was saved.",
                          "Try a smaller learning rate.")


def stopped_run(cancelled, data, *, kind: str = KIND_TRAIN, parent_name: str | None = None) -> FinishedRun | None:
    """The best finished epoch of a stopped run (`training.Cancelled.best`) as a run to save, named
    "… (stopped early)", without a test score (the user stopped); None when no epoch finished.
    The Train page holds it until the user saves or discards it; `fmnist train` saves it. A stopped
    fine-tune keeps its parent's "not sure" thresholds."""
    best = getattr(cancelled, "best", None)
    if best is None or data is None:
        return None
    if kind == KIND_FINETUNE and parent_name:
        name = f"{finetuned_name(parent_name)} (stopped early)"
    else:
        name = f"{run_name(_preset_of(best.config).title, len(best.history), None, kind)} (stopped early)"
    meta = run_meta(best, data, None, kind=kind, name=name)
    if kind == KIND_FINETUNE and getattr(best.config, "init_checkpoint", None):
        meta.metrics.update(finetune_thresholds(best, (), parent_name))
    return FinishedRun(best.model, meta)


def after_training(library, run_kind: str, examples=(), parent_name: str | None = None):
    """The step `jobs.train.run` takes after a finished run (`TrainInputs.after`): this module's
    recipe, then the save into `library`; the RunOutcome arrives as the task's last partial result.
    `parent_name`: for a fine-tune, the model it started from as the library lists it."""

    def after_training(finished, data, state) -> RunOutcome:
        run = finish_run(finished, data, kind=run_kind, examples=examples, stop=state, parent_name=parent_name,
                         status=lambda text: state.set_progress(None, text))
        state.set_progress(None, "Saving the model…")
        common = dict(test_accuracy=run.test_accuracy, finetune_report=run.finetune_report,
                      evaluation_error=run.evaluation_error)
        try:
            entry = save_run(run, library)
        except SaveError as exc:  # disk full, folder gone: the page keeps the model and offers to save it
            return RunOutcome(entry=None, model=run.model, meta=run.meta, save_error=str(exc), **common)
        return RunOutcome(entry=entry, **common)

    return after_training
