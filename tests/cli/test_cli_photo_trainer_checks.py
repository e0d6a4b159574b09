"""`fmnist train` refuses what no run can use before anything is loaded, for the photo model as
for the 28×28 network, and never saves a run that diverged (issue 27, items 6, 7 and 9)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from fmnist_desktop.core.store.library import ModelLibrary


def _photos(folder: Path) -> Path:
    """A tiny labelled photo folder: two shapes, four senders each."""
    rng = np.random.default_rng(0)
    for cls, box in (("1_Trouser", (36, 8, 60, 88)), ("7_Sneaker", (8, 40, 88, 62))):
        for sender in range(4):
            d = folder / cls / f"s{sender}"
            d.mkdir(parents=True)
            img = Image.new("RGB", (64, 64), tuple(int(v) for v in rng.integers(150, 255, 3)))
            ImageDraw.Draw(img).rectangle([v * 2 // 3 for v in box], fill=(20, 20, 20))
            img.save(d / "0.jpg")
    return folder


@pytest.fixture
def nothing_loads(monkeypatch):
    """Reading Fashion-MNIST, a photo or the backbone fails the test: the checks come first."""
    def refuse(*args, **kwargs):
        raise AssertionError("loaded something before the arguments were checked")

    monkeypatch.setattr("fmnist_desktop.core.data.fashion_mnist.load_dataset", refuse)
    monkeypatch.setattr("fmnist_desktop.core.jobs.photo_model.load_labelled_photos", refuse)


@pytest.mark.parametrize("flags, words", [
    (["--seed", "-1"], "--seed must be between 0 and 4,294,967,295"),
    (["--seed", str(2**66)], "--seed must be between 0 and 4,294,967,295"),
    (["--lr", "nan"], "--lr must be a positive number up to 10"),
    (["--lr", "1e30"], "--lr must be a positive number up to 10"),
    (["--batch-size", "0"], "--batch-size must be at least 2"),
    (["--batch-size", "1"], "--batch-size must be at least 2"),
    (["--photo-weight", "-5"], "--photo-weight must be a number between 0 and 100"),
    (["--epochs", "0"], "--epochs must be at least 1"),
    (["--name", "n" * 201], "--name can have at most 200 characters"),
    (["--from-block", "17"], "--from-block must be between 0 and 16"),
])
def test_photo_training_arguments_are_refused_before_anything_loads(run_cli, nothing_loads, tmp_path, flags, words):
    result = run_cli("train", "--kind", "photo", "--photos", _photos(tmp_path / "photos"), *flags)
    result.assert_one_error_line(words)


def test_batch_size_one_is_refused_up_front_for_the_28x28_network(run_cli, nothing_loads):
    run_cli("train", "--batch-size", "1").assert_one_error_line("--batch-size must be at least 2")


def test_from_block_is_refused_for_the_28x28_network(run_cli, nothing_loads):
    run_cli("train", "--from-block", "11").assert_one_error_line("--from-block is for --kind photo")


def test_under_torchrun_the_batch_must_give_each_process_two_images(run_cli, nothing_loads, monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")
    run_cli("train", "--batch-size", "3").assert_one_error_line("at least 4 (2 per process, 2 processes)")


def test_the_photo_model_is_refused_under_torchrun(run_cli, nothing_loads, tmp_path, monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")
    run_cli("train", "--kind", "photo", "--photos", _photos(tmp_path / "photos")).assert_one_error_line(
        "does not run under torchrun")


def test_the_guis_photo_task_refuses_a_bad_config_before_loading(nothing_loads, tmp_path):
    from fmnist_desktop.core.jobs.photo_train import PhotoTrainInputs, run
    from fmnist_desktop.core.jobs.state import PlainState
    from fmnist_desktop.core.learn.photo_training import PhotoTrainConfig
    from fmnist_desktop.core.learn.training import Failed

    events = []
    state = PlainState()
    state.set_partial_result = events.append
    run(PhotoTrainInputs(PhotoTrainConfig(lr=float("nan")), str(tmp_path), ModelLibrary()), state)
    assert len(events) == 1 and isinstance(events[0], Failed) and "learning rate" in events[0].message


def test_a_photo_run_that_goes_to_nan_says_so_in_one_line_and_saves_nothing(run_cli, tmp_path, monkeypatch,
                                                                            tiny_idx_dir):
    import torch

    from fmnist_desktop.core.learn import photo_training

    small = dict(epochs=1, views=1, from_block=16, fashion_mnist_per_class=0)
    real_config = photo_training.PhotoTrainConfig
    monkeypatch.setattr(photo_training, "PhotoTrainConfig", lambda **kw: dataclasses.replace(real_config(**kw), **small))
    monkeypatch.setattr(photo_training.F, "cross_entropy", lambda logits, *a, **k: logits.sum() * torch.tensor(float("nan")))
    before = [e.id for e in ModelLibrary().entries()]
    result = run_cli("train", "--kind", "photo", "--photos", _photos(tmp_path / "photos"), "--data", tiny_idx_dir,
                     "--val-size", "100")
    errors = [line for line in result.err.splitlines() if line.startswith("fmnist: error: ")]  # (progress bars too)
    assert result.code != 0 and len(errors) == 1 and "Traceback" not in result.err
    assert "diverged" in errors[0] and "nothing was saved" in errors[0]
    assert "nan%" not in result.out
    assert "Feature cache: " in result.out and "cache/photo-features" in result.out  # where it is, said once
    assert [e.id for e in ModelLibrary().entries()] == before
    index = ModelLibrary().index_path
    assert not index.exists() or "NaN" not in index.read_text()


def test_a_model_with_non_finite_weights_is_never_saved_or_activated(tmp_path):
    import torch

    from fmnist_desktop.core.base.errors import FmnistError
    from fmnist_desktop.core.jobs.runs import FinishedRun, save_run
    from fmnist_desktop.core.models import build_model
    from fmnist_desktop.core.store.checkpoint import CheckpointMeta

    model = build_model("bn_cnn_small")
    with torch.no_grad():
        next(model.parameters()).fill_(float("nan"))
    lib = ModelLibrary()
    with pytest.raises(FmnistError, match="not finite"):
        save_run(FinishedRun(model, CheckpointMeta.for_preset("fast", "diverged")), lib, make_active=True)
    with pytest.raises(FmnistError, match="not finite"):
        save_run(FinishedRun(model, CheckpointMeta.for_preset("fast", "diverged")), out=tmp_path / "x.pt")
    assert [e.builtin for e in lib.entries()] == [True] and not (tmp_path / "x.pt").exists()


def test_held_out_rates_with_nothing_to_count_are_left_out_not_printed_as_nan(capsys):
    from fmnist_desktop.cli.train_photo import say_held_out

    say_held_out({"not_sure_threshold": 0.4, "held_out_photos": {
        "accuracy": 0.9, "not_sure_rate": 0.1, "confidently_wrong_rate": 0.02, "none_flagged_rate": float("nan")}})
    out = capsys.readouterr().out
    assert "90.0% right" in out and "nan" not in out.lower() and "none-of-the-ten" not in out
    json.dumps(out)
