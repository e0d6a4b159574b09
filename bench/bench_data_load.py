"""Loading Fashion-MNIST: `core.data.fashion_mnist.load_dataset` against torchvision's dataset classes.

    .venv/bin/python bench/bench_data_load.py [--data DIR] [--runs 5]

Times, in one process, the median of N runs of
  - ours:        load_dataset(DIR) — reads the four gzip files, verifies them, splits validation;
  - torchvision: FashionMNIST(root, train=True) + (train=False) on the same files decompressed
                 into torchvision's layout (so torchvision does not even pay for gzip), and
  - notebook:    one pass over the torchvision training set as the origin notebook reads it
                 (per-sample PIL image → ToTensor()), which is what every epoch cost it.
Prints each time, the ratios to ours, and the load average (the machine may be shared).
"""

from __future__ import annotations

import argparse
import gzip
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fmnist_desktop.core.data import fashion_mnist as data  # noqa: E402


def _median_time(fn, runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(data.DEBIAN_DIR))
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    from torchvision import datasets, transforms

    with tempfile.TemporaryDirectory() as tmp:
        os.environ.setdefault("FMNIST_DESKTOP_HOME", os.path.join(tmp, "home"))
        raw = Path(tmp) / "FashionMNIST" / "raw"
        raw.mkdir(parents=True)
        for stem in data.FILE_STEMS:
            with gzip.open(Path(args.data) / f"{stem}.gz") as src, open(raw / stem, "wb") as dst:
                shutil.copyfileobj(src, dst)

        ours = _median_time(lambda: data.load_dataset(args.data), args.runs)
        tv = _median_time(
            lambda: (datasets.FashionMNIST(tmp, train=True), datasets.FashionMNIST(tmp, train=False)), args.runs
        )
        notebook_set = datasets.FashionMNIST(tmp, train=True, transform=transforms.ToTensor())
        start = time.perf_counter()
        for i in range(len(notebook_set)):
            notebook_set[i]
        notebook = time.perf_counter() - start

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"load average (1 min): {load:.2f} on {os.cpu_count()} CPUs; median of {args.runs} runs")
    print(f"ours        load_dataset (gzip, verified, split): {ours:6.3f} s")
    print(f"torchvision FashionMNIST train+test (raw files):  {tv:6.3f} s   ({tv / ours:.2f}x ours)")
    print(f"notebook    one pass of PIL+ToTensor over 60k:    {notebook:6.3f} s   ({notebook / ours:.1f}x ours, every epoch)")


if __name__ == "__main__":
    main()
