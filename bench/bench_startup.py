"""Start-up time of the desktop app: process start → main window shown.

Launches `python -m fmnist_desktop --startup-probe` N times (offscreen, isolated settings and data
folder). The app prints `startup-probe shown_s=<s> torch_loaded=<bool>` right after the window's
first show (seconds since its own process started, from /proc on Linux) and quits. As a baseline in
the same run, it also times a bare `python -c "import PySide6.QtWidgets"` process and a
`python -c "import torch"` process, so the figure can be read against the machine's speed.

    .venv/bin/python bench/bench_startup.py [--runs 7]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time


def _env(tmp: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        QT_QPA_PLATFORM=os.environ.get("QT_QPA_PLATFORM", "offscreen"),
        FMNIST_DESKTOP_HOME=os.path.join(tmp, "home"),
        XDG_CONFIG_HOME=os.path.join(tmp, "config"),
    )
    return env


def probe_once(env: dict[str, str]) -> tuple[float, float, bool]:
    """(shown_s reported by the app, wall time of the whole process, torch loaded at show)."""
    start = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "fmnist_desktop", "--startup-probe"],
        capture_output=True, text=True, env=env, timeout=120,
    )
    wall = time.perf_counter() - start
    line = next((l for l in result.stdout.splitlines() if l.startswith("startup-probe")), None)
    if result.returncode != 0 or line is None:
        raise SystemExit(f"the app did not report start-up (exit {result.returncode}): {result.stderr.strip()[-400:]}")
    fields = dict(item.split("=", 1) for item in line.split()[1:])
    return float(fields["shown_s"]), wall, fields["torch_loaded"] == "True"


def time_command(code: str, env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], env=env, check=True, capture_output=True, timeout=300)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="fmnist-startup-") as tmp:
        env = _env(tmp)
        probe_once(env)  # warm the file cache; not counted
        shown, walls, torch_flags = [], [], []
        for _ in range(args.runs):
            s, w, t = probe_once(env)
            shown.append(s)
            walls.append(w)
            torch_flags.append(t)
        qt_only = statistics.median(time_command("import PySide6.QtWidgets", env) for _ in range(3))
        torch_only = statistics.median(time_command("import torch", env) for _ in range(3))
    median = statistics.median(shown)
    print(f"runs: {args.runs}  (python {sys.version.split()[0]}, QT_QPA_PLATFORM={env['QT_QPA_PLATFORM']})")
    print(f"window shown after process start: median {median:.3f} s  (min {min(shown):.3f}, max {max(shown):.3f})")
    print(f"whole probe process (start, show, quit): median {statistics.median(walls):.3f} s")
    print(f"torch imported before the window was shown: {any(torch_flags)}")
    print(f"baseline: python -c 'import PySide6.QtWidgets' {qt_only:.3f} s; python -c 'import torch' {torch_only:.3f} s")
    print(f"ratio: window shown / bare Qt import = {median / qt_only:.2f}x; "
          f"window shown / torch import = {median / torch_only:.2f}x")
    print("target: well under 2 s —", "OK" if median < 2.0 else "TOO SLOW")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
