"""Every preset builds a model that maps its input size to 10 class scores; the seed model is the
origin notebook's network, so the notebook's saved state_dict loads into it."""

import pytest
import torch

from fmnist_desktop.core.base.labels import NUM_CLASSES
from fmnist_desktop.core.models import (
    ARCHITECTURES,
    AUGMENTATIONS,
    DEFAULT_PRESET,
    PRESETS,
    SCHEDULES,
    SeedCNN,
    build_model,
)
from fmnist_desktop.core.store.user_presets import get_preset

# The keys and shapes that the origin notebook's `torch.save(model.state_dict(), ...)` holds.
NOTEBOOK_STATE_DICT = {
    "conv1.weight": (32, 1, 3, 3),
    "conv1.bias": (32,),
    "conv2.weight": (64, 32, 3, 3),
    "conv2.bias": (64,),
    "fc1.weight": (128, 1024),
    "fc1.bias": (128,),
    "fc2.weight": (10, 128),
    "fc2.bias": (10,),
}


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_maps_its_input_to_ten_scores(name):
    preset = PRESETS[name]
    model = build_model(preset.arch).eval()
    x = torch.randn(3, 1, preset.input_size, preset.input_size)
    with torch.no_grad():
        out = model(x)
    assert out.shape == (3, NUM_CLASSES)
    assert torch.isfinite(out).all()


def test_presets_are_consistent():
    assert DEFAULT_PRESET in PRESETS
    assert {"seed", "fast", "realworld"} <= set(PRESETS)
    for name, preset in PRESETS.items():
        assert preset.name == name
        assert preset.arch in ARCHITECTURES
        assert preset.augment in AUGMENTATIONS
        assert preset.schedule in SCHEDULES


def test_seed_preset_is_the_notebook_recipe():
    seed = get_preset("seed")
    assert (seed.input_size, seed.mean, seed.std) == (16, 0.5, 0.5)
    assert (seed.lr, seed.batch_size, seed.epochs) == (1e-3, 64, 10)
    assert (seed.optimizer, seed.augment, seed.schedule, seed.label_smoothing) == ("adam", "none", "constant", 0.0)


def test_seed_model_state_dict_matches_the_notebook():
    state = SeedCNN().state_dict()
    assert {k: tuple(v.shape) for k, v in state.items()} == NOTEBOOK_STATE_DICT


def test_notebook_state_dict_loads_and_predicts_the_same():
    notebook_model = SeedCNN().eval()
    saved = {k: v.clone() for k, v in notebook_model.state_dict().items()}
    restored = build_model("seed_cnn").eval()
    restored.load_state_dict(saved, strict=True)
    x = torch.randn(4, 1, 16, 16)
    with torch.no_grad():
        assert torch.equal(notebook_model(x), restored(x))


def test_unknown_names_say_what_is_known():
    with pytest.raises(KeyError, match="bn_cnn"):
        build_model("resnet1000")
    with pytest.raises(KeyError, match="standard"):
        get_preset("nope")


def test_flip_averaging_predicts_the_mean_of_an_image_and_its_mirror():
    from fmnist_desktop.core.models import set_flip_averaging

    torch.manual_seed(0)
    model = build_model("bn_cnn_small").eval()
    x = torch.rand(4, 1, 28, 28)
    with torch.no_grad():
        plain, mirrored = model(x).softmax(1), model(x.flip(3)).softmax(1)
        set_flip_averaging(model, "standard")
        averaged = model(x).softmax(1)
        assert torch.allclose(averaged, (plain + mirrored) / 2, atol=1e-6)
        # An image and its mirror now get exactly the same answer.
        assert torch.allclose(model(x.flip(3)).softmax(1), averaged, atol=1e-6)
        set_flip_averaging(model.eval(), "none")  # trained without flips: no mirror averaging
        assert torch.allclose(model(x).softmax(1), plain, atol=1e-6)
    seed = set_flip_averaging(build_model("seed_cnn"), "standard")
    assert not getattr(seed, "average_flips", False)  # the notebook's network is left as it is


def test_the_realworld_preset_quotes_the_current_benchmark_figures():
    """The preset's description is what the Train page shows; its figures must be the ones
    docs/BENCHMARKS.md reports now (59.2 % on real photos vs 48.8 % for `standard`), not older ones."""
    from fmnist_desktop.core.models import PRESETS
    from fmnist_desktop.core.base.paths import source_root

    description = PRESETS["realworld"].description
    benchmarks = (source_root() / "docs" / "BENCHMARKS.md").read_text(encoding="utf-8")
    assert "| (c) app pipeline, `realworld` preset model | 92.24 % | **59.2 %**" in benchmarks
    assert "about 92 % test accuracy" in description
    assert "about 59 % instead of 49 % on real phone photos" in description


def test_augment_for_is_the_one_rule_for_the_augmentation_switch():
    from fmnist_desktop.core.models import PRESETS, augment_for

    assert augment_for(PRESETS["seed"], True) == "flip"  # a preset without augmentation gets flips
    assert augment_for(PRESETS["realworld"], True) == "realworld"
    assert augment_for(PRESETS["realworld"], False) == "none"
    assert augment_for(PRESETS["fast"], None) is None  # not said: the preset decides


def test_every_network_carries_its_own_metadata_and_presets_agree_with_it():
    """Input size and colour are the network's own (core.models.arch_info), not derived from
    presets; a preset cannot disagree with its network."""
    from fmnist_desktop.core.models.arch_info import ARCH_INFO
    from fmnist_desktop.core.store.weights_check import native_input_size

    assert set(ARCH_INFO) == set(ARCHITECTURES)
    for name, preset in PRESETS.items():
        assert preset.input_size == ARCH_INFO[preset.arch].input_size, name
    for arch, info in ARCH_INFO.items():
        assert native_input_size(arch) == info.input_size
        model = ARCHITECTURES[arch]().eval()
        with torch.no_grad():
            assert model(torch.zeros(2, info.channels, info.input_size, info.input_size)).shape == (2, NUM_CLASSES + (1 if info.channels == 3 else 0))  # a photo model adds "none"
    assert native_input_size("no_such_network") is None
