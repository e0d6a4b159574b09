"""Does a file's content fit the network it names? Checked before a checkpoint is used.

The state_dict's keys and shapes against a freshly built network of its architecture (a clear
message naming what differs), the input size the network is built for (`models.arch_info`),
weights that are real, finite numbers. `checkpoint.py` calls these while loading.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any, Mapping

import torch

from ..base.errors import CheckpointError
from ..base.labels import NUM_CLASSES
from ..models.arch_info import ARCH_INFO

def is_state_dict(obj: Any) -> bool:
    return isinstance(obj, Mapping) and bool(obj) and all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items()
    )


@functools.lru_cache(maxsize=None)
def _built(arch: str, opinion_start: int | None = None) -> dict[str, torch.Tensor]:
    """The state_dict of a freshly built `arch` (with ImageNet's opinion from `opinion_start`, for
    a photo model saved with one: core.models.imagenet_opinion)."""
    from ..models.networks import build_model

    model = build_model(arch)
    if opinion_start is not None and hasattr(model, "opinion"):
        from ..models.imagenet_opinion import ImageNetOpinion

        try:
            model.opinion = ImageNetOpinion(opinion_start)
        except ValueError:
            pass  # a start that is no block: its keys are reported as unexpected
    return model.state_dict()


def opinion_start_of(state_dict: Mapping[str, torch.Tensor]) -> int | None:
    """The block a saved photo model's ImageNet opinion branches off at, or None."""
    start = state_dict.get("opinion.start")
    if isinstance(start, torch.Tensor) and start.numel() == 1 and not start.is_floating_point():
        return int(start)
    return None


def expected_state(arch: str, opinion_start: int | None = None) -> dict[str, torch.Size]:
    return {k: v.shape for k, v in _built(arch, opinion_start).items()}


def _fmt_shape(shape) -> str:
    return "×".join(str(d) for d in shape) or "scalar"


def few_names(names: list[str], limit: int = 3) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def mismatches(state_dict: Mapping[str, torch.Tensor], expected: dict[str, torch.Size]) -> list[str]:
    missing = [k for k in expected if k not in state_dict]
    unexpected = [k for k in state_dict if k not in expected]
    wrong = [
        f"{k} is {_fmt_shape(state_dict[k].shape)} instead of {_fmt_shape(shape)}"
        for k, shape in expected.items()
        if k in state_dict and tuple(state_dict[k].shape) != tuple(shape)
    ]
    problems = []
    if missing:
        problems.append(f"missing {few_names(missing)}")
    if unexpected:
        problems.append(f"unexpected {few_names(unexpected)}")
    if wrong:
        problems.append(few_names(wrong, 2))
    return problems


def class_count(state_dict: Mapping[str, torch.Tensor], expected: dict[str, torch.Size]) -> int | None:
    """If the weights fit `expected` except for the output layer's number of classes, that number."""
    output_keys = [k for k in expected if len(expected[k]) >= 1 and expected[k][0] == NUM_CLASSES][-2:]
    if set(state_dict) != set(expected) or not output_keys:
        return None
    counts = set()
    for key, shape in expected.items():
        got = tuple(state_dict[key].shape)
        if got == tuple(shape):
            continue
        if key not in output_keys or got[1:] != tuple(shape)[1:]:
            return None
        counts.add(got[0])
    return counts.pop() if len(counts) == 1 else None


def check_fits(path: Path, state_dict: Mapping[str, torch.Tensor], arch: str) -> None:
    expected = expected_state(arch, opinion_start_of(state_dict))
    classes = class_count(state_dict, expected)
    if classes is not None:
        raise CheckpointError(
            f"{path.name} classifies {classes} classes; a Fashion-MNIST model needs {NUM_CLASSES}."
        )
    problems = mismatches(state_dict, expected)
    if problems:
        raise CheckpointError(f"{path.name} does not fit the {arch!r} network: {'; '.join(problems)}.")


