"""A wrongly typed entry in the user's presets.json (issue 17, item 9): the Train page lists the
other presets and says which one it set aside, instead of logging a TypeError."""

from __future__ import annotations

import dataclasses
import json


def test_the_train_page_sets_a_bad_preset_aside_and_says_so(make_main_window, qtbot):
    from fmnist_desktop.core.models import PRESETS
    from fmnist_desktop.core.store.user_presets import presets_path

    good = dataclasses.asdict(PRESETS["fast"])
    presets_path().parent.mkdir(parents=True, exist_ok=True)
    presets_path().write_text(json.dumps({"broken": {**good, "epochs": "3"}, "mine": good}), encoding="utf-8")
    window = make_main_window()
    page = window.pages["train"]
    qtbot.waitUntil(lambda: page._ready, timeout=60_000)
    assert "mine" in page.form.presets and "broken" not in page.form.presets
    title, message = window.context.last_error
    assert title == "Some of your presets were set aside"
    assert "Your preset 'broken' in presets.json is ignored: its 'epochs' has the wrong type (str)." in message
