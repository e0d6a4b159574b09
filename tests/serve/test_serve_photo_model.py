"""`fmnist serve` with the photo model (issue 20): by default the active photo model and 28×28
network are served together, each uploaded image answered by the one it suits, and every result
names the model that answered."""

from __future__ import annotations

from pathlib import Path

from fmnist_desktop.core.base import paths

REPO = Path(__file__).resolve().parents[2]
PHOTO = REPO / "tests" / "data" / "photo_sneaker.jpg"
FM_SAMPLE = REPO / "resources" / "samples" / "fashion-mnist_1_Trouser.png"


def test_serve_answers_photos_with_the_photo_model_and_fashion_mnist_images_with_the_28x28_network(
        photo_model_file):
    from fastapi.testclient import TestClient

    from fmnist_desktop.serve.app import ServeSettings
    from fmnist_desktop.serve.server import load_app

    app, _ = load_app([photo_model_file, paths.default_weights_path()], ServeSettings(threads=1))
    with TestClient(app, raise_server_exceptions=False) as client:
        r = client.post("/predict", files=[("files", ("shoe.jpg", PHOTO.read_bytes(), "image/jpeg")),
                                           ("files", ("fm.png", FM_SAMPLE.read_bytes(), "image/png"))])
    assert r.status_code == 200, r.text
    shoe, fm = r.json()
    assert shoe["model"] == {"kind": "photo", "name": "Test photo model"} and shoe["label"] == "Sneaker"
    assert 0 <= shoe["none_probability"] < 0.1 and shoe["not_sure"] is False
    assert fm["model"]["kind"] == "fmnist" and fm["label"] == "Trouser" and "none_probability" not in fm


def test_fmnist_serve_loads_the_active_model_of_each_kind_unless_weights_is_given(run_cli, builtin_test_photo_model,
                                                                                  monkeypatch):
    from fmnist_desktop.serve import server

    served = []
    monkeypatch.setattr(server, "run_server", lambda weights, *a, **k: served.append(list(weights)))
    result = run_cli("serve", "--port", "0")
    assert result.code == 0, result.err
    assert served[-1] == [builtin_test_photo_model, paths.default_weights_path()]
    assert "Model: Test photo model" in result.out
    run_cli("serve", "--port", "0", "--weights", builtin_test_photo_model)
    assert served[-1] == [builtin_test_photo_model]


def test_the_apps_background_server_serves_both_models_together(photo_model_file):
    import httpx

    from fmnist_desktop.serve.server import BackgroundServer

    server = BackgroundServer([photo_model_file, paths.default_weights_path()], port=0)
    url = server.start()
    try:
        r = httpx.post(f"{url}/predict", files=[("files", ("shoe.jpg", PHOTO.read_bytes(), "image/jpeg")),
                                                ("files", ("fm.png", FM_SAMPLE.read_bytes(), "image/png"))], timeout=60)
        assert r.status_code == 200, r.text
        assert [p["model"]["kind"] for p in r.json()] == ["photo", "fmnist"]
    finally:
        server.stop()
