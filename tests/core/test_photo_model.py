"""The photo model (issue 20): the pretrained backbone loads strictly and sees what ImageNet
sees; images are routed to the right kind of model; the "none" output and the calibrated
threshold decide the verdict; the head trains on cached activations of generated photos; both
kinds live in the model library, one active per kind."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from fmnist_desktop.core.base.verdict import decide
from fmnist_desktop.core.models.efficientnet_lite import EfficientNetLite0
from fmnist_desktop.core.models.photo_net import PHOTO_ARCH, PhotoNet, load_imagenet_backbone, pretrained_weights_path
from fmnist_desktop.core.photo import load_image
from fmnist_desktop.core.photo.model_input import is_fashion_mnist_style, letterbox, to_unit_tensor

REPO = Path(__file__).resolve().parents[2]
SNEAKER = REPO / "tests" / "data" / "photo_sneaker.jpg"
TROUSER = REPO / "resources" / "samples" / "photo_1_Trouser.jpg"
FM_SNEAKER = REPO / "resources" / "samples" / "fashion-mnist_7_Sneaker.png"


@pytest.fixture(scope="module")
def imagenet():
    return load_imagenet_backbone()


def _imagenet_top3(net: EfficientNetLite0, path: Path) -> list[str]:
    from torchvision.models._meta import _IMAGENET_CATEGORIES as categories

    mean = torch.tensor((0.485, 0.456, 0.406)).view(1, 3, 1, 1)
    std = torch.tensor((0.229, 0.224, 0.225)).view(1, 3, 1, 1)
    x = to_unit_tensor([letterbox(load_image(path), 224)])
    with torch.inference_mode():
        top = net((x - mean) / std).softmax(1)[0].topk(3).indices.tolist()
    return [categories[i] for i in top]


def test_the_packaged_imagenet_weights_load_strictly_into_our_network():
    state = torch.load(pretrained_weights_path(), map_location="cpu", weights_only=True)
    net = EfficientNetLite0()
    assert set(net.state_dict()) == set(state)  # no key left over or missing: strict loading
    net.load_state_dict(state, strict=True)
    photo = PhotoNet.pretrained()
    assert torch.equal(photo.backbone._blocks[15]._project_conv.weight, state["_blocks.15._project_conv.weight"])
    assert photo.head.out_features == 11  # the ten classes and "none of these"


def test_imagenet_head_names_a_sneaker_photo_a_running_shoe_and_trousers_jeans(imagenet):
    assert _imagenet_top3(imagenet, SNEAKER)[0] == "running shoe"
    assert "jean" in _imagenet_top3(imagenet, TROUSER)


def test_fashion_mnist_images_go_to_the_28x28_network_and_photos_to_the_photo_model():
    assert is_fashion_mnist_style(load_image(FM_SNEAKER))  # a bundled sample (28×28 shown at 112)
    fm = Image.new("L", (28, 28), 0)
    ImageDraw.Draw(fm).rectangle((6, 4, 21, 24), fill=200)
    assert is_fashion_mnist_style(fm.convert("RGB"))
    sandal = Image.new("L", (28, 28), 0)  # thin straps, an empty middle: many Fashion-MNIST sandals
    for y in (14, 17, 20, 23):
        ImageDraw.Draw(sandal).line((3, y, 25, y - 2), fill=180, width=2)
    assert is_fashion_mnist_style(sandal.convert("RGB"))
    assert not is_fashion_mnist_style(load_image(SNEAKER))  # a phone photo
    inverted = Image.eval(fm, lambda v: 255 - v)  # dark on light: a catalogue shot, not Fashion-MNIST
    assert not is_fashion_mnist_style(inverted.convert("RGB"))
    colour = Image.new("RGB", (28, 28), (0, 0, 0))
    ImageDraw.Draw(colour).rectangle((6, 4, 21, 24), fill=(200, 30, 30))
    assert not is_fashion_mnist_style(colour)  # small, but in colour


def test_letterbox_keeps_the_whole_photo_and_pads_with_the_neutral_colour():
    tall = Image.new("RGB", (100, 200), (255, 0, 0))
    out = letterbox(tall, 224)
    assert out.size == (224, 224)
    assert out.getpixel((112, 112)) == (255, 0, 0)
    assert out.getpixel((2, 112)) == (124, 116, 104)  # ImageNet's mean colour: zero once normalised


def test_none_output_above_the_best_class_makes_the_verdict_may_not_be_one_of_the_ten():
    probs = [0.3, 0.05] + [0.01] * 8
    sure = decide(probs, threshold=0.25)
    assert not sure.not_sure
    flagged = decide(probs, threshold=0.25, none_probability=0.5)
    assert flagged.not_sure and flagged.out_of_scope
    assert "may not be one of the ten" in flagged.describe()
    assert not decide(probs, threshold=0.25, none_probability=0.1).not_sure


# ---------------------------------------------------------------------------------------------
# A photo model file, the library, the predictor


def _photo_meta(name: str = "Test photo model", threshold: float = 0.3):
    from fmnist_desktop.core.store.checkpoint import CheckpointMeta

    return CheckpointMeta(name=name, preset="photo-model", arch=PHOTO_ARCH, input_size=224, mean=0.0, std=1.0,
                          metrics={"not_sure_threshold": threshold, "out_of_scope_threshold": None},
                          training={"augment": "none"})


@pytest.fixture(scope="module")
def photo_file(tmp_path_factory):
    from fmnist_desktop.core.store.checkpoint import save_checkpoint

    torch.manual_seed(0)
    net = PhotoNet.pretrained().eval()
    with torch.no_grad():  # a head that always says "Sneaker" strongly: the verdict is predictable
        net.head.weight.zero_()
        net.head.bias.copy_(torch.tensor([0.0] * 7 + [6.0] + [0.0] * 3))
    path = tmp_path_factory.mktemp("photo") / "photo.pt"
    save_checkpoint(path, net, _photo_meta())
    return path


def test_a_saved_photo_model_loads_back_with_its_kind_and_threshold(photo_file):
    from fmnist_desktop.core.store.checkpoint import load_model
    from fmnist_desktop.core.models.arch_info import kind_of_arch

    model, meta = load_model(photo_file)
    assert isinstance(model, PhotoNet)
    assert kind_of_arch(meta.arch) == "photo" and meta.metrics["not_sure_threshold"] == 0.3


def test_one_predictor_answers_photos_with_the_photo_model_and_fashion_mnist_images_with_the_28x28_network(photo_file):
    from fmnist_desktop.core.base import paths
    from fmnist_desktop.core.predict.predictor import Predictor

    predictor = Predictor.from_checkpoints([photo_file, paths.default_weights_path()])
    photo, fm = predictor.predict_paths([SNEAKER, FM_SNEAKER])
    assert photo.model_kind == "photo" and photo.model_name == "Test photo model"
    assert photo.label == "Sneaker" and photo.model_input.size == (224, 224)
    assert photo.none_probability is not None and photo.to_dict()["model"]["kind"] == "photo"
    assert fm.model_kind == "fmnist" and fm.none_probability is None
    assert fm.model_input.size == (28, 28)
    assert "Photo model" in photo.answered_by and "28×28" in fm.answered_by


def test_the_photo_models_own_threshold_decides_not_sure(tmp_path, photo_file):
    from fmnist_desktop.core.store.checkpoint import load_checkpoint, save_checkpoint
    from fmnist_desktop.core.predict.predictor import Predictor

    state, meta = load_checkpoint(photo_file)
    sure = Predictor.from_checkpoint(photo_file).predict_paths([SNEAKER])[0]
    assert not sure.not_sure  # Sneaker at ~0.98, threshold 0.3
    meta.metrics["not_sure_threshold"] = 0.99
    strict = tmp_path / "strict.pt"
    save_checkpoint(strict, state, meta)
    doubtful = Predictor.from_checkpoint(strict).predict_paths([SNEAKER])[0]
    assert doubtful.not_sure and doubtful.threshold == 0.99
    assert doubtful.verdict_at(0.5).not_sure is False  # the user's override goes through the same rule


def test_library_keeps_one_active_model_per_kind(tmp_path, photo_file):
    from fmnist_desktop.core.store.checkpoint import load_checkpoint
    from fmnist_desktop.core.store.library import BUILTIN_ID, ModelLibrary

    lib = ModelLibrary(tmp_path / "models")
    state, meta = load_checkpoint(photo_file)
    entry = lib.add(state, meta)
    assert entry.kind == "photo"
    lib.set_active(entry.id)
    assert lib.active("photo").id == entry.id
    assert lib.active().id == BUILTIN_ID  # the 28×28 choice is untouched
    assert [e.kind for e in lib.active_models()] == ["photo", "fmnist"]
    lib.delete(entry.id)
    assert entry.id not in [e.id for e in lib.active_models()]  # the shipped photo model, if any, answers again


# ---------------------------------------------------------------------------------------------
# Training on cached activations


def _generated_photos(folder: Path) -> Path:
    """A labelled photo folder: coloured shapes, one "sender" per sub-folder."""
    rng = np.random.default_rng(0)
    shapes = {"1_Trouser": "tall", "7_Sneaker": "wide", "none": "dot"}
    for cls, shape in shapes.items():
        for sender in range(8):  # 24 senders: the split by sender holds some out for calibration
            d = folder / cls / f"s{sender}"
            d.mkdir(parents=True)
            for k in range(2):
                img = Image.new("RGB", (96, 96), tuple(int(v) for v in rng.integers(150, 255, 3)))
                box = {"tall": (36, 8, 60, 88), "wide": (8, 40, 88, 62), "dot": (40, 40, 52, 52)}[shape]
                ImageDraw.Draw(img).rectangle(box, fill=tuple(int(v) for v in rng.integers(0, 90, 3)))
                img.save(d / f"{k}.jpg")
    return folder


def test_head_trains_on_cached_activations_of_generated_photos_and_calibrates(tmp_path):
    import dataclasses

    from fmnist_desktop.core.jobs.photo_model import PhotoRunDone, Preparing, iter_photo_run
    from fmnist_desktop.core.learn.photo_training import PhotoTrainConfig
    from fmnist_desktop.core.learn.training import EpochEnd

    folder = _generated_photos(tmp_path / "photos")
    config = dataclasses.replace(PhotoTrainConfig(), epochs=2, views=2, from_block=16, fashion_mnist_per_class=0)
    events = list(iter_photo_run(config, folder, None, None, cache_folder=tmp_path / "cache"))
    assert any(isinstance(e, Preparing) for e in events)
    assert sum(isinstance(e, EpochEnd) for e in events) == 2
    done = events[-1]
    assert isinstance(done, PhotoRunDone), events[-1]
    assert done.run.meta.arch == PHOTO_ARCH
    assert 0.2 <= done.run.meta.metrics["not_sure_threshold"] <= 0.95
    # a second run reuses the cache: nothing to prepare
    again = list(iter_photo_run(config, folder, None, None, cache_folder=tmp_path / "cache"))
    assert not any(isinstance(e, Preparing) for e in again)


def test_a_damaged_shipped_photo_model_is_said_once_and_photos_fall_back_to_the_28x28_network(tmp_path, monkeypatch,
                                                                                             run_cli):
    from fmnist_desktop.core.base import paths
    from fmnist_desktop.core.store.library import ModelLibrary

    damaged = tmp_path / "photo.pt"
    damaged.write_bytes(b"PK\x03\x04" + b"\0" * 400)  # a truncated model file
    monkeypatch.setenv("FMNIST_DESKTOP_PHOTO_WEIGHTS", str(damaged))
    lib = ModelLibrary(tmp_path / "models")
    assert [e.kind for e in lib.active_models()] == ["fmnist"]
    lib.active_models()
    notices = lib.take_notices()
    assert len(notices) == 1 and "photo model shipped with the app cannot be used" in notices[0]
    r = run_cli("predict", SNEAKER)
    assert r.code == 0
    assert "fmnist: note: The photo model shipped with the app cannot be used" in r.err
    assert "28×28" in r.out
    assert paths.default_weights_path().is_file()


def test_a_photo_run_stopped_after_an_epoch_resumes_there_and_ends_as_an_unbroken_run(tmp_path):
    # A long run (the shipped model's takes most of an hour on 2 cores) killed part-way must not
    # start again from nothing: the same command picks up after the last finished epoch.
    import threading

    from fmnist_desktop.core.data.photo_features import CachedActivations
    from fmnist_desktop.core.learn.photo_training import PhotoTrainConfig, iter_photo_training
    from fmnist_desktop.core.learn.training import Cancelled, EpochEnd, Finished

    acts = np.random.RandomState(0).randn(2 * 24, 192, 7, 7).astype(np.float16)
    train = CachedActivations(acts, np.arange(24) % 11, 2)
    config = PhotoTrainConfig(epochs=3, batch_size=8, from_block=15)
    resume = tmp_path / "run.resume.pt"

    def fresh() -> PhotoNet:
        torch.manual_seed(1)
        return PhotoNet.pretrained()

    stop = threading.Event()
    first = []
    for event in iter_photo_training(config, fresh(), train, None, stop, resume):
        first.append(event)
        if isinstance(event, EpochEnd) and event.epoch == 2:
            stop.set()
    assert isinstance(first[-1], Cancelled) and resume.is_file()
    second = list(iter_photo_training(config, fresh(), train, None, None, resume))
    assert [e.epoch for e in second if isinstance(e, EpochEnd)] == [1, 2, 3]  # the charts show all three
    assert not resume.exists()  # a finished run leaves nothing behind
    unbroken = list(iter_photo_training(config, fresh(), train, None, None, None))
    resumed_net, whole_net = second[-1].model, unbroken[-1].model
    assert isinstance(second[-1], Finished)
    for (key, a), b in zip(resumed_net.state_dict().items(), whole_net.state_dict().values()):
        assert torch.equal(a, b), key
