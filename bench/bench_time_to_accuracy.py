"""Test accuracy against training wall-clock time, epoch by epoch, for one preset on the real data.

    .venv/bin/python bench/bench_time_to_accuracy.py --preset fast [--epochs N] [--threads 2]

After every epoch the model is scored on the 10,000-image test set (that scoring is not counted in
the training time). The machine's load average is printed with each line: on a shared machine the
times are only as good as the machine is quiet.
"""

from __future__ import annotations

import argparse
import gzip
import os
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch

from fmnist_desktop.core.learn import training
from fmnist_desktop.core.store.user_presets import get_preset
from fmnist_desktop.core.learn.training import EpochEnd, Failed, Finished, Started, TrainConfig, iter_training
from fmnist_desktop.core.learn.transforms import to_model_input


def load(folder: Path):
    try:
        from fmnist_desktop.core.data.fashion_mnist import load_dataset
    except ImportError:  # before core/data.py existed: read the gzip IDX files directly
        def read(name, offset):
            with gzip.open(folder / f"{name}.gz") as f:
                return torch.from_numpy(np.frombuffer(f.read(), np.uint8, offset=offset).copy())

        images = read("train-images-idx3-ubyte", 16).view(-1, 28, 28)
        labels = read("train-labels-idx1-ubyte", 8).long()
        order = torch.randperm(60000, generator=torch.Generator().manual_seed(0))
        part = lambda idx: SimpleNamespace(images=images[idx], labels=labels[idx])  # noqa: E731
        test = SimpleNamespace(images=read("t10k-images-idx3-ubyte", 16).view(-1, 28, 28),
                               labels=read("t10k-labels-idx1-ubyte", 8).long())
        return SimpleNamespace(train=part(order[5000:]), val=part(order[:5000]), test=test)
    return load_dataset(folder)


@torch.inference_mode()
def test_accuracy(model, test, preset) -> float:
    was_training = model.training
    model.eval()
    correct = 0
    for start in range(0, len(test.labels), 1000):
        x = to_model_input(test.images[start : start + 1000], preset.input_size, preset.mean, preset.std)
        correct += (model(x).argmax(1) == test.labels[start : start + 1000]).sum().item()
    model.train(was_training)
    return 100.0 * correct / len(test.labels)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="fast")
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--data", type=Path, default=Path("/usr/share/datasets/fashion-mnist"))
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    data = load(args.data)
    preset = get_preset(args.preset)

    # The trainer builds its model internally; keep a handle on it to score it between epochs.
    built = []
    real_build = training.build_model
    training.build_model = lambda arch: built.append(real_build(arch)) or built[-1]

    print(f"preset {preset.name}, torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"load average at start {os.getloadavg()}")
    print(f"{'epoch':>5} {'train s':>9} {'total s':>9} {'val acc':>8} {'test acc':>9} {'load':>6}")
    config = TrainConfig(preset=args.preset, epochs=args.epochs, seed=args.seed, device=args.device)
    total = 0.0
    for event in iter_training(config, data):
        if isinstance(event, Started):
            print(f"# {event.n_train} training images, {event.batches_per_epoch} batches/epoch on {event.device_name}")
        elif isinstance(event, EpochEnd):
            total += event.epoch_time_s
            acc = test_accuracy(built[-1], data.test, preset)
            print(f"{event.epoch:>5} {event.epoch_time_s:9.1f} {total:9.1f} {event.val_acc:7.2f}% {acc:8.2f}% "
                  f"{os.getloadavg()[0]:6.2f}", flush=True)
        elif isinstance(event, Failed):
            sys.exit(f"training failed: {event.message} {event.advice}")
        elif isinstance(event, Finished):
            print(f"final: test accuracy {acc:.2f}% after {total:.1f} s of training "
                  f"({event.elapsed_s:.1f} s wall-clock incl. validation)")


if __name__ == "__main__":
    main()
