"""Power cut while saving: a child process saves models into the library (checkpoint files and the
library index) in a loop and is SIGKILLed at random moments, many times over.

After every kill, what the user had must still be there: every model whose save had returned still
loads, the model being rewritten in place (a rename rewrites the file) loads with its old or its new
name, the index is valid JSON (never set aside as corrupt), the active model loads, and the hidden
temp files a killed save leaves behind are never listed as models; old ones are removed when the
library is opened again.

The child is forked from the test process (torch already imported), so a kill cycle costs tens of
milliseconds instead of a fresh interpreter's two-second torch import.
"""

from __future__ import annotations

import json
import os
import random
import signal
import sys
import time
from pathlib import Path

import pytest
import torch

from fmnist_desktop.core.base import paths
from fmnist_desktop.core.store.checkpoint import CheckpointMeta, load_checkpoint
from fmnist_desktop.core.store.library import INDEX_NAME, ModelLibrary
from fmnist_desktop.core.models import build_model

pytestmark = pytest.mark.skipif(not hasattr(os, "fork") or sys.platform == "darwin", reason="needs os.fork (POSIX)")

ANCHOR_NAME = "Anchor"
MAX_KILL_DELAY_S = 0.25  # about three save iterations (add + rename + set_active) on a loaded laptop
KEEP_USER_MODELS = 8  # the parent deletes older runs between kills, as a user would


def _save_loop(folder: Path, report_fd: int, state_dict: dict, anchor_id: str, first: int) -> None:
    """The child: what the app does when it saves runs, forever, reporting each completed step."""
    torch.set_num_threads(1)  # the parent's OpenMP pool does not survive fork()
    library = ModelLibrary(folder)
    i = first
    while True:
        entry = library.add(state_dict, CheckpointMeta.for_preset("seed", f"Run {i}", metrics={"test_accuracy": float(i)}))
        os.write(report_fd, f"added {entry.path.name} {i}\n".encode())
        os.write(report_fd, f"renaming {i}\n".encode())
        library.rename(anchor_id, f"{ANCHOR_NAME} {i}")
        os.write(report_fd, f"renamed {i}\n".encode())
        library.set_active(entry.id)
        os.write(report_fd, f"active {entry.id}\n".encode())
        i += 1


def _run_and_kill(folder: Path, state_dict: dict, anchor_id: str, first: int, delay_s: float) -> list[str]:
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: never returns into pytest
        status = 0
        try:
            os.close(read_fd)
            _save_loop(folder, write_fd, state_dict, anchor_id, first)
        except BaseException:  # noqa: BLE001 — reported by the exit status
            status = 3
        finally:
            os._exit(status)
    os.close(write_fd)
    time.sleep(delay_s)
    os.kill(pid, signal.SIGKILL)
    _, status = os.waitpid(pid, 0)
    chunks = []
    while chunk := os.read(read_fd, 65536):
        chunks.append(chunk)
    os.close(read_fd)
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL, (
        f"the saving child ended on its own (status {status}) instead of being killed: it failed"
    )
    return b"".join(chunks).decode().splitlines()


def _check_library(folder: Path, expected: dict[str, int], anchor_id: str, anchor_names: set[str]) -> int:
    """Everything the user had is intact; returns the number of stray temp files (killed mid-write)."""
    index_path = folder / INDEX_NAME
    if index_path.exists():
        json.loads(index_path.read_text(encoding="utf-8"))  # never torn: it is replaced atomically
    assert not list(folder.glob(f"{INDEX_NAME}.corrupt-*")), "the index was damaged and set aside"

    library = ModelLibrary(folder)
    entries = [e for e in library.entries() if not e.builtin]
    listed = {e.path.name: e for e in entries}
    for entry in entries:
        assert entry.path.suffix == ".pt" and not entry.path.name.startswith("."), f"temp file listed: {entry.path}"
        load_checkpoint(entry.path)  # raises CheckpointError if the file is damaged
    for name, run in expected.items():
        assert name in listed, f"run {run} ({name}) was saved before the kill but is gone"
        assert load_checkpoint(folder / name)[1].name == f"Run {run}"
    _, anchor_meta = load_checkpoint(listed[f"{anchor_id}.pt"].path)
    assert anchor_meta.name in anchor_names, f"the rewritten model has an unexpected name {anchor_meta.name!r}"
    active = library.active()
    load_checkpoint(active.path)
    return len(list(folder.glob(f".*{paths.TEMP_SUFFIX}")))


