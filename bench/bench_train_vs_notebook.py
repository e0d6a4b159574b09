"""The origin notebook's training pipeline vs this project's trainer, same model, same data.

Both sides train the notebook's CNN (the `seed` preset: 16×16 input, Adam 1e-3, batch 64) for the
same number of epochs on the same 55,000/5,000 train/validation split, in this one process:

- notebook: torchvision `datasets.FashionMNIST` + `Compose([Resize(16), ToTensor(),
  Normalize((0.5,), (0.5,))])` applied per sample with PIL + `DataLoader(batch_size=64,
  shuffle=True)` and the usual train/validate loop;
- ours: `core.learn.training.iter_training` with the `seed` preset (whole split as tensors, batched
  resize/normalise, no DataLoader).

The two sides' epochs alternate (notebook 1, ours 1, notebook 2, …), so a drift in a shared
machine's speed over minutes hits both alike. Prints each epoch's time, the ratio per epoch pair
and over all epochs (ours / notebook, target ≤ 0.25), and both models' test accuracy (they should
agree within about a point). The machine's load average is printed too.

    .venv/bin/python bench/bench_train_vs_notebook.py --epochs 2 [--data /usr/share/datasets/fashion-mnist]
"""

from __future__ import annotations

import argparse
import gzip
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import torch
from torch import nn
from torch.utils.data import DataLoader, Subset
from torchvision import datasets, transforms

from fmnist_desktop.core.models import SeedCNN
from fmnist_desktop.core.store.user_presets import get_preset
from fmnist_desktop.core.learn.training import EpochEnd, Failed, Finished, TrainConfig, format_epoch_line, iter_training
from fmnist_desktop.core.learn.transforms import to_model_input

FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


def torchvision_layout(src: Path, root: Path) -> None:
    """torchvision's FashionMNIST reads <root>/FashionMNIST/raw/<name> (uncompressed) when
    download=False; the Debian package ships <name>.gz."""
    raw = root / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    for name in FILES:
        gz = src / f"{name}.gz"
        if gz.exists():
            with gzip.open(gz, "rb") as fin, open(raw / name, "wb") as fout:
                shutil.copyfileobj(fin, fout)
        else:
            shutil.copy(src / name, raw / name)


def load(root: Path, val_size: int, seed: int):
    tf = transforms.Compose([transforms.Resize(16), transforms.ToTensor(), transforms.Normalize((0.5,), (0.5,))])
    full_train = datasets.FashionMNIST(root, train=True, download=False, transform=tf)
    test = datasets.FashionMNIST(root, train=False, download=False, transform=tf)
    order = torch.randperm(len(full_train), generator=torch.Generator().manual_seed(seed))
    val_idx, train_idx = order[:val_size], order[val_size:]
    return full_train, test, train_idx, val_idx


def notebook_run(full_train, test, train_idx, val_idx, epochs: int, seed: int):
    torch.manual_seed(seed)
    train_loader = DataLoader(Subset(full_train, train_idx.tolist()), batch_size=64, shuffle=True)
    val_loader = DataLoader(Subset(full_train, val_idx.tolist()), batch_size=64, shuffle=False)
    model = SeedCNN()
    criterion = nn.CrossEntropyLoss()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    times = []
    for epoch in range(epochs):
        t0 = time.perf_counter()
        model.train()
        run_loss, correct, total = 0.0, 0, 0
        for images, labels in train_loader:
            optimizer.zero_grad()
            outputs = model(images)
            loss = criterion(outputs, labels)
            loss.backward()
            optimizer.step()
            run_loss += loss.item() * images.size(0)
            correct += (outputs.argmax(1) == labels).sum().item()
            total += labels.size(0)
        model.eval()
        v_loss, v_correct, v_total = 0.0, 0, 0
        with torch.no_grad():
            for images, labels in val_loader:
                outputs = model(images)
                v_loss += criterion(outputs, labels).item() * images.size(0)
                v_correct += (outputs.argmax(1) == labels).sum().item()
                v_total += labels.size(0)
        times.append(time.perf_counter() - t0)
        line = format_epoch_line(
            EpochEnd(epoch + 1, epochs, run_loss / total, v_loss / v_total, 100 * correct / total,
                     100 * v_correct / v_total, times[-1], 1e-3)
        )
        print(f"  notebook {line}  [{times[-1]:.1f} s, load {os.getloadavg()[0]:.2f}]", flush=True)
        yield times[-1]
    correct = 0
    with torch.no_grad():
        for images, labels in DataLoader(test, batch_size=64):
            correct += (model(images).argmax(1) == labels).sum().item()
    return 100.0 * correct / len(test)


