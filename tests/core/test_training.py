"""The trainer on tiny generated data: it learns, reports, stops, fails politely, and repeats."""

from __future__ import annotations

import threading

import pytest
import torch

from fmnist_desktop.core.learn import training
from fmnist_desktop.core.base.errors import TrainingError
from fmnist_desktop.core.learn.training import (
    BatchEnd,
    Cancelled,
    EpochEnd,
    Failed,
    Finished,
    Started,
    TrainConfig,
    format_epoch_line,
    iter_training,
    resolve_device,
    run_training,
)

from fmnist_desktop.core.data.fashion_mnist import DataSource, FashionMNIST, Split


def _split(n: int, seed: int) -> Split:
    """Easy synthetic 'garments': class k is a bright bar in row band k, with noise."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, 10, (n,), generator=g)
    images = torch.randint(0, 40, (n, 28, 28), generator=g)
    for i, k in enumerate(labels.tolist()):
        images[i, 2 + 2 * k : 4 + 2 * k, 4:24] = 230
    return Split(images.to(torch.uint8), labels.to(torch.int64))


def _data(n_train=256, n_val=100) -> FashionMNIST:
    train, val, test = _split(n_train, 1), _split(n_val, 2), _split(50, 3)
    return FashionMNIST(train, val, test, DataSource("folder", None, "generated"))


FAST = dict(preset="fast", device="cpu", batch_size=32)


def test_training_lowers_the_loss_and_learns():
    result = run_training(TrainConfig(epochs=3, **FAST), _data())
    assert isinstance(result, Finished), result
    losses = [e.train_loss for e in result.history]
    assert losses[-1] < losses[0]
    assert result.history[-1].val_acc > 60.0  # chance is 10 %
    assert not result.model.training  # handed back ready to predict
    assert next(result.model.parameters()).device.type == "cpu"


def test_events_arrive_in_order_with_sane_figures():
    events = list(iter_training(TrainConfig(epochs=2, **FAST), _data(n_train=100)))
    assert isinstance(events[0], Started)
    assert events[0].n_train == 100 and events[0].batches_per_epoch == 4 and events[0].n_val == 100
    assert isinstance(events[-1], Finished)
    assert sum(isinstance(e, (Finished, Cancelled, Failed)) for e in events) == 1
    batches = [e for e in events if isinstance(e, BatchEnd)]
    epochs = [e for e in events if isinstance(e, EpochEnd)]
    assert [(b.epoch, b.batch) for b in batches] == [(ep, b) for ep in (1, 2) for b in (1, 2, 3, 4)]
    assert [e.epoch for e in epochs] == [1, 2] and all(e.epochs == 2 for e in epochs)
    assert all(b.samples_per_s > 0 and b.eta_s >= 0 for b in batches)
    assert batches[-1].eta_s == pytest.approx(0.0, abs=1e-6)
    assert all(0.0 <= e.val_acc <= 100.0 and e.epoch_time_s > 0 for e in epochs)


@pytest.mark.parametrize("stop_after", [1, 5])
def test_stop_flag_ends_training_within_one_batch(stop_after):
    stop = threading.Event()
    seen = []
    for event in iter_training(TrainConfig(epochs=3, **FAST), _data(), stop):
        seen.append(event)
        if isinstance(event, BatchEnd) and len([e for e in seen if isinstance(e, BatchEnd)]) == stop_after:
            stop.set()
    last = seen[-1]
    assert isinstance(last, Cancelled)
    n_batches = len([e for e in seen if isinstance(e, BatchEnd)])
    assert stop_after <= n_batches <= stop_after + 1
    assert (last.epoch - 1) * 8 + last.batch in (stop_after, stop_after + 1)


@pytest.mark.parametrize(
    "error, where",
    [
        (torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"), "out of gpu memory"),
        (RuntimeError("MPS backend out of memory (MPS allocated: 8 GB)"), "out of gpu memory"),
        (RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to allocate 9 GB"), "out of memory"),
    ],
)
def test_out_of_memory_becomes_failed_with_advice(monkeypatch, error, where):
    real_build = training.build_model

    def build_that_runs_out(arch):
        model = real_build(arch)

        def forward(*args, **kwargs):
            raise error

        model.forward = forward
        return model

    monkeypatch.setattr(training, "build_model", build_that_runs_out)
    events = list(iter_training(TrainConfig(epochs=1, **FAST), _data()))
    assert isinstance(events[-1], Failed)
    assert where in events[-1].message.lower()
    assert "batch size" in events[-1].advice.lower()


@pytest.mark.parametrize(
    "config, words",
    [
        (TrainConfig(preset="nope", device="cpu"), "nope"),
        (TrainConfig(epochs=0, **FAST), "epochs"),
        (TrainConfig(lr=-1.0, epochs=1, **FAST), "learning rate"),
        (TrainConfig(input_size=20, epochs=1, **FAST), "28×28"),
    ],
)
def test_bad_settings_fail_with_a_message_instead_of_raising(config, words):
    result = run_training(config, _data())
    assert isinstance(result, Failed)
    assert words in result.message


def test_same_seed_same_history_other_seed_differs():
    def history(seed):
        result = run_training(TrainConfig(epochs=2, seed=seed, **FAST), _data())
        assert isinstance(result, Finished)
        return [(e.train_loss, e.val_loss, e.train_acc, e.val_acc) for e in result.history], result.model

    first, model_a = history(5)
    again, model_b = history(5)
    other, _ = history(6)
    assert first == again
    for (ka, a), (kb, b) in zip(model_a.state_dict().items(), model_b.state_dict().items()):
        assert ka == kb and torch.equal(a, b)
    assert first != other


def test_extra_training_images_are_added_every_epoch_weighted():
    extra = _split(10, 9)
    config = TrainConfig(epochs=1, extra_train=(extra.images, extra.labels, 3.0), **FAST)
    events = list(iter_training(config, _data(n_train=100)))
    assert isinstance(events[-1], Finished)
    assert events[0].n_train == 100 + 3 * 10


def test_seed_preset_trains_at_16_pixels():
    result = run_training(TrainConfig(preset="seed", epochs=1, device="cpu"), _data(n_train=128))
    assert isinstance(result, Finished)
    assert result.config.input_size == 16 and result.config.lr == 1e-3 and result.config.batch_size == 64


def test_config_resolves_from_the_preset_and_overrides_win():
    cfg = TrainConfig(preset="fast", epochs=7).resolved()
    assert cfg.epochs == 7 and cfg.batch_size == 256 and cfg.input_size == 28 and cfg.augment == "flip"


def test_format_epoch_line_is_the_notebooks():
    e = EpochEnd(
        epoch=3, epochs=10, train_loss=0.31234, val_loss=0.29499, train_acc=88.6149, val_acc=89.4,
        epoch_time_s=1.0, lr=1e-3,
    )
    assert format_epoch_line(e) == (
        "Epoch [3/10], Train Loss: 0.3123, Val Loss: 0.2950, Train Acc: 88.61%, Val Acc: 89.40%"
    )


def test_devices():
    assert resolve_device("cpu").type == "cpu"
    if not torch.cuda.is_available():
        with pytest.raises(TrainingError, match="not available"):
            resolve_device("cuda")
        result = run_training(TrainConfig(epochs=1, preset="fast", device="cuda"), _data())
        assert isinstance(result, Failed) and "not available" in result.message
    with pytest.raises(TrainingError):
        resolve_device("toaster")
    assert "cpu" in training.available_devices()


def test_fine_tuning_starts_from_the_checkpoints_weights(tmp_path):
    from fmnist_desktop.core.store.checkpoint import CheckpointMeta, save_checkpoint

    data = _data()
    trained = run_training(TrainConfig(epochs=3, **FAST), data)
    assert isinstance(trained, Finished) and trained.history[-1].val_acc > 60.0
    path = save_checkpoint(tmp_path / "m.pt", trained.model, CheckpointMeta.for_preset("fast", "m"))

    # A tiny learning rate barely moves the weights: only a run that started from the checkpoint
    # can be good after one epoch; the same run from scratch stays near chance.
    tuned = run_training(TrainConfig(epochs=1, lr=1e-6, init_checkpoint=path, **FAST), data)
    scratch = run_training(TrainConfig(epochs=1, lr=1e-6, **FAST), data)
    assert isinstance(tuned, Finished) and isinstance(scratch, Finished)
    assert tuned.history[-1].val_acc > 60.0
    assert scratch.history[-1].val_acc < 40.0


def test_fine_tuning_refuses_a_checkpoint_of_another_architecture(tmp_path):
    from fmnist_desktop.core.store.checkpoint import CheckpointMeta, save_checkpoint
    from fmnist_desktop.core.models import build_model

    path = save_checkpoint(tmp_path / "seed.pt", build_model("seed_cnn"), CheckpointMeta.for_preset("seed", "s"))
    result = run_training(TrainConfig(epochs=1, init_checkpoint=path, **FAST), _data())
    assert isinstance(result, Failed)
    assert "seed_cnn" in result.message


@pytest.mark.parametrize("n_train,epochs", [(32, 1), (64, 2), (100, 1), (224, 1)])
@pytest.mark.parametrize("preset", ["fast", "standard"])
def test_tiny_runs_with_a_scheduled_preset_finish(preset, n_train, epochs):
    # A one-cycle schedule over a handful of steps used to divide by zero before the first batch;
    # a user fine-tuning on a few photos, or a one-epoch test run, hits exactly that.
    result = run_training(
        TrainConfig(preset=preset, epochs=epochs, device="cpu", batch_size=32), _data(n_train=n_train, n_val=20)
    )
    assert isinstance(result, Finished), result
    assert len(result.history) == epochs


def test_stopping_keeps_the_best_finished_epoch_as_a_usable_model():
    """Issue 12 item 8: Stop threw away every finished epoch."""
    stop = threading.Event()
    seen = []
    for event in iter_training(TrainConfig(epochs=5, **FAST), _data(), stop):
        seen.append(event)
        if isinstance(event, BatchEnd) and event.epoch == 4 and event.batch == 2:
            stop.set()
    last = seen[-1]
    assert isinstance(last, Cancelled) and last.epoch == 4
    epochs = [e for e in seen if isinstance(e, EpochEnd)]
    best_epoch = max(epochs, key=lambda e: e.val_acc)
    assert isinstance(last.best, Finished)
    # The first of equally good epochs is kept; its history ends there.
    assert last.best.history[-1].epoch == min(e.epoch for e in epochs if e.val_acc == best_epoch.val_acc)
    assert not last.best.model.training
    x = torch.zeros(2, 1, 28, 28)  # the fast preset's input
    assert last.best.model(x).shape == (2, 10)


def test_stopping_in_the_first_epoch_has_nothing_to_keep():
    stop = threading.Event()
    stop.set()
    last = list(iter_training(TrainConfig(epochs=2, **FAST), _data(), stop))[-1]
    assert isinstance(last, Cancelled) and last.best is None
