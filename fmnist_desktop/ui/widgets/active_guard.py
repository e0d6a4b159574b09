"""Making a model active, never a worse one without asking: the Train page, Tune… and the Models
page's Make active share this.

`ActiveModelGuard.make_active(entry, done)` first compares the model with the active model of its
kind in a task (`core.jobs.model_comparison`: the Fashion-MNIST test score, and the real photos
the Models page's "Real photos" column measures); when it does worse, the user is asked (No is
the default), the question naming both models' figures, before it replaces the active one.
`done(made_active, comparison)` follows. A comparison made already against the active model's
file (a photo fine-tune's, against its parent) is used as it is, not measured again.
"""

from __future__ import annotations

import time
from typing import Callable

from PySide6.QtWidgets import QWidget

from .dialogs import ask_yes_no
from .model_facts import active_phrase, kind_of

QUESTION_TITLE = "Make a worse model active?"


class ActiveModelGuard:
    def __init__(self, context, task, parent: QWidget):
        self.context = context
        self.task = task  # a ui.tasks.TaskRunner of the owner
        self.parent = parent

    def is_running(self) -> bool:
        return self.task.is_running()

    def make_active(self, entry, done: Callable[[bool, object], None], on_status: Callable[[str], None] | None = None,
                    comparison=None, on_progress: Callable[[object], None] | None = None,
                    on_compared: Callable[[float], None] | None = None) -> None:
        """Make `entry` the active model of its kind unless it does worse and the user says No.
        `comparison`: one made already against the active model (a photo fine-tune measures its
        new head against its parent before it is offered), used instead of measuring again when
        it is against that model's file. `on_progress`: the comparison's progress reports (else
        `on_status` gets their text); `on_compared(seconds)`: how long it took (for estimates)."""
        active = self.context.active_entry_of(kind_of(entry))
        if active is None or active.id == entry.id:
            done(self.context.set_active(entry.id), None)
            return
        if comparison is not None and comparison.active_path == str(active.path):
            self._decide(entry, comparison, done)
            return
        inputs = (entry, active)
        started = time.monotonic()

        def compare(state):
            from ...core.jobs import model_comparison

            return model_comparison.run(model_comparison.CompareInputs(*inputs), state)

        def failed(message: str) -> None:  # the comparison itself failed: the user decides without it
            question = (f"“{entry.name}” could not be compared with “{active.name}” ({message}).\n\n"
                        f"Make it {active_phrase(entry)} anyway?")
            if ask_yes_no(self.parent, "Make this model active?", question):
                done(self.context.set_active(entry.id), None)
            else:
                done(False, None)

        def compared(result) -> None:
            if on_compared is not None:
                on_compared(time.monotonic() - started)
            self._decide(entry, result, done)

        self.task.start(compare, on_result=compared, on_error=failed,
                        on_progress=on_progress or ((lambda p: on_status(p.message)) if on_status else None),
                        description="Comparing with the active model", needs_torch=True)

    def _decide(self, entry, comparison, done: Callable[[bool, object], None]) -> None:
        """A worse model is made active only when the user says Yes (No is the default); the
        question names both models' figures (`Comparison.question`)."""
        if comparison is not None and comparison.worse:
            if not ask_yes_no(self.parent, QUESTION_TITLE, comparison.question(active_phrase(entry))):
                done(False, comparison)
                return
        done(self.context.set_active(entry.id), comparison)
