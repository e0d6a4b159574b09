"""Start-up: --version, and the window appears before torch is imported."""

from __future__ import annotations

import os
import subprocess
import sys

from fmnist_desktop import __version__


def _run_app(args, tmp_path, timeout=120):
    env = dict(os.environ)
    env.update(
        QT_QPA_PLATFORM="offscreen",
        FMNIST_DESKTOP_HOME=str(tmp_path / "home"),
        XDG_CONFIG_HOME=str(tmp_path / "config"),
    )
    return subprocess.run(
        [sys.executable, "-m", "fmnist_desktop", *args],
        capture_output=True, text=True, env=env, timeout=timeout,
    )


def test_version_prints_name_and_version(tmp_path):
    result = _run_app(["--version"], tmp_path)
    assert result.returncode == 0
    assert result.stdout.strip() == f"fmnist-desktop {__version__}"
    assert "Traceback" not in result.stderr


def test_window_is_shown_before_torch_is_imported(tmp_path):
    result = _run_app(["--startup-probe"], tmp_path)
    assert result.returncode == 0, result.stderr
    probe = [line for line in result.stdout.splitlines() if line.startswith("startup-probe")]
    assert probe, result.stdout + result.stderr
    fields = dict(item.split("=") for item in probe[0].split()[1:])
    assert fields["torch_loaded"] == "False"
    assert float(fields["shown_s"]) > 0
    assert "Traceback" not in result.stderr
