"""`fmnist export --format onnx|torchscript` and `fmnist serve`'s refusals."""

from __future__ import annotations

import json

import pytest

from fmnist_desktop.core.jobs import export


@pytest.mark.skipif(export.export_formats_available()["onnx"] is not None, reason="onnx extras not installed")
def test_export_onnx_writes_a_verified_file_and_its_contract(run_cli, small_model, tmp_path):
    r = run_cli("export", "--weights", small_model, "--format", "onnx", tmp_path / "m.onnx")
    assert r.code == 0, r
    assert "verified with onnxruntime" in r.out and (tmp_path / "m.onnx.json").is_file()
    r = run_cli("export", "--weights", small_model, "--format", "torchscript", "--json", tmp_path / "m.ts.pt")
    assert r.code == 0, r
    info = json.loads(r.out)
    assert info["verification"]["ok"] and info["verification"]["top1_agreement"] == 1.0


def test_export_old_formats_still_work(run_cli, small_model, tmp_path):
    assert run_cli("export", "--weights", small_model, tmp_path / "copy.pt").code == 0
    assert run_cli("export", "--weights", small_model, "--format", "state_dict", tmp_path / "bare.pth").code == 0
    run_cli("export", "--weights", small_model, "--format", "onnx", tmp_path).assert_one_error_line("folder")


def test_serve_refuses_bad_options_before_loading_anything(run_cli, small_model, tmp_path):
    pytest.importorskip("fastapi")
    run_cli("serve", "--weights", small_model, "--port", "70000").assert_one_error_line("--port")
    run_cli("serve", "--weights", small_model, "--max-upload", "lots").assert_one_error_line("--max-upload")
    run_cli("serve", "--weights", small_model, "--workers", "0").assert_one_error_line("--workers")
    (tmp_path / "bad.pt").write_bytes(b"not a model")
    run_cli("serve", "--weights", tmp_path / "bad.pt").assert_one_error_line("bad.pt")
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        run_cli("serve", "--weights", small_model, "--port", str(port)).assert_one_error_line(str(port))


def test_parse_size():
    from fmnist_desktop.cli.serve import parse_size

    assert parse_size("20MB") == 20_000_000 and parse_size("1MiB") == 1024**2 and parse_size("5000") == 5000
