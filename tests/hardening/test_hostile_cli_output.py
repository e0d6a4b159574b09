"""Hostile names and sizes through the command line (issue 12, hostile items 7, 9, 10 and 11):
file names that forge lines in `fmnist predict`'s tab-separated output or are not valid UTF-8,
results that must stream (`--jsonl`, lines as they come, a progress bar on stderr), `--seed`
beyond 64 bits, a 253-character `--out` name, and exit statuses that say photos were skipped.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from fmnist_desktop.core.base import paths
from fmnist_desktop.core.predict import predictor as predict
from fmnist_desktop.core.predict.predictor import Predictor

pytestmark = pytest.mark.timeout(180)

FORGED = "fake.png\tBag\t99.9%\nx.png"
NON_UTF8 = os.fsdecode(b"nb_\xff.png")


def _png(path: Path, value: int = 200) -> Path:
    img = Image.new("L", (28, 28), 0)
    img.paste(value, (8, 4, 20, 24))
    img.save(path, "PNG")
    return path


@pytest.fixture
def small_data(tmp_path, idx_writer):
    return idx_writer.write_tiny_dataset(tmp_path / "data", n_train=300, n_test=100)


# ------------------------------------------------------------------------------- item 9


def test_a_file_name_cannot_forge_a_line_in_the_tab_separated_output(tmp_path, run_cli, seed_model_file):
    folder = tmp_path / "in"
    folder.mkdir()
    _png(folder / FORGED)
    _png(folder / "real.png")

    result = run_cli("predict", "--weights", seed_model_file, folder)

    assert result.code == 0, result
    lines = result.out.splitlines()
    assert len(lines) == 3, lines  # two images and the summary
    assert not any(line.startswith("x.png") for line in lines)
    forged = next(line for line in lines if "fake.png" in line)
    assert forged.startswith(str(folder) + "/fake.png\\tBag\\t99.9%\\nx.png\t")
    assert forged.count("\t") == lines[1 - lines.index(forged)].count("\t")


def test_a_skipped_file_with_control_characters_is_one_stderr_line(tmp_path, run_cli, seed_model_file):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "empty\n\x1b[31m.png").write_bytes(b"")
    _png(folder / "real.png")
    result = run_cli("predict", "--weights", seed_model_file, folder)
    skipped = [line for line in result.err.splitlines() if line.startswith("fmnist: skipped:")]
    assert skipped == ["fmnist: skipped: empty\\n\\x1b[31m.png is empty (0 bytes)."], result.err


def test_a_non_utf8_name_is_recoverable_in_json_output(tmp_path, seed_model_file):
    folder = tmp_path / "in"
    folder.mkdir()
    _png(Path(os.fsdecode(bytes(folder) + b"/nb_\xff.png")))
    env = dict(os.environ, PYTHONPATH=str(paths.source_root()))
    for flag in ("--json", "--jsonl"):
        proc = subprocess.run([sys.executable, "-m", "fmnist_desktop.cli", "predict", flag, "--weights",
                               str(seed_model_file), str(folder)], capture_output=True, env=env, timeout=120)
        assert proc.returncode == 0, proc.stderr
        text = proc.stdout.decode("utf-8")  # strictly valid UTF-8
        records = json.loads(text) if flag == "--json" else [json.loads(line) for line in text.splitlines()]
        [record] = records
        assert base64.b64decode(record["path_bytes"]) == bytes(folder) + b"/nb_\xff.png"
        assert record["path"].endswith("nb_\ufffd.png") and "?" not in record["path"]
        assert "T" in record["label"] or record["label"]


def test_a_non_utf8_name_in_the_table_is_shown_as_hex(tmp_path, run_cli, seed_model_file):
    path = _png(Path(os.fsdecode(bytes(tmp_path) + b"/nb_\xff.png")))
    result = run_cli("predict", "--weights", seed_model_file, path)
    assert result.out.startswith(str(tmp_path) + "/nb_\\xff.png\t"), result.out


# ------------------------------------------------------------------------------- item 10


@pytest.fixture
def many(tmp_path) -> Path:
    folder = tmp_path / "many"
    folder.mkdir()
    for i in range(12):
        _png(folder / f"{i:03d}.png", 120 + 10 * i)
    return folder


def test_jsonl_gives_one_object_per_line(run_cli, seed_model_file, many):
    result = run_cli("predict", "--jsonl", "--weights", seed_model_file, many)
    assert result.code == 0, result
    records = [json.loads(line) for line in result.out.splitlines()]
    assert [Path(r["path"]).name for r in records] == [f"{i:03d}.png" for i in range(12)]
    assert all(set(r) >= {"path", "label", "confidence", "top_k"} for r in records)


@pytest.mark.parametrize("flag", [None, "--jsonl"])
def test_results_are_printed_as_they_come(run_cli, seed_model_file, many, monkeypatch, flag):
    monkeypatch.setattr(predict, "STREAM_BATCH", 4)
    printed_before_batch: list[int] = []
    real = Predictor._finish

    def finish(self, prepared, top_k):
        printed_before_batch.append(len(sys.stdout.getvalue().splitlines()))
        return real(self, prepared, top_k)

    monkeypatch.setattr(Predictor, "_finish", finish)
    result = run_cli("predict", *([flag] if flag else []), "--weights", seed_model_file, many)
    assert result.code == 0
    assert printed_before_batch == [0, 4, 8], "each batch's lines are out before the next batch is classified"


def test_a_folder_shows_a_progress_bar_on_stderr(run_cli, seed_model_file, many):
    for flag in (None, "--jsonl"):
        result = run_cli("predict", *([flag] if flag else []), "--weights", seed_model_file, many)
        assert "Classifying [" in result.err and "100%" in result.err, result.err
        assert "Classifying" not in result.out


# ------------------------------------------------------------------------------- items 7, 11


@pytest.mark.parametrize("seed", [str(2**63), str(2**64), "-1", str(-(2**63) - 1)])
def test_a_seed_beyond_63_bits_is_one_error_line(run_cli, small_data, seed):
    result = run_cli("train", "--preset", "fast", "--epochs", "1", "--data", small_data, "--seed", seed)
    result.assert_one_error_line("--seed must be between 0 and 9,223,372,036,854,775,807")
    assert "Data:" not in result.out


def test_a_253_character_out_name_works(run_cli, small_data, tmp_path):
    out = tmp_path / ("m" * 250 + ".pt")
    result = run_cli("train", "--preset", "fast", "--epochs", "1", "--batch-size", "32", "--data", small_data,
                     "--val-size", "60", "--device", "cpu", "--out", out)
    assert result.code == 0, result.err
    assert out.is_file() and not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_an_out_name_too_long_for_the_file_system_fails_before_training(run_cli, small_data, tmp_path):
    out = tmp_path / ("m" * 253 + ".pt")  # 256 bytes
    result = run_cli("train", "--preset", "fast", "--epochs", "1", "--data", small_data, "--out", out)
    result.assert_one_error_line("--out", "too long")
    assert "Data:" not in result.out


def test_evaluate_photos_exits_1_when_photos_were_skipped(tmp_path, run_cli, seed_model_file):
    folder = tmp_path / "photos" / "0_T-shirt_top"
    folder.mkdir(parents=True)
    _png(folder / "good.png")
    (folder / "empty.png").write_bytes(b"")
    result = run_cli("evaluate-photos", "--weights", seed_model_file, folder.parent)
    assert result.code == 1
    assert "fmnist: skipped: empty.png is empty" in result.err
    assert "1 read" in result.out
    (folder / "empty.png").unlink()
    assert run_cli("evaluate-photos", "--weights", seed_model_file, folder.parent).code == 0


def test_class_names_from_a_model_file_cannot_forge_lines_either(tmp_path, run_cli):
    from fmnist_desktop.core.store.checkpoint import CheckpointMeta, save_checkpoint
    from fmnist_desktop.core.base.labels import CLASS_NAMES
    from fmnist_desktop.core.models import build_model

    names = [f"{name}\tBag\t99.9%\nforged" for name in CLASS_NAMES]
    weights = save_checkpoint(tmp_path / "names.pt", build_model("seed_cnn"),
                              CheckpointMeta.for_preset("seed", "names", class_names=names))
    result = run_cli("predict", "--weights", weights, _png(tmp_path / "one.png"))
    assert result.code == 0, result
    assert len(result.out.splitlines()) == 1 and "\\tBag\\t99.9%\\nforged" in result.out


def test_evaluate_photos_json_keeps_a_non_utf8_name_recoverable(tmp_path, run_cli, seed_model_file):
    folder = tmp_path / "photos" / "0_T-shirt_top"
    folder.mkdir(parents=True)
    raw = bytes(folder) + b"/nb_\xff.png"
    _png(Path(os.fsdecode(raw)))
    result = run_cli("evaluate-photos", "--json", "--weights", seed_model_file, folder.parent)
    assert result.code == 0, result
    result.out.encode("utf-8")
    [record] = json.loads(result.out)["files"]
    assert base64.b64decode(record["path_bytes"]) == raw and record["path"].endswith("nb_\ufffd.png")
