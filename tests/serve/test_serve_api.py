"""The HTTP API: answers like `fmnist predict --json`, and every kind of bad input is a 4xx with
one readable sentence, never a 500 or a dead server."""

from __future__ import annotations

import json
import threading

import pytest
from serve_images import bomb_png, fmnist_like, jpeg_bytes, photo_like, png_bytes


def _files(*items):
    return [("files", (name, data, ctype)) for name, data, ctype in items]


def test_health_model_and_docs(make_client):
    client = make_client()
    r = client.get("/health")
    assert r.status_code == 200 and r.json()["status"] == "ok" and r.json()["model"] == "Small test model"
    info = client.get("/model").json()
    assert info["name"] == "Small test model" and info["preset"] == "fast" and info["test_accuracy"] == 12.5
    assert len(info["class_names"]) == 10 and info["created"] and info["file"] == "small.pt"
    assert client.get("/docs").status_code == 200
    assert "/predict" in client.get("/openapi.json").json()["paths"]


def test_predict_multipart_matches_the_cli_json(make_client, small_model, tmp_path, run_cli):
    client = make_client()
    a, b = png_bytes(fmnist_like(1)), jpeg_bytes(photo_like(2))
    r = client.post("/predict", files=_files(("a.png", a, "image/png"), ("b.jpg", b, "image/jpeg")))
    assert r.status_code == 200, r.text
    served = r.json()
    assert [p["name"] for p in served] == ["a.png", "b.jpg"]
    # The same objects as `fmnist predict --json` (the CLI also gives the file's path).
    (tmp_path / "a.png").write_bytes(a)
    (tmp_path / "b.jpg").write_bytes(b)
    cli = run_cli("predict", "--json", "--weights", small_model, tmp_path / "a.png", tmp_path / "b.jpg")
    assert cli.code == 0, cli
    printed = json.loads(cli.out)
    for s, c in zip(served, printed):
        assert s.keys() == c.keys()
        assert {k: v for k, v in s.items() if k != "path"} == {k: v for k, v in c.items() if k != "path"}
        assert s["path"] is None


def test_predict_raw_body_and_top_k(make_client):
    client = make_client()
    r = client.post("/predict?top_k=5", content=png_bytes(fmnist_like(3)), headers={"content-type": "image/png"})
    assert r.status_code == 200, r.text
    (only,) = r.json()
    assert len(only["top_k"]) == 5 and abs(sum(only["probabilities"].values()) - 1) < 1e-3
    r = client.post("/predict", content=jpeg_bytes(photo_like()), headers={"content-type": "application/octet-stream"})
    assert r.status_code == 200


BAD = [
    ("not an image", dict(files=_files(("notes.txt", b"hello, not an image", "text/plain"))), 422, "not an image"),
    ("truncated", dict(files=_files(("cut.jpg", jpeg_bytes(photo_like())[:700], "image/jpeg"))), 422, "cut.jpg"),
    ("decompression bomb", dict(files=_files(("bomb.png", bomb_png(), "image/png"))), 422, "pixels"),
    ("empty file", dict(files=_files(("empty.png", b"", "image/png"))), 400, "empty"),
    ("wrong content type", dict(content=b'{"image": 1}', headers={"content-type": "application/json"}), 415, "not accepted"),
    ("no content type", dict(content=b"abc"), 415, "not accepted"),
    ("empty raw body", dict(content=b"", headers={"content-type": "image/png"}), 400, "empty"),
    ("wrong field name", dict(files=[("image", ("a.png", b"x", "image/png"))]), 400, "'files'"),
    ("text in files", dict(data={"files": "abc"}, files=[("other", ("a.png", b"x", "image/png"))]), 400, "'files'"),
    ("top_k out of range", dict(params={"top_k": 0}, content=b"x", headers={"content-type": "image/png"}), 422, "top_k"),
    ("top_k not a number", dict(params={"top_k": "many"}, content=b"x", headers={"content-type": "image/png"}), 422, "top_k"),
    ("broken multipart", dict(content=b"--xyz\r\nnonsense", headers={"content-type": "multipart/form-data; boundary=xyz"}), 400, ""),
]


@pytest.mark.parametrize("case,kwargs,status,words", BAD, ids=[b[0] for b in BAD])
def test_bad_input_is_a_4xx_with_one_sentence(make_client, case, kwargs, status, words):
    client = make_client()
    r = client.post("/predict", **kwargs)
    assert r.status_code == status, (r.status_code, r.text)
    body = r.json()
    assert list(body) == ["error"] and body["error"] and "\n" not in body["error"]
    assert words.lower() in body["error"].lower(), body
    assert client.get("/health").status_code == 200  # still serving


def test_size_and_count_limits(make_client):
    client = make_client(max_upload=60_000, max_files=3)
    big = jpeg_bytes(photo_like() .repeat(3, 0).repeat(3, 1), quality=100)
    assert len(big) > 60_000
    r = client.post("/predict", files=_files(("big.jpg", big, "image/jpeg")))
    assert r.status_code == 413 and "limit" in r.json()["error"]
    # A chunked body (no Content-Length) is cut off as soon as it passes the limit.
    r = client.post("/predict", content=iter([big[:40_000], big[40_000:]]), headers={"content-type": "image/jpeg"})
    assert r.status_code == 413 and "limit" in r.json()["error"]
    small = png_bytes(fmnist_like())
    r = client.post("/predict", files=_files(*[(f"{i}.png", small, "image/png") for i in range(4)]))
    assert r.status_code == 413 and "Too many images" in r.json()["error"]
    assert client.post("/predict", files=_files(*[(f"{i}.png", small, "image/png") for i in range(3)])).status_code == 200


def test_unknown_paths_methods_and_the_token(make_client):
    client = make_client(token="s3cret")
    assert client.get("/docs").status_code == 200  # documentation stays readable
    for r in (client.get("/health"), client.get("/health", headers={"Authorization": "Bearer wrong"}),
              client.post("/predict", content=b"x", headers={"content-type": "image/png"})):
        assert r.status_code == 401 and "token" in r.json()["error"]
    ok = {"Authorization": "Bearer s3cret"}
    assert client.get("/health", headers=ok).status_code == 200
    r = client.get("/nothing", headers=ok)
    assert r.status_code == 404 and "/predict" in r.json()["error"]
    r = client.get("/predict", headers=ok)
    assert r.status_code == 405 and list(r.json()) == ["error"]


def test_concurrent_requests_all_answer(make_client):
    client = make_client(threads=2)
    data = png_bytes(fmnist_like(5))
    codes = []

    def hit():
        for _ in range(5):
            codes.append(client.post("/predict", files=_files(("x.png", data, "image/png"))).status_code)

    threads = [threading.Thread(target=hit) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert codes == [200] * 20
    assert client.get("/health").json()["images"] == 20


def bad_input_table(client) -> list[tuple[str, int, str]]:
    """(case, status, error) for every BAD case: the table in docs/RELIABILITY.md."""
    rows = []
    for case, kwargs, _, _ in BAD:
        r = client.post("/predict", **kwargs)
        rows.append((case, r.status_code, r.json().get("error", r.text)))
    return rows
