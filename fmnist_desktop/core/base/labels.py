"""The ten Fashion-MNIST classes, in dataset order (label index == position)."""

CLASS_NAMES: tuple[str, ...] = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
NUM_CLASSES = len(CLASS_NAMES)

# "None of the ten": what a user answers for a hat or a skirt. Its index is the photo model's
# eleventh output (core.models.photo_net: index 10 = "none of these"), so a photo kept with it
# trains that output; the 28×28 network has no such output (core.store.user_photos maps it to
# the outlier-exposure label of core.learn.training).
NONE_INDEX = NUM_CLASSES
NONE_OF_THE_TEN = "None of the ten"


def label_name(index: int) -> str:
    """A class's name, or "None of the ten" for NONE_INDEX."""
    return NONE_OF_THE_TEN if index == NONE_INDEX else CLASS_NAMES[index]


def class_index(name: str) -> int:
    """Index of a class given its name, case- and punctuation-insensitively.

    Accepts the dataset spelling ("T-shirt/top"), folder spellings ("T-shirt_top", "ankle_boot")
    and the `<index>_<name>` folder names used by labelled photo trees ("0_T-shirt_top").
    """
    raw = name.strip()
    head, _, rest = raw.partition("_")
    if head.isascii() and head.isdigit() and rest:  # "²".isdigit() is true, int("²") fails
        idx = int(head)
        if 0 <= idx < NUM_CLASSES:
            return idx
    key = _normalise(raw)
    for i, cls in enumerate(CLASS_NAMES):
        if _normalise(cls) == key:
            return i
    raise KeyError(f"unknown class name {name!r}; expected one of: {', '.join(CLASS_NAMES)}")


def _normalise(text: str) -> str:
    return "".join(ch for ch in text.lower() if ch.isalnum())
