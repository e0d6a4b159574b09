"""Stopping a photo-model run keeps its best finished epoch, calibrated like a finished run (issue 20)."""

from __future__ import annotations

import dataclasses
import threading

from test_photo_model import _generated_photos

from fmnist_desktop.core.jobs.photo_model import iter_photo_run
from fmnist_desktop.core.jobs.photo_stopped import kept_after_stop
from fmnist_desktop.core.learn.photo_training import PhotoTrainConfig
from fmnist_desktop.core.learn.training import Cancelled, EpochEnd
from fmnist_desktop.core.models.photo_net import PHOTO_ARCH


def test_the_best_epoch_of_a_stopped_photo_run_gets_its_own_not_sure_threshold(tmp_path):
    folder = _generated_photos(tmp_path / "photos")
    config = dataclasses.replace(PhotoTrainConfig(), epochs=5, views=2, from_block=16, fashion_mnist_per_class=0)
    stop = threading.Event()
    events = []
    for event in iter_photo_run(config, folder, None, None, stop=stop, cache_folder=tmp_path / "cache"):
        events.append(event)
        if isinstance(event, EpochEnd) and event.epoch == 2:
            stop.set()
    cancelled = events[-1]
    assert isinstance(cancelled, Cancelled) and cancelled.best is not None
    run = kept_after_stop(cancelled.best, config, folder, cache_folder=tmp_path / "cache", n_train=10)
    assert run.meta.arch == PHOTO_ARCH and run.meta.name.endswith("(stopped early)")
    assert len(run.meta.history) <= 2
    assert 0.2 <= run.meta.metrics["not_sure_threshold"] <= 0.95
    assert "held_out_photos" in run.meta.metrics


def test_the_photo_training_job_loads_fashion_mnist_trains_saves_and_makes_it_the_active_photo_model(
        tmp_path, tiny_idx_dir):
    """core.jobs.photo_train.run without Qt: the Train page's photo run, event by event."""
    from fmnist_desktop.core.jobs import photo_train
    from fmnist_desktop.core.jobs.state import PlainState
    from fmnist_desktop.core.store.library import ModelLibrary

    folder = _generated_photos(tmp_path / "photos")
    library = ModelLibrary(tmp_path / "models")
    config = dataclasses.replace(PhotoTrainConfig(), epochs=1, views=2, from_block=16, fashion_mnist_per_class=2)
    state = PlainState()
    photo_train.run(photo_train.PhotoTrainInputs(config, str(folder), library, data_dir=str(tiny_idx_dir)), state)
    names = [type(e).__name__ for e in state.partial_results]
    assert names[0] == "DataLoaded" and "Preparing" in names and "Started" in names
    assert names[-1] == "AfterTraining", names
    outcome = state.partial_results[-1].value
    assert outcome.entry.kind == "photo" and library.active("photo").id == outcome.entry.id
    assert "not_sure_threshold" in outcome.entry.meta.metrics
