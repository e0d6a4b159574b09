"""A kept photo's embedding is stored when it is kept (issue 24 item 4, issue 26 item 1): keeping a
photo on the Predict page stores the active photo model's embeddings of it in the background, so
"Fine-tune with my photos" later costs only the head's steps (tests/core/test_photo_finetune.py
checks that the fine-tune then runs no backbone)."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SNEAKER_PHOTO = REPO / "tests" / "data" / "photo_sneaker.jpg"


def test_keeping_a_photo_stores_the_photo_models_embeddings_of_it_off_the_gui_thread(
        make_main_window, builtin_test_photo_model, qtbot, drop_paths):
    from fmnist_desktop.core.base import paths
    from fmnist_desktop.core.store import user_photos

    window = make_main_window()
    if window.context.import_error():
        pytest.fail(f"the model engine did not load: {window.context.import_error()}")
    window.show_page("predict")
    page = window.pages["predict"]
    with qtbot.waitSignal(page.predictionShown, timeout=60_000):
        drop_paths(page.drop_zone, [SNEAKER_PHOTO])

    page.correct_current(1)  # "it is a Trouser": kept in My photos

    kept = user_photos.list_examples()
    assert [e.label for e in kept] == [1]
    stored = paths.user_photos_dir() / user_photos.EMBEDDINGS_FOLDER
    qtbot.waitUntil(lambda: [p.stem for p in stored.rglob("*.npy")] == [kept[0].digest], timeout=60_000)