def ours_run(full_train, test, train_idx, val_idx, epochs: int, seed: int):
    images, labels = full_train.data, full_train.targets  # uint8 (60000,28,28), int64
    try:
        from fmnist_desktop.core.data.fashion_mnist import DataSource, FashionMNIST, Split

        split = lambda idx: Split(images[idx], labels[idx])  # noqa: E731
        data = FashionMNIST(split(train_idx), split(val_idx), Split(test.data, test.targets),
                            DataSource("folder", None, "benchmark"))
    except ImportError:
        split = lambda idx: SimpleNamespace(images=images[idx], labels=labels[idx])  # noqa: E731
        data = SimpleNamespace(train=split(train_idx), val=split(val_idx))
    times, model = [], None
    for event in iter_training(TrainConfig(preset="seed", epochs=epochs, device="cpu", seed=seed), data):
        if isinstance(event, EpochEnd):
            times.append(event.epoch_time_s)
            print(f"  ours     {format_epoch_line(event)}  [{event.epoch_time_s:.1f} s, load {os.getloadavg()[0]:.2f}]",
                  flush=True)
            yield event.epoch_time_s
        elif isinstance(event, Failed):
            sys.exit(f"our trainer failed: {event.message} {event.advice}")
        elif isinstance(event, Finished):
            model = event.model
    preset = get_preset("seed")
    with torch.inference_mode():
        x = to_model_input(test.data, preset.input_size, preset.mean, preset.std)
        acc = 100.0 * (model(x).argmax(1) == test.targets).float().mean().item()
    return acc


def _finish(generator) -> float:
    try:
        next(generator)
    except StopIteration as stop:
        return stop.value
    raise RuntimeError("more epochs than asked for")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--data", type=Path, default=Path("/usr/share/datasets/fashion-mnist"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None, help="torch threads for both sides")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs, "
          f"load average at start {os.getloadavg()}")
    with tempfile.TemporaryDirectory() as tmp:
        torchvision_layout(args.data, Path(tmp))
        full_train, test, train_idx, val_idx = load(Path(tmp), 5000, args.seed)
        # Epochs alternate (notebook 1, ours 1, notebook 2, ours 2, …): this shared VM's speed drifts
        # over minutes, and alternating puts both sides in the same minutes.
        print(f"{args.epochs} epoch(s) each, alternating: the notebook's pipeline, then this project's trainer (seed preset)")
        notebook = notebook_run(full_train, test, train_idx, val_idx, args.epochs, args.seed)
        ours = ours_run(full_train, test, train_idx, val_idx, args.epochs, args.seed)
        nb_times, our_times = [], []
        for _ in range(args.epochs):
            nb_times.append(next(notebook))
            our_times.append(next(ours))
        nb_acc, our_acc = _finish(notebook), _finish(ours)
    nb_mean, our_mean = sum(nb_times) / len(nb_times), sum(our_times) / len(our_times)
    print()
    print("per epoch pair, ours/notebook: " + ", ".join(f"{o / n:.3f}" for o, n in zip(our_times, nb_times)))
    print(f"epoch time  notebook {nb_mean:7.1f} s   ours {our_mean:7.1f} s   ratio ours/notebook {our_mean / nb_mean:.3f}"
          f"  (target <= 0.25)")
    print(f"test acc    notebook {nb_acc:6.2f} %   ours {our_acc:6.2f} %   difference {our_acc - nb_acc:+.2f} points")
    print(f"load average at end {os.getloadavg()}")


if __name__ == "__main__":
    main()