def native_input_size(arch: str) -> int | None:
    """The image side the network `arch` is built for (None for an unknown network)."""
    info = ARCH_INFO.get(arch)
    return None if info is None else info.input_size


def check_runnable(path: Path, state_dict: Mapping[str, torch.Tensor], meta: Any) -> None:
    """Everything the model needs to run, checked against its network before it is used: the
    input size its layers are built for (a file saying 20000 made predict try to allocate 51 GB),
    weights that are real numbers (complex ones were cast with two stray torch warnings) and
    finite (NaN weights printed "T-shirt/top nan%" and invalid JSON)."""
    native = native_input_size(meta.arch)
    if native is not None and meta.input_size != native:
        raise CheckpointError(
            f"{path.name} is damaged: it says its network takes {meta.input_size}×{meta.input_size} images, "
            f"but the {meta.arch!r} network is built for {native}×{native}."
        )
    expected = _expected_dtypes(meta.arch, opinion_start_of(state_dict))
    for key, tensor in state_dict.items():
        want_float = expected.get(key, True)
        if want_float and not tensor.is_floating_point():
            kind = str(tensor.dtype).replace("torch.", "")
            raise CheckpointError(
                f"{path.name} stores {key} as {kind} values; a model's weights are real floating-point numbers."
            )
        if tensor.is_floating_point() and tensor.numel() and not bool(torch.isfinite(tensor).all()):
            raise CheckpointError(
                f"{path.name} holds weights that are not numbers (NaN or infinity in {key}); "
                "it cannot classify anything. Train or import the model again."
            )


def _expected_dtypes(arch: str, opinion_start: int | None = None) -> dict[str, bool]:
    """For each state_dict key of `arch`: whether it holds floating-point values."""
    return {k: v.is_floating_point() for k, v in _built(arch, opinion_start).items()}


NOT_NUMBERS_TEXT = "this model's answers are not numbers (NaN or infinity)"


def answers_are_numbers(outputs: torch.Tensor) -> bool:
    """True when every output of a model is a finite number (what may be shown or written)."""
    return bool(torch.isfinite(outputs).all())


# The photo model is convolutional up to a global pool, so a small probe runs every layer: at
# 64×64 the probe costs 0.04 s of CPU instead of 0.13–0.16 s at 224×224 (ImageNet's opinion included).
PHOTO_PROBE_SIDE = 64


def probe_input(meta: Any) -> torch.Tensor:
    """Two inputs a model of `meta` takes (N, C, S, S): a black image and a fixed ramp from black
    to white, prepared the way the app prepares images for it (the 28×28 networks standardise
    with the file's mean and std, at their exact input size; the photo model takes 0..1)."""
    info = ARCH_INFO.get(meta.arch)
    channels = info.channels if info is not None else 1
    side = int(meta.input_size) if channels == 1 else min(int(meta.input_size), PHOTO_PROBE_SIDE)
    ramp = torch.linspace(0.0, 1.0, side * side).reshape(1, side, side).expand(channels, side, side)
    unit = torch.stack([torch.zeros(channels, side, side), ramp])
    if channels == 1:
        return (unit - float(meta.mean)) / float(meta.std)
    return unit


def check_answers(path: Path, model: torch.nn.Module, meta: Any) -> None:
    """Run `model` (built and in eval mode) on `probe_input`: finite weights can still answer
    NaN or infinity (a BatchNorm running variance of -1; a network scaled by 1e38), which printed
    a bare NaN as JSON, a 500 from the server and "every T-shirt right" from evaluate-photos.
    Such a model is refused in one line at load and import."""
    device = next((t.device for t in model.parameters()), torch.device("cpu"))
    x = probe_input(meta).to(device)
    with torch.inference_mode():
        outputs = model(x).float()
    if not answers_are_numbers(outputs):
        raise CheckpointError(
            f"{path.name} is refused: {NOT_NUMBERS_TEXT} on a test image, so it cannot classify anything.",
            hint="Train or import the model again.",
        )
