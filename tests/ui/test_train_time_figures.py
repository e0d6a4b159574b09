"""Issue 26 item 8: time figures. One estimate for the whole job (preparation and the comparison on
the real photos included), corrected by what this computer measured; a bar with an ETA in every
phase (preparing a photo run's images had none; the comparison had no word); Tune… says how long
a study takes."""

from __future__ import annotations

from test_train_page import TRAIN_TIMEOUT_MS, open_train_page, tiny_settings


def test_a_run_is_estimated_as_a_whole_job_and_corrected_by_what_a_run_measured(main_window, qtbot, tiny_idx_dir):
    """Fast, 1 epoch: guessed 40 s, took 2:09 — the estimate counted the epochs only."""
    from fmnist_desktop.ui.pages.train import estimate

    page = open_train_page(main_window, qtbot, tiny_idx_dir)
    tiny_settings(page, qtbot, epochs=1)
    before = page.estimate_label.text()
    assert "in all" in before and "1 epoch over" in before and "loading the data and the test set" in before
    assert "a guess" in before
    with qtbot.waitSignal(page.runFinished, timeout=TRAIN_TIMEOUT_MS):
        assert page.start_training()
    qtbot.waitUntil(lambda: not page.is_training(), timeout=10_000)

    settings = page.context.settings
    rest = estimate.measured_seconds(settings, "overhead:fmnist|cpu")
    assert rest is not None and rest > 0, "the run's time besides its epochs was measured"
    estimate.record_speed(settings, "seed_cnn", "cpu", 1000, 2.0)  # as its epoch records it, but slow enough
    page.update_estimate()
    after = page.estimate_label.text()
    assert "from this computer's measured speed" in after and "guess" not in after, after
    job = estimate.fmnist_job(settings, "seed_cnn", "cpu", page.images_per_epoch(), 1)
    assert abs(job.seconds - (page.images_per_epoch() / 500 + rest)) < 1e-6


def test_the_photo_model_and_its_fine_tune_are_estimated_with_preparation_and_comparison(main_window, qtbot):
    from fmnist_desktop.ui.pages.train import estimate

    page = open_train_page(main_window, qtbot)
    settings = page.context.settings
    job = estimate.photo_job(settings, items=5_000, epochs=2, views=3, prepared=False, compare=True)
    text = job.text()
    assert "preparing its 5,000 images once" in text and "comparing with the active model on the real photos" in text
    assert text.startswith("roughly") and "a guess" in text
    estimate.record_speed(settings, "prepare:photo", "cpu", 15_000, 100.0)  # 150 views/s measured here
    estimate.record_seconds(settings, "compare:photo", 45.0)
    estimate.record_seconds(settings, "overhead:photo", 12.0)
    estimate.record_speed(settings, estimate.PHOTO_RUN_ARCH, "cpu", 1_000, 10.0)
    job = estimate.photo_job(settings, items=5_000, epochs=2, views=3, prepared=False, compare=True)
    assert job.text().startswith("about") and "guess" not in job.text()
    assert abs(job.seconds - (100.0 + 100.0 + 12.0 + 45.0)) < 1e-6
    assert estimate.photo_job(settings, 5_000, 2, 3, prepared=True, compare=False).seconds == 112.0
    finetune = estimate.photo_finetune_job(settings, views=30, compare=True)
    assert "comparing with the active model on the real photos 45 s" in finetune.text()


def test_preparing_a_photo_runs_images_moves_the_bar_with_an_eta(main_window, qtbot):
    from fmnist_desktop.core.jobs.photo_model import Preparing
    from fmnist_desktop.ui.widgets.phase_clock import PhaseClock

    page = open_train_page(main_window, qtbot)
    now = [100.0]
    page.run_view.clock = PhaseClock(clock=lambda: now[0])
    kind = page.photo_kind
    kind._photos_path = "photos"
    for done, t in ((0, 100.0), (100, 110.0), (250, 125.0)):
        now[0] = t
        kind._on_event(Preparing("training images", done, 1_000), "key")
    assert page.progress_bar.maximum() == 1_000 and page.progress_bar.value() == 250
    assert "about 1:15 left" in page.progress_label.text(), page.progress_label.text()  # 250 in 25 s, 750 to go


def test_the_comparison_on_the_real_photos_says_what_it_does_and_how_far_it_is(main_window, qtbot, monkeypatch):
    from fmnist_desktop.core.jobs import model_comparison, photo_scores
    from fmnist_desktop.core.jobs.state import PlainState

    def scoring(inputs, state):  # as photo_scores.run reports: preparing, then scoring per photo
        state.set_progress(0.5, "Preparing the 80 real photos shipped with the app (40 of 80)…", done=40, total=80)
        state.set_progress(0.25, "Scoring model 1 of 2 on the 80 real photos (40 of 80)…", done=40, total=160)

    monkeypatch.setattr(photo_scores, "run", scoring)
    reports = []
    state = PlainState(on_progress=lambda *args: reports.append(args))
    entry = lambda name: type("Entry", (), {"id": name, "name": name, "kind": "photo", "path": name,  # noqa: E731
                                            "test_accuracy": None})()
    model_comparison.run(model_comparison.CompareInputs(entry("new"), entry("old")), state)
    messages = [r[1] for r in reports]
    assert any(m.startswith("Comparing with the active model, preparing the real photos: ") for m in messages)
    assert any(m.startswith("Comparing with the active model, scoring on the real photos: ") and "(40 of 80)" in m
               for m in messages)
    assert (0.25, 40, 160) in [(r[0], r[2], r[3]) for r in reports]

    page = open_train_page(main_window, qtbot)
    from fmnist_desktop.ui.tasks import Progress  # the Train page shows these reports in its bar and line

    page.run_view.show_phase(Progress(0.25, messages[-1], 40, 160))
    assert page.progress_bar.value() == 250 and "scoring on the real photos" in page.progress_label.text()


def test_tune_says_how_long_a_study_takes(main_window, qtbot):
    page = open_train_page(main_window, qtbot)
    dialog = page.open_tune_dialog()
    try:
        text = dialog.estimate_label.text()
        assert text.startswith("Time: ") and ("time budget" in text or "20 trials" in text), text
        dialog.budget_spin.setValue(0)  # no limit: all the trials
        text = dialog.estimate_label.text()
        assert "20 trials of" in text and "each" in text, text
        dialog.trials_spin.setValue(40)
        assert "40 trials of" in dialog.estimate_label.text()
    finally:
        dialog.close()
