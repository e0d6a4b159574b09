"""Scaling figures for docs/SCALING.md: tuning workers and torchrun processes.

    .venv/bin/python bench/bench_scaling.py tune  --workers 1 --budget 150 [--tune-threads 1] [--data DIR] [--n-train 6000]
    .venv/bin/python bench/bench_scaling.py train --nproc 2 [--threads 1] [--data DIR] [--epochs 1]

tune:  `fmnist tune --workers N --budget S --trials 1000` on one fresh study (its own app data
       folder), then counts the study's finished trials (complete + pruned): trials per hour.
train: `python -m torch.distributed.run --standalone --nproc_per_node N -m fmnist_desktop.cli
       train --epochs E --device cpu`, `OMP_NUM_THREADS` = --threads per process; training
       images per second from the epoch lines (the epoch time covers training and validation).
Without --data both write a generated Fashion-MNIST look-alike (tests/conftest.py's patterns)
of --n-train images, so the figure is about the machinery, not the real data set's size.
Prints the load average before and after: on a shared machine the figures are noisy.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def load() -> str:
    return "{:.2f} {:.2f} {:.2f}".format(*os.getloadavg())


def generated_data(folder: Path, n_train: int) -> Path:
    sys.path.insert(0, str(REPO / "tests"))
    from conftest import write_tiny_dataset  # the tests' learnable patterns, in IDX files

    return write_tiny_dataset(folder, n_train=n_train, n_test=1000)


def bench_tune(args, data: Path, home: Path) -> dict:
    cmd = [sys.executable, "-m", "fmnist_desktop.cli", "tune", "--data", str(data), "--val-size", str(args.val_size),
           "--device", "cpu", "--study", "bench", "--workers", str(args.workers), "--budget", f"{args.budget}s",
           "--trials", "1000", "--no-save", "--preset", args.preset]
    if args.tune_threads:
        cmd += ["--threads", str(args.tune_threads)]
    env = dict(os.environ, FMNIST_DESKTOP_HOME=str(home), PYTHONPATH=str(REPO))
    t0 = time.perf_counter()
    result = subprocess.run(cmd, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t0
    if result.returncode not in (0,):
        raise SystemExit(result.stdout + result.stderr)
    sys.path.insert(0, str(REPO))
    os.environ["FMNIST_DESKTOP_HOME"] = str(home)
    from fmnist_desktop.core.jobs import tuning

    records = tuning.trial_records(tuning.load_study("bench"))
    finished = [r for r in records if r.state in ("COMPLETE", "PRUNED")]
    return {"command": " ".join(cmd[1:]), "budget_s": args.budget, "wall_s": round(wall, 1),
            "trials_finished": len(finished), "complete": sum(r.state == "COMPLETE" for r in records),
            "pruned": sum(r.state == "PRUNED" for r in records),
            "epochs_trained": sum(r.epochs_run for r in records),
            "trials_stopped_by_budget": sum(r.state == "FAIL" for r in records),
            "trials_per_hour": round(len(finished) * 3600 / args.budget, 1)}


def bench_train(args, data: Path, home: Path) -> dict:
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(args.nproc),
           "-m", "fmnist_desktop.cli", "train", "--data", str(data), "--val-size", str(args.val_size),
           "--preset", args.preset, "--epochs", str(args.epochs), "--device", "cpu", "--out", str(home / "m.pt")]
    env = dict(os.environ, FMNIST_DESKTOP_HOME=str(home), PYTHONPATH=str(REPO), OMP_NUM_THREADS=str(args.threads))
    t0 = time.perf_counter()
    result = subprocess.run(cmd, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t0
    if result.returncode != 0:
        raise SystemExit(result.stdout + result.stderr)
    n_train = int(re.search(r"([\d,]+) training", result.stdout).group(1).replace(",", ""))
    epochs = [float(t) for t in re.findall(r"Val Acc: [\d.]+% \(([\d.]+) s\)", result.stdout)]
    test = re.search(r"Test Accuracy: ([\d.]+)%", result.stdout)
    return {"command": " ".join(cmd[1:]), "omp_threads_per_process": args.threads, "wall_s": round(wall, 1),
            "epoch_s": epochs, "train_images_per_s": round(n_train / min(epochs), 1),
            "test_accuracy": float(test.group(1)) if test else None}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("what", choices=("tune", "train"))
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--budget", type=int, default=150, help="seconds (tune)")
    p.add_argument("--nproc", type=int, default=1)
    p.add_argument("--threads", type=int, default=1, help="OMP_NUM_THREADS per torchrun process (train)")
    p.add_argument("--tune-threads", type=int, help="fmnist tune --threads (default: its own: cores / workers)")
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--preset", default="fast")
    p.add_argument("--data", help="a folder with the four Fashion-MNIST files (default: generated)")
    p.add_argument("--n-train", type=int, default=6000)
    p.add_argument("--val-size", type=int, default=1000)
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-scaling-") as tmp:
        data = Path(args.data) if args.data else generated_data(Path(tmp) / "data", args.n_train)
        home = Path(tmp) / "home"
        home.mkdir()
        before = load()
        report = bench_tune(args, data, home) if args.what == "tune" else bench_train(args, data, home)
        report.update(load_before=before, load_after=load(), data=str(args.data or f"generated, {args.n_train} images"))
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