def _kill_many_times(folder: Path, kills: int, seed: int) -> dict[str, int]:
    rng = random.Random(seed)
    torch.manual_seed(seed)
    state_dict = build_model("seed_cnn").state_dict()
    library = ModelLibrary(folder)
    anchor = library.add(state_dict, CheckpointMeta.for_preset("seed", ANCHOR_NAME))
    expected: dict[str, int] = {}  # file name -> run number, for every save that had returned
    anchor_names = {ANCHOR_NAME}
    next_run = 0
    runs_reported = 0
    killed_mid_write = 0
    for _ in range(kills):
        lines = _run_and_kill(folder, state_dict, anchor.id, next_run, rng.uniform(0.0, MAX_KILL_DELAY_S))
        for line in lines:
            word, *rest = line.split()
            if word == "added":
                expected[rest[0]] = int(rest[1])
                runs_reported += 1
                next_run = int(rest[1]) + 1
            elif word == "renaming":
                # Killed during the rename: the file holds the old name or the new one, never neither.
                anchor_names.add(f"{ANCHOR_NAME} {rest[0]}")
        stray = _check_library(folder, expected, anchor.id, anchor_names)
        killed_mid_write += stray > 0
        # Between "sessions" the user deletes old runs, so the library stays small. A run killed
        # after its file was saved but before it was reported is a complete model: it was checked
        # above like every listed one, and goes too.
        keep = set(sorted(expected, key=expected.get)[-KEEP_USER_MODELS:]) | {f"{anchor.id}.pt"}
        pruning = ModelLibrary(folder)
        for entry in pruning.entries():
            if not entry.builtin and entry.path.name not in keep:
                pruning.delete(entry.id)
                expected.pop(entry.path.name, None)
        next_run += 1  # a fresh number: the killed child may have been saving "Run <next_run>"
        for tmp in folder.glob(f".*{paths.TEMP_SUFFIX}"):
            tmp.unlink()  # counted once; the clean-up at start-up is tested below
    return {"kills": kills, "runs_saved": runs_reported, "kills_mid_write": killed_mid_write}


def test_sigkill_during_saves_never_loses_a_model_or_the_index(tmp_path):
    figures = _kill_many_times(tmp_path / "models", kills=40, seed=1)
    print(f"power cut: {figures}")
    # The kills really landed during saves, and the loop really saved between them.
    assert figures["runs_saved"] >= 10
    assert figures["kills_mid_write"] >= 1


@pytest.mark.slow
def test_sigkill_during_saves_500_times(tmp_path):
    figures = _kill_many_times(tmp_path / "models", kills=500, seed=2)
    print(f"power cut: {figures}")
    assert figures["kills_mid_write"] >= 20


def test_temp_files_of_killed_saves_are_ignored_and_old_ones_removed_at_next_start(tmp_path):
    folder = tmp_path / "models"
    library = ModelLibrary(folder)
    entry = library.add(build_model("seed_cnn"), CheckpointMeta.for_preset("seed", "Kept"))
    half_written = entry.path.read_bytes()[: entry.path.stat().st_size // 2]
    old_tmp = folder / f".{entry.path.name}.a1b2c3.tmp"  # what atomic_write leaves when killed
    old_tmp.write_bytes(half_written)
    new_name_tmp = folder / ".second-run-20990101-000000.pt.d4e5f6.tmp"
    new_name_tmp.write_bytes(half_written)
    hour_and_a_bit_ago = time.time() - paths.STALE_TEMP_AGE_S - 60
    os.utime(old_tmp, (hour_and_a_bit_ago, hour_and_a_bit_ago))

    reopened = ModelLibrary(folder)  # what the app does at start-up
    assert [e.name for e in reopened.entries() if not e.builtin] == ["Kept"]
    assert not old_tmp.exists(), "a leftover from an old interrupted save must be cleared"
    assert new_name_tmp.exists(), "a young temp file may be a save in progress elsewhere: keep it"
    assert reopened.active().path.is_file()
