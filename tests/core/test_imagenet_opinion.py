"""ImageNet's opinion inside the photo model (issue 28): what ImageNet names moves the answer, a
named non-clothing object is "may not be one of the ten", and models saved without the opinion
load and answer exactly as before."""

from __future__ import annotations

import pytest
import torch

from fmnist_desktop.core.base.verdict import decide
from fmnist_desktop.core.models.imagenet_opinion import (
    GARMENT_CLASSES,
    NAMED_NONE_LEVEL,
    ImageNetOpinion,
)
from fmnist_desktop.core.models.photo_net import PhotoNet

SNEAKER, ANKLE_BOOT = 7, 9
WINDSOR_TIE, COWBOY_BOOT = 906, 514


def _opinion_saying(imagenet_class: int, p: float) -> ImageNetOpinion:
    """An opinion whose ImageNet network puts `p` on one class (the rest spread evenly)."""
    opinion = ImageNetOpinion(15)

    def says(shared: torch.Tensor) -> torch.Tensor:
        q = torch.full((shared.shape[0], 1000), (1 - p) / 999)
        q[:, imagenet_class] = p
        return q

    opinion.imagenet_probabilities = says  # type: ignore[method-assign]
    return opinion


def _verdict(log_probs: torch.Tensor):
    p = log_probs.softmax(1)[0]
    return decide(p[:10], 0.4, None, float(p[10]))


def test_a_torn_shoe_photo_follows_what_imagenet_names():
    # The head hesitates between sneaker and ankle boot; ImageNet is sure it is a cowboy boot.
    logits = torch.full((1, 11), -4.0)
    logits[0, SNEAKER], logits[0, ANKLE_BOOT] = 1.0, 0.8
    plain = _verdict(logits.log_softmax(1))
    mixed = _verdict(_opinion_saying(COWBOY_BOOT, 0.9).mix(logits, torch.zeros(1, 192, 7, 7)))
    assert plain.label == "Sneaker"
    assert mixed.label == "Ankle boot"


def test_a_tie_imagenet_names_is_not_one_of_the_ten_even_when_the_head_says_dress():
    logits = torch.full((1, 11), -4.0)
    logits[0, 3] = 4.0  # the head: a confident "Dress"
    assert not _verdict(logits.log_softmax(1)).not_sure
    tie = _verdict(_opinion_saying(WINDSOR_TIE, NAMED_NONE_LEVEL + 0.05).mix(logits, torch.zeros(1, 192, 7, 7)))
    assert tie.out_of_scope and tie.label == "Dress"  # the best guess is still shown
    unsure_tie = _verdict(_opinion_saying(WINDSOR_TIE, NAMED_NONE_LEVEL - 0.1).mix(logits, torch.zeros(1, 192, 7, 7)))
    assert not unsure_tie.out_of_scope  # below the level the rule stays quiet


def test_mixed_answers_are_probabilities():
    logits = torch.randn(5, 11)
    p = _opinion_saying(610, 0.6).mix(logits, torch.zeros(5, 192, 7, 7)).exp()
    assert torch.allclose(p.sum(1), torch.ones(5), atol=1e-5)
    assert (p >= 0).all()


def test_shirt_has_no_imagenet_counterpart_and_every_mapped_index_is_imagenet():
    assert GARMENT_CLASSES[6] == ()
    assert all(0 <= i < 1000 for ids in GARMENT_CLASSES.values() for i in ids)


@pytest.fixture(scope="module")
def photo_net_pair():
    torch.manual_seed(0)
    plain = PhotoNet().eval()
    with_opinion = PhotoNet()
    with_opinion.load_state_dict(plain.state_dict())
    with_opinion.opinion = ImageNetOpinion(13)
    return plain, with_opinion.eval()


def test_a_model_saved_without_the_opinion_loads_and_answers_as_before(photo_net_pair):
    plain, _ = photo_net_pair
    reloaded = PhotoNet()
    reloaded.load_state_dict(plain.state_dict(), strict=True)
    x = torch.rand(2, 3, 224, 224)
    with torch.no_grad():
        assert reloaded.eval().opinion is None
        assert torch.allclose(reloaded(x), plain(x))


def test_a_model_saved_with_the_opinion_keeps_it(photo_net_pair):
    _, with_opinion = photo_net_pair
    state = with_opinion.state_dict()
    assert any(k.startswith("opinion.") for k in state)
    reloaded = PhotoNet()
    reloaded.load_state_dict(state, strict=True)
    x = torch.rand(2, 3, 224, 224)
    with torch.no_grad():
        assert reloaded.eval().opinion is not None and reloaded.opinion.start_block == 13
        assert torch.allclose(reloaded(x), with_opinion(x), atol=1e-6)


def test_training_never_runs_through_the_frozen_opinion(photo_net_pair):
    _, with_opinion = photo_net_pair
    assert not any(p.requires_grad for p in with_opinion.opinion.parameters())
    with_opinion.train()
    try:
        out = with_opinion(torch.rand(2, 3, 224, 224))
        assert out.requires_grad  # the head's own logits, not the mixed log-probabilities
        assert not torch.allclose(out.exp().sum(1), torch.ones(2))
    finally:
        with_opinion.eval()


def test_a_saved_photo_model_leaves_imagenets_own_tensors_to_the_package_and_answers_the_same(tmp_path):
    from fmnist_desktop.core.models.photo_net import PHOTO_ARCH, INPUT_SIZE
    from fmnist_desktop.core.store.checkpoint import CheckpointMeta, load_model, save_checkpoint

    torch.manual_seed(0)
    net = PhotoNet.pretrained().attach_imagenet_opinion(13).eval()
    meta = CheckpointMeta(name="Slim", preset="photo-model", arch=PHOTO_ARCH, input_size=INPUT_SIZE, mean=0.0,
                          std=1.0, class_names=[f"c{i}" for i in range(10)], metrics={})
    slim = save_checkpoint(tmp_path / "slim.pt", net, meta)
    full = tmp_path / "full.pt"
    torch.save({"format": "fmnist-desktop", "format_version": 1, "state_dict": net.state_dict(),
                "meta": meta.to_dict()}, full)
    # The frozen ImageNet tail (3.3 M parameters) is the package's: the file is half the size.
    assert slim.stat().st_size < 0.6 * full.stat().st_size
    x = torch.rand(2, 3, 224, 224)
    with torch.no_grad():
        want = net(x)
        for path in (slim, full):  # files written before keep loading
            loaded, _ = load_model(path)
            assert loaded.opinion is not None and loaded.opinion.start_block == 13
            assert torch.equal(loaded(x), want)


def test_an_opinion_that_differs_from_the_package_is_kept_in_the_file(tmp_path):
    from fmnist_desktop.core.models.photo_net import without_packaged_opinion

    net = PhotoNet.pretrained().attach_imagenet_opinion(15)
    with torch.no_grad():
        net.opinion._fc.bias.add_(1.0)
    state, slimmed = without_packaged_opinion(net.state_dict())
    assert not slimmed and "opinion._fc.bias" in state
