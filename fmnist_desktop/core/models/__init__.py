"""The networks: the 28×28 family (`networks`), each architecture's metadata (`arch_info`,
torch-free) and the training presets built on them (`presets`). A second family (a photo model:
a pretrained backbone and a head) belongs here beside them.

Public names below load on first use (`base.lazy`).
"""

from ..base.lazy import lazy_exports

_EXPORTS = {
    "SeedCNN": "networks",
    "BNConvNet": "networks",
    "ARCHITECTURES": "networks",
    "WIDTHS": "networks",
    "width_family": "networks",
    "set_flip_averaging": "networks",
    "build_model": "networks",
    "FMNIST_MEAN": "presets",
    "FMNIST_STD": "presets",
    "AUGMENTATIONS": "presets",
    "SCHEDULES": "presets",
    "OPTIMIZERS": "presets",
    "Preset": "presets",
    "PRESETS": "presets",
    "DEFAULT_PRESET": "presets",
    "augment_for": "presets",
    "ArchInfo": "arch_info",
    "ARCH_INFO": "arch_info",
    "KINDS": "arch_info",
    "KIND_NAMES": "arch_info",
    "PHOTO_KIND": "arch_info",
    "FMNIST_KIND": "arch_info",
    "kind_of_arch": "arch_info",
    "PhotoNet": "photo_net",
    "PHOTO_ARCH": "photo_net",
}


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
