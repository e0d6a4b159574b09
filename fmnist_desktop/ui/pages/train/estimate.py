"""How long a run will take, from this computer's measured speed (issue 12: time promises).

Each finished epoch records its speed (training images per second, its validation included) for
its network and device in QSettings; an estimate uses that measurement and says so. Before the
first run of a network on a device there is no measurement: the estimate is a rough guess from a
busy 2-core CPU (or a GPU ten times that), and it says that too.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from ....core.base.formats import format_span
from ....core.models.arch_info import ARCH_INFO
from ...settings_keys import TRAIN_SPEED

GUESS_GPU_FACTOR = 10.0
MIN_EPOCH_S = 1.0  # shorter epochs are dominated by start-up costs: not recorded


@dataclass(frozen=True)
class Estimate:
    seconds: float
    measured: bool  # from this computer's recorded speed; False = a guess

    def text(self) -> str:
        """"about 7 min 30 s (measured on this computer)" or "roughly 5 min (a guess: …)"."""
        span = format_span(_round(self.seconds)).replace(" 00 s", "").replace(" 00 min", "")
        if self.measured:
            return f"about {span} (from this computer's measured speed)"
        return f"roughly {span} (a guess until a first epoch here measures this computer's speed)"


def _round(seconds: float) -> float:
    """Promise no false precision: to 5 s under 2 min, to 30 s under 20 min, then to minutes."""
    step = 5 if seconds < 120 else 30 if seconds < 1200 else 60
    return max(step, step * round(seconds / step))


def _speeds(settings) -> dict[str, float]:
    try:
        raw = json.loads(str(settings.value(TRAIN_SPEED) or "{}"))
        return {str(k): float(v) for k, v in raw.items() if math.isfinite(float(v)) and float(v) > 0}
    except (ValueError, TypeError, AttributeError):
        return {}


def _key(arch: str, device: str) -> str:
    return f"{arch}|{'cpu' if device in ('', 'cpu') else device}"


def record_speed(settings, arch: str, device: str, images: int, seconds: float) -> None:
    """Remember one epoch's speed (`images` trained in `seconds`, validation included)."""
    if seconds < MIN_EPOCH_S or images <= 0:
        return
    speeds = _speeds(settings)
    speeds[_key(arch, device)] = images / seconds
    settings.setValue(TRAIN_SPEED, json.dumps(speeds))


def measured_speed(settings, arch: str, device: str) -> float | None:
    return _speeds(settings).get(_key(arch, device))


def estimate(settings, arch: str, device: str, images_per_epoch: int, epochs: int) -> Estimate:
    """How long `epochs` epochs over `images_per_epoch` images take on `device` ("cpu", "cuda", "mps")."""
    speed = measured_speed(settings, arch, device)
    measured = speed is not None
    if speed is None:
        info = ARCH_INFO.get(arch)
        speed = (info.guess_cpu_images_per_s if info else 300.0) * (1.0 if device in ("", "cpu") else GUESS_GPU_FACTOR)
    return Estimate(max(1, epochs) * max(1, images_per_epoch) / speed, measured)


def device_kind(choice: str) -> str:
    """The form's device choice ("auto", "cpu", …) as the device a run would use."""
    from ....core.learn.training import resolve_device

    try:
        return resolve_device(choice).type
    except Exception:  # noqa: BLE001 - an unavailable device fails the run itself, with its reason
        return "cpu"


def describe_for(settings, preset: Any, device_choice: str, images_per_epoch: int, epochs: int) -> str:
    est = estimate(settings, preset.arch, device_kind(device_choice), images_per_epoch, epochs)
    return est.text()


def record_epoch(settings, presets: dict, started, seconds: float) -> None:
    """Record one epoch of a run (`started`: its core.learn.training.Started) as this computer's speed."""
    arch = presets[started.preset].arch if started.preset in presets else started.preset
    record_speed(settings, arch, started.device.split(":")[0], started.n_train, seconds)
