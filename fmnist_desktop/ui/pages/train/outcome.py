"""What a Train run ends as: a saved model, or one the page holds (its save failed, or the run was stopped).

What a finished run becomes (`core.jobs.train.RunOutcome`, made in the worker by
`core.jobs.runs.after_training`) arrives at the page; `show_saved` logs and announces a saved
model, and `UnsavedModel` keeps a model whose save failed (disk full) or a stopped run's best epoch
(`hold_stopped_run`) and offers "Save model as…" and "Try again" in the page's banner. These live
here, not in page.py, so that the page only routes a run's events.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from pathlib import Path

from PySide6.QtWidgets import QFileDialog, QPushButton

from ....core.base.errors import FmnistError
from ....core.jobs.train import RunOutcome
from ...widgets.dialogs import ask_yes_no
from .photos_panel import describe_calibration


def describe_threshold(metrics) -> str | None:
    """A fine-tuned model's "not sure" threshold and where it comes from (both kinds): recalibrated
    on the user's kept-out photos, or inherited from the model it started from; None for others."""
    from ....core.learn.calibration import MIN_CALIBRATION_PHOTOS

    if not isinstance(metrics, dict):
        return None
    threshold = metrics.get("not_sure_threshold")
    level = f"{100 * float(threshold):.1f} %" if isinstance(threshold, (int, float)) else "50.0 % (uncalibrated)"
    calibrated_on = metrics.get("threshold_calibrated_on")
    parent = metrics.get("threshold_inherited_from")
    if calibrated_on:
        return f"“Not sure” below {level}: recalibrated on your {calibrated_on} kept-out photos."
    if parent:
        return (f"“Not sure” below {level}: inherited from “{parent}” (recalibrating it needs at least "
                f"{MIN_CALIBRATION_PHOTOS} kept-out photos).")
    return None


def kept_out_plan(parent_name: str, n_kept_out: int, min_to_measure: int = 1) -> str:
    """What a fine-tune (either kind) will claim about the user's kept-out photos, before it starts:
    a before/after comparison only when photos are kept out (enough of them), and where its
    "not sure" threshold will come from (`core.learn.calibration.finetuned_thresholds`)."""
    from ....core.learn.calibration import MIN_CALIBRATION_PHOTOS

    photos = f"{n_kept_out} of your photo{'s are' if n_kept_out != 1 else ' is'}"
    if n_kept_out >= max(1, min_to_measure):
        compare = f"{photos} kept out: the result is compared with “{parent_name}” on them."
    elif n_kept_out == 0:
        compare = ("None of your photos is kept out yet (one in five is), so there will be no before/after "
                   "comparison on your photos.")
    else:
        compare = (f"Only {photos} kept out: too few for a before/after comparison on your photos "
                   f"(at least {min_to_measure} are needed).")
    if n_kept_out >= MIN_CALIBRATION_PHOTOS:
        threshold = "Its “not sure” threshold is recalibrated on the kept-out photos."
    else:
        threshold = (f"It keeps the “not sure” threshold of “{parent_name}” (recalibrating it needs at least "
                     f"{MIN_CALIBRATION_PHOTOS} kept-out photos).")
    return f"{compare} {threshold}"


def describe_report(report) -> str:
    """core.jobs.finetune.FinetuneReport as a few sentences: before → after accuracies (each of the
    report's lines is a sentence of its own: "… in 9.4 s. Your kept-out photos …")."""
    lines = getattr(report, "lines", None)
    if not callable(lines):
        return str(report)
    return " ".join(line if line.endswith((".", "!", "?")) else f"{line}." for line in lines())


