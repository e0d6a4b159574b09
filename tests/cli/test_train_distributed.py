"""`fmnist train` under torchrun (issue 19): two processes with gloo on tiny IDX data give one
loadable model, saved once, with the metadata of a single-process run and an accuracy that
matches a single-process run of the same seed; the epoch lines are printed once."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[2]
TRAIN = ["train", "--val-size", "100", "--preset", "fast", "--epochs", "2", "--seed", "0"]


def _env(home: Path) -> dict[str, str]:
    return dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1", FMNIST_DESKTOP_HOME=str(home))


def _single(data: Path, out: Path, home: Path, device: str = "cpu") -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "fmnist_desktop.cli", *TRAIN, "--data", str(data), "--device", device,
                           "--out", str(out)], capture_output=True, text=True, env=_env(home), timeout=300)


def _torchrun(data: Path, out: Path, home: Path, nproc: int = 2, device: str = "cpu") -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(nproc),
                           "-m", "fmnist_desktop.cli", *TRAIN, "--data", str(data), "--device", device,
                           "--out", str(out)], capture_output=True, text=True, env=_env(home), timeout=300)


def _check_against_single_run(tmp_path: Path, idx_writer, device: str, nproc: int) -> None:
    from fmnist_desktop.core.store.checkpoint import load_model

    data = idx_writer.write_tiny_dataset(tmp_path / "data", n_train=1100, n_test=300)
    single = _single(data, tmp_path / "single.pt", tmp_path / "home1", device)
    assert single.returncode == 0, single.stderr
    ddp = _torchrun(data, tmp_path / "ddp.pt", tmp_path / "home2", nproc, device)
    assert ddp.returncode == 0, ddp.stdout + ddp.stderr
    # Printed once: process 0 speaks, the others are silent.
    assert ddp.stdout.count("Epoch [1/2]") == 1 and ddp.stdout.count("Epoch [2/2]") == 1, ddp.stdout
    assert ddp.stdout.count("Saved: ") == 1 and ddp.stdout.count("Test Accuracy") == 1, ddp.stdout
    assert f"torchrun: {nproc} processes" in ddp.stdout
    # A tested model is not also called untested (the old "Test evaluation skipped" line).
    assert "skipped" not in ddp.stdout and "skipped" not in single.stdout, single.stdout
    assert ddp.stderr.count("Epoch 1/2 [") == single.stderr.count("Epoch 1/2 ["), ddp.stderr  # one progress bar
    # One model file, loadable safely, with the same metadata fields as the single run's.
    model, meta = load_model(tmp_path / "ddp.pt")
    _, single_meta = load_model(tmp_path / "single.pt")
    assert meta.arch == single_meta.arch and meta.preset == single_meta.preset
    assert set(meta.training) == set(single_meta.training) and set(meta.metrics) == set(single_meta.metrics)
    assert meta.training["epochs"] == 2 and meta.training["batch_size"] == single_meta.training["batch_size"]
    # The same recipe (the batch split between the processes, so as many steps): the accuracy
    # matches the single run's within the noise of 300 test images and two shards' augmentation.
    acc, single_acc = meta.metrics["test_accuracy"], single_meta.metrics["test_accuracy"]
    assert single_acc > 60 and abs(acc - single_acc) <= 12, (acc, single_acc)
    assert isinstance(model, torch.nn.Module)


def test_torchrun_two_processes_with_gloo_match_a_single_run(tmp_path, idx_writer):
    _check_against_single_run(tmp_path, idx_writer, "cpu", 2)


@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="NCCL needs two NVIDIA GPUs (one per process); none lent here")
def test_torchrun_two_processes_with_nccl_match_a_single_run(tmp_path, idx_writer):
    _check_against_single_run(tmp_path, idx_writer, "cuda", 2)


def test_torchrun_refuses_apples_gpu_in_one_line():
    from fmnist_desktop.core.learn import distributed
    from fmnist_desktop.core.base.errors import TrainingError

    with pytest.raises(TrainingError, match="CPUs \\(gloo\\) or NVIDIA GPUs"):
        distributed.backend_for(torch.device("mps"))


def test_outside_torchrun_sharding_is_a_no_op():
    from fmnist_desktop.core.learn import distributed

    order = torch.randperm(11)
    assert not distributed.active() and distributed.shard(order) is order
    assert distributed.local_count(11) == 11 and distributed.local_batch(256) == 256
