"""The Train page's side of making a model active (`ActiveClaim`); the comparison and the question
before a worse model replaces the active one are `ui.widgets.active_guard.ActiveModelGuard`
(shared with the Models page and Tune…).

`ActiveClaim` is "Make it the active model" after a run, the banner
that says the page's model "is now the active …", and that banner going (with the button) when
another model becomes active elsewhere. It lives here, not in page.py, because it is the one
place the page reacts to the active models changing; the page keeps one-line
`make_active_model` / `show_active_claim` for photo_kind.py and the tests.
"""

from __future__ import annotations

from ...widgets.active_guard import QUESTION_TITLE, ActiveModelGuard  # noqa: F401 — Tune… and tests import them here
from ...widgets.model_facts import active_phrase


class ActiveClaim:
    """The Train page's "Make it the active model" and its "… is now the active …" banner, which
    goes when another model becomes active (Models page, Tune…, Predict), even out of sight."""

    def __init__(self, page, task):
        self.page = page
        # Making a model active from this page: never a worse one without asking.
        self.guard = ActiveModelGuard(page.context, task, page)
        self._claim: tuple[str, str] | None = None  # (entry id, banner text) "… is now the active …"
        page.context.activeModelChanged.connect(lambda _entry: self.on_active_changed())

    def make_last_model_active(self) -> None:
        """"Make it the active model": after a comparison with the active model of its kind, and a
        question when the new one does worse (ActiveModelGuard)."""
        last = self.page._last_outcome
        if last is None or last.entry is None or self.guard.is_running():
            return
        self.make_active_model(last.entry)

    def make_active_model(self, entry, saved_text: str | None = None, comparison=None) -> None:
        """Make `entry` active unless it does worse than the active one and the user says No.
        `saved_text`: the banner's text about the run that made it (kept in front of the outcome);
        `comparison`: one made already (ActiveModelGuard.make_active)."""
        page = self.page
        page.make_active_button.setEnabled(False)
        prefix = f"{saved_text}<br>" if saved_text else ""

        def done(made: bool, comparison) -> None:
            page.make_active_button.setEnabled(True)
            if not page.is_training():  # the status line said "Comparing it with the active model…"
                page._set_idle_state()
            if made:
                page.make_active_button.hide()
                self.show_active_claim(entry, f"{prefix}“{entry.name}” is now {active_phrase(entry)}.")
                return
            active = page.context.active_entry_of(getattr(entry, "kind", "fmnist"))
            kept = f"“{active.name}” stays {active_phrase(entry)}" if active is not None else "It was not made active"
            why = f" ({'; '.join(comparison.reasons)})" if comparison is not None and comparison.reasons else ""
            page.banner.show_message("info", f"{prefix}{kept}: “{entry.name}” does worse{why}. "
                                             "“Make it the active model” still makes it active.")
            page.make_active_button.show()
            page.log(f"“{entry.name}” was not made active{why}.")

        from .estimate import record_seconds  # how long a comparison takes here, for the next estimate

        kind = getattr(entry, "kind", "fmnist")
        self.guard.make_active(entry, done, on_progress=page.run_view.show_phase, comparison=comparison,
                               on_compared=lambda s: record_seconds(page.context.settings, f"compare:{kind}", s))

    def show_active_claim(self, entry, text: str) -> None:
        """A green banner saying `entry` is now active; it goes when another model becomes active."""
        self.page.banner.show_message("success", text)
        self._claim = (entry.id, text)

    def on_active_changed(self) -> None:
        """Another model became active (Models page, Tune…, Predict): a banner that says this
        page's model is the active one is no longer true, so it goes."""
        page = self.page
        last = getattr(page._last_outcome, "entry", None)
        active_ids = {getattr(e, "id", None) for e in page.context.active_entries()}
        if last is not None and last.id in active_ids:
            page.make_active_button.hide()  # made active elsewhere (the Models page)
        if self._claim is None:
            return
        entry_id, text = self._claim
        if page.banner.isHidden() or page.banner.label.text() != text:  # isHidden: the page may be out of sight
            self._claim = None  # the banner says something else now
            return
        if entry_id not in active_ids:
            self._claim = None
            page.banner.hide()
            if last is not None and last.id == entry_id:
                page.log(f"“{last.name}” is no longer the active model.")