class UnsavedModel:
    """Holds a trained model whose save failed, with its two buttons in the page's banner."""

    def __init__(self, page):
        self.page = page
        self.outcome: RunOutcome | None = None
        banner = page.banner
        self.save_as_button = QPushButton("Save model as…", banner)
        self.save_as_button.setObjectName("saveUnsavedAsButton")
        self.save_as_button.setToolTip("Save the trained model to a file elsewhere (another disk, a USB stick).")
        self.save_as_button.clicked.connect(lambda: self.save_as())  # not clicked(checked)
        self.retry_save_button = QPushButton("Try again", banner)
        self.retry_save_button.setObjectName("retrySaveButton")
        self.retry_save_button.setToolTip("Save the trained model into the model library again (after freeing space).")
        self.retry_save_button.clicked.connect(lambda: self.retry())
        self.discard_button = QPushButton("Discard", banner)
        self.discard_button.setObjectName("discardUnsavedButton")
        self.discard_button.setToolTip("Forget the model held in memory.")
        self.discard_button.clicked.connect(lambda: self.discard())
        for button in (self.retry_save_button, self.save_as_button, self.discard_button):
            button.hide()
            banner.buttons_box.addWidget(button)
        page.save_as_button, page.retry_save_button = self.save_as_button, self.retry_save_button
        page.discard_unsaved_button = self.discard_button

    def held(self) -> bool:
        return self.outcome is not None

    def confirm_discard(self) -> bool:
        """Before a new run: the model whose save failed is dropped only if the user agrees."""
        if not self.held():
            return True
        if not ask_yes_no(self.page, "Discard the unsaved model?",
                          "The last trained model is not saved: it exists only in memory.\n\n"
                          "Discard it and start a new run?"):
            return False
        self.hold(None)
        return True

    def hold(self, outcome: RunOutcome | None) -> None:
        """Hold (or let go of) a trained model whose save failed, and say so where the user looks."""
        self.outcome = outcome
        for button in (self.save_as_button, self.retry_save_button, self.discard_button):
            button.setVisible(outcome is not None)
        if outcome is None:
            return
        self.page.make_active_button.hide()
        if outcome.kept_after_stop:  # a stopped run: its best finished epoch, offered like a failed save
            epochs = outcome.meta.history
            best = epochs[-1] if epochs else {}
            self.retry_save_button.setText("Save to the library")
            self.retry_save_button.setToolTip("Add this model to the model library (Models page).")
            self.page.banner.show_message(
                "info",
                f"<b>Training stopped.</b> The best finished epoch ({best.get('epoch', '?')}, validation "
                f"accuracy {best.get('val_acc', float('nan')):.2f} %) is kept in memory: “Save to the library” "
                "keeps it, “Save model as…” writes it to a file, “Discard” drops it.",
            )
            return
        self.retry_save_button.setText("Try again")
        self.retry_save_button.setToolTip("Save the trained model into the model library again (after freeing space).")
        self.page.banner.show_message(
            "error",
            f"<b>The trained model could not be saved:</b> {outcome.save_error}<br>It is kept in memory: "
            "free some space and press “Try again”, or save it elsewhere with “Save model as…”.",
        )
        self.page.log(f"Saving failed: {outcome.save_error} The model is kept in memory until it is saved.")

    def hold_stopped_run(self, event) -> None:
        """Training was stopped (`core.learn.training.Cancelled`): its best finished epoch is held
        like a model whose save failed; nothing is held when no epoch had finished."""
        page = self.page
        page.run_view.flush_charts()
        data = page._data_cache[1] if page._data_cache is not None else None
        from ....core.jobs import runs

        kept = runs.stopped_run(event, data, kind=page._run_kind,
                                parent_name=page._finetune_parent if page._run_kind == "finetune" else None)
        if kept is None:
            page.log(f"Stopped at epoch {event.epoch}, batch {event.batch}. No epoch had finished: nothing was saved.")
            page.banner.show_message("info", "Training stopped before the first epoch finished. Nothing was saved.")
            return
        epoch = event.best.history[-1]
        page.log(f"Stopped at epoch {event.epoch}, batch {event.batch}. The best finished epoch ({epoch.epoch}, "
                 f"validation accuracy {epoch.val_acc:.2f} %) is kept until it is saved or discarded.")
        self.hold(RunOutcome(entry=None, test_accuracy=None, model=kept.model, meta=kept.meta, kept_after_stop=True))

    def save_as(self, path: str | None = None) -> bool:
        """Save the held model to a file the user picks (or `path`); True when it was written."""
        outcome = self.outcome
        if outcome is None:
            return False
        if path is None:
            suggested = Path.home() / f"fmnist-model-{datetime.now():%Y%m%d-%H%M%S}.pt"
            path, _ = QFileDialog.getSaveFileName(self.page, "Save the trained model", str(suggested),
                                                  "Model files (*.pt)")
            if not path:
                return False
        from ....core.store.checkpoint import save_checkpoint

        try:
            target = save_checkpoint(path, outcome.model, outcome.meta)  # a few MB: quick enough here
        except FmnistError as exc:
            self.hold(dataclasses.replace(outcome, save_error=str(exc)))
            return False
        self.hold(None)
        self.page.banner.show_message("success", f"<b>Saved the trained model to {target}</b>. "
                                                 "File → Open model… adds it to the model library.")
        self.page.log(f"Saved the trained model to {target}.")
        return True

    def retry(self) -> bool:
        """Save the held model into the library again (e.g. after the user freed some space)."""
        outcome = self.outcome
        if outcome is None:
            return False
        try:
            entry = self.page.context.library().add(outcome.model, outcome.meta)
        except FmnistError as exc:
            self.hold(dataclasses.replace(outcome, save_error=str(exc)))
            return False
        show_saved(self.page, RunOutcome(entry=entry, test_accuracy=outcome.test_accuracy,
                                         finetune_report=outcome.finetune_report,
                                         evaluation_error=outcome.evaluation_error,
                                         kept_after_stop=outcome.kept_after_stop))
        return True

    def discard(self) -> None:
        """Let go of the held model (the user said so)."""
        if self.outcome is None:
            return
        self.hold(None)
        self.page.banner.show_message("info", "The model was discarded.")
        self.page.log("The model held in memory was discarded.")


