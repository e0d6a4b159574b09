"""What each network takes and roughly costs, known without building it (and without torch).

The GUI reads this at start-up, before torch is loaded, to estimate training times; the
checkpoint reader uses it to check a model's input size. A new network family (e.g. a photo
model with a pretrained backbone) adds its entries here next to its builder in `networks.py`.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ArchInfo:
    input_size: int  # side of the square image the network is built for
    channels: int = 1  # 1: grey, light on black (Fashion-MNIST); 3: a colour photo
    # Training images per second on a busy 2-core CPU before this computer has measured one
    # epoch (deliberately slow: an estimate that turns out long is the kinder surprise).
    guess_cpu_images_per_s: float = 300.0


ARCH_INFO: dict[str, ArchInfo] = {
    "seed_cnn": ArchInfo(input_size=16, guess_cpu_images_per_s=1500.0),
    # Guesses a quarter under the speeds issue 18's walk-through saw in the app (bn_cnn ≈ 390
    # images/s in a 2-epoch fine-tune, bn_cnn_small ≈ 1,740 in the `fast` preset), and for the tuner's
    # widths in proportion to their forward cost (multiply-adds per image: bn_cnn 7.7 M,
    # bn_cnn_small 2.5 M, w16 1.2 M, w32 4.2 M, w24 4.5 M, w48 17 M), so that a speed measured on
    # one network scales to the others (ui/pages/train/estimate.py).
    "bn_cnn": ArchInfo(input_size=28, guess_cpu_images_per_s=300.0),
    "bn_cnn_small": ArchInfo(input_size=28, guess_cpu_images_per_s=1300.0),
    "bn_cnn_small_w16": ArchInfo(input_size=28, guess_cpu_images_per_s=2600.0),
    "bn_cnn_small_w32": ArchInfo(input_size=28, guess_cpu_images_per_s=770.0),
    "bn_cnn_w24": ArchInfo(input_size=28, guess_cpu_images_per_s=520.0),
    "bn_cnn_w48": ArchInfo(input_size=28, guess_cpu_images_per_s=140.0),
    # The photo model: ImageNet-pretrained EfficientNet-Lite0 + an 11-way head (core.models.photo_net).
    # Its guess is for training the last blocks on cached activations (core.learn.photo_training).
    "efficientnet_lite0_photo": ArchInfo(input_size=224, channels=3, guess_cpu_images_per_s=60.0),
}

PHOTO_KIND = "photo"  # a colour photo model (what a dropped photo meets)
FMNIST_KIND = "fmnist"  # a 28×28 grey network (what Fashion-MNIST images meet)
KINDS = (PHOTO_KIND, FMNIST_KIND)
KIND_NAMES = {PHOTO_KIND: "Photo model", FMNIST_KIND: "28×28 network"}


def kind_of_arch(arch: str) -> str:
    """"photo" for colour photo models, "fmnist" for the 28×28 family (and unknown names)."""
    info = ARCH_INFO.get(arch)
    return PHOTO_KIND if info is not None and info.channels == 3 else FMNIST_KIND

