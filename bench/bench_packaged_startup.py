"""Launch → visible main window, packaged app vs. the same app run from source, under Xvfb.

Runs `dist/fmnist-desktop/fmnist-desktop --startup-probe` and `python -m fmnist_desktop
--startup-probe` alternately, N times each, on a real X server (Xvfb, xcb platform plugin), each
with an empty data folder and settings. The app prints `startup-probe shown_s=<s>` (seconds since
its own process started, read from /proc) once the window has been shown, then quits. Prints the
median and spread of both and their ratio. Run it alone on an idle machine for figures to quote:

    xvfb-run -a -s "-screen 0 1280x800x24" .venv/bin/python bench/bench_packaged_startup.py [--runs 7]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BUNDLE_EXE = ROOT / "dist" / "fmnist-desktop" / "fmnist-desktop"


def probe(command: list[str]) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "FMNIST_DESKTOP_HOME": f"{tmp}/home", "XDG_CONFIG_HOME": f"{tmp}/config"}
        env.pop("QT_QPA_PLATFORM", None)  # the real X server, as a user would see it
        result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    for line in result.stdout.splitlines():
        if line.startswith("startup-probe shown_s="):
            return float(line.split()[1].split("=")[1])
    raise SystemExit(f"{command[0]} printed no startup-probe line (exit {result.returncode}): {result.stderr.strip()[-300:]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--bundle", type=Path, default=BUNDLE_EXE)
    args = parser.parse_args()
    if not os.environ.get("DISPLAY"):
        raise SystemExit("no DISPLAY: run under xvfb-run (see the docstring)")
    if not args.bundle.is_file():
        raise SystemExit(f"{args.bundle} not found: build it with python -m fmnist_desktop.build")
    commands = {"packaged": [str(args.bundle), "--startup-probe"], "source": [sys.executable, "-m", "fmnist_desktop", "--startup-probe"]}
    times: dict[str, list[float]] = {name: [] for name in commands}
    probe(commands["packaged"])  # warm the page cache once: the first launch after a build reads GBs from disk
    for i in range(args.runs):
        for name, command in commands.items():
            times[name].append(probe(command))
        print(f"run {i + 1}/{args.runs}: " + ", ".join(f"{n} {t[-1]:.2f} s" for n, t in times.items()), flush=True)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    for name, values in times.items():
        print(f"{name:8s} launch → window shown: median {statistics.median(values):.2f} s (min {min(values):.2f}, max {max(values):.2f}, n={len(values)})")
    ratio = statistics.median(times["packaged"]) / statistics.median(times["source"])
    print(f"packaged / source: {ratio:.2f}×   (1-min load average at the end: {load:.1f} on {os.cpu_count()} CPUs)")


if __name__ == "__main__":
    main()