def describe_saved(outcome: RunOutcome) -> tuple[list[str], str]:
    """A saved run as (log lines, the banner's text): its test accuracy (or why it was not
    measured), and for a run with photos its calibration, for a fine-tune its before/after report."""
    entry = outcome.entry
    if outcome.test_accuracy is None:
        why = (f"the evaluation failed: {outcome.evaluation_error.rstrip('.')}" if outcome.evaluation_error
               else "training was stopped; the Evaluate page measures it" if outcome.kept_after_stop
               else "the evaluation was stopped")
        accuracy = f"test accuracy not measured ({why})"
    else:
        accuracy = f"test accuracy {outcome.test_accuracy:.2f} %"
    lines = [f"{accuracy[0].upper()}{accuracy[1:]}. Saved as “{entry.name}”."]
    text = f"<b>Saved “{entry.name}”</b> — {accuracy}."
    metrics = getattr(entry.meta, "metrics", {}) or {}
    calibration = describe_threshold(metrics) or describe_calibration(metrics)
    if calibration:  # fine-tuned or trained with photos: its own "not sure" threshold (and held-out figures)
        text += f"<br>{calibration}"
        lines.append(calibration)
    if outcome.finetune_report is not None:
        text += f"<br>{describe_report(outcome.finetune_report)}"
        lines.append(describe_report(outcome.finetune_report))
    return lines, text


def take_saved(page, outcome: RunOutcome):
    """The saved model of a run's outcome (either kind), now the page's last one; None when its save
    failed, in which case `page.unsaved` holds the model until it is saved or discarded."""
    if outcome.entry is None:
        page.unsaved.hold(outcome)
        return None
    page.unsaved.hold(None)
    page._last_outcome = outcome
    return outcome.entry


def show_saved(page, outcome: RunOutcome) -> None:
    """A 28×28 run's outcome on the Train page: a saved model is logged and announced (with
    "Make it the active model" unless it is active), and `runFinished` fires; a model whose save
    failed is held by `page.unsaved`."""
    entry = take_saved(page, outcome)
    if entry is None:
        return
    lines, text = describe_saved(outcome)
    for line in lines:
        page.log(line)
    page.banner.show_message("success", text)
    page.run_panel.offer_evaluation(entry if outcome.kept_after_stop and outcome.test_accuracy is None else None)
    active = page.context.active_entry()
    page.make_active_button.setVisible(active is None or getattr(active, "id", None) != entry.id)
    page.context.refresh_models()
    page.context.statusMessage.emit(f"Saved the new model “{entry.name}”.")
    page.runFinished.emit(entry)
