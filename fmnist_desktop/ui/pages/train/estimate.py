"""How long a run will take, from this computer's measured speed (issue 12: time promises).

Each finished epoch records its speed (training images per second, its validation included) for
its network and device in QSettings; an estimate uses that measurement and says so. Before the
first run of a network on a device there is no measurement of it: when another network of the same
kind was measured on that device, its speed is scaled by the two networks' relative cost (their
guesses in `core.models.arch_info`, which follow their sizes), so every preset's estimate is in
step with what this computer measured ("Fast" measured at 1 min 35 s for 3 epochs cannot make a
4-epoch tuned "Fast" 12 min); with no measurement at all it is a rough guess from a busy 2-core
CPU (or a GPU ten times that), and it says so. Fine-tuning the photo model's head is timed by its
photo views through the frozen backbone (`photo_finetune_estimate`), recorded after each one.
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
# The photo model's runs (core.jobs.photo_model) are recorded under its network.
PHOTO_RUN_ARCH = next(arch for arch, info in ARCH_INFO.items() if info.channels == 3)
MIN_EPOCH_S = 1.0  # shorter epochs are dominated by start-up costs: not recorded


@dataclass(frozen=True)
class Estimate:
    seconds: float
    measured: bool  # from this computer's recorded speed; False = a guess
    scaled_from: str | None = None  # measured on another network of the same kind, scaled by size
    measured_by: str = "a first epoch"  # what measures this computer's speed

    def text(self) -> str:
        """"about 7 min 30 s (measured on this computer)" or "roughly 5 min (a guess: …)"."""
        span = format_span(_round(self.seconds)).replace(" 00 s", "").replace(" 00 min", "")
        if self.measured and self.scaled_from:
            return f"about {span} (from this computer's measured speed with a network of another size)"
        if self.measured:
            return f"about {span} (from this computer's measured speed)"
        return f"roughly {span} (a guess until {self.measured_by} here measures this computer's speed)"


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


def _guess(arch: str) -> float:
    info = ARCH_INFO.get(arch)
    return info.guess_cpu_images_per_s if info else 300.0


def _scaled_speed(settings, arch: str, device: str) -> tuple[float, str] | None:
    """This computer's speed for `arch`, scaled from another network of its kind measured on
    `device` (the measured one nearest in cost), with that network's name; None when none was."""
    from ....core.models.arch_info import kind_of_arch

    target = _guess(arch)
    device_key = _key("", device).split("|", 1)[1]
    best = None
    for key, speed in _speeds(settings).items():
        other, _, other_device = key.partition("|")
        if other_device != device_key or other == arch or other not in ARCH_INFO:
            continue
        if kind_of_arch(other) != kind_of_arch(arch):
            continue
        distance = abs(math.log(_guess(other) / target))
        if best is None or distance < best[0]:
            best = (distance, speed * target / _guess(other), other)
    return None if best is None else (best[1], best[2])


def estimate(settings, arch: str, device: str, images_per_epoch: int, epochs: int) -> Estimate:
    """How long `epochs` epochs over `images_per_epoch` images take on `device` ("cpu", "cuda", "mps")."""
    speed = measured_speed(settings, arch, device)
    scaled_from = None
    if speed is None:
        scaled = _scaled_speed(settings, arch, device)
        if scaled is not None:
            speed, scaled_from = scaled
    measured = speed is not None
    if speed is None:
        speed = _guess(arch) * (1.0 if device in ("", "cpu") else GUESS_GPU_FACTOR)
    return Estimate(max(1, epochs) * max(1, images_per_epoch) / speed, measured, scaled_from)


# Fine-tuning the photo model's head: each photo view goes through the frozen backbone once (the
# slow part; the 300 steps of the head take about a second). Recorded per view, on the CPU.
PHOTO_FEATURES_KEY = "efficientnet_lite0_photo:features"
GUESS_PHOTO_VIEWS_PER_S = 15.0  # a busy 2-core CPU
HEAD_STEPS_S = 2.0


def photo_finetune_views(n_train: int, n_kept_out: int, augmented_views: int, min_to_measure: int) -> int:
    """The photo views a head fine-tune runs through the backbone (core.jobs.photo_finetune)."""
    return n_train * (1 + augmented_views) + (n_kept_out if n_kept_out >= min_to_measure else 0)


def photo_finetune_estimate(settings, views: int) -> Estimate:
    speed = measured_speed(settings, PHOTO_FEATURES_KEY, "cpu")
    measured = speed is not None
    return Estimate(HEAD_STEPS_S + views / (speed or GUESS_PHOTO_VIEWS_PER_S), measured,
                    measured_by="a first fine-tune")


def record_photo_finetune(settings, views: int, seconds: float) -> None:
    """Remember how fast a head fine-tune went through its photo views (for the next estimate)."""
    record_speed(settings, PHOTO_FEATURES_KEY, "cpu", views, seconds)


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
    from ....core.learn.photo_config import PhotoTrainConfig  # torch-free

    if started.preset in presets:
        arch = presets[started.preset].arch
    elif started.preset == PhotoTrainConfig.preset:  # a photo model's run
        arch = PHOTO_RUN_ARCH
    else:
        arch = started.preset
    record_speed(settings, arch, started.device.split(":")[0], started.n_train, seconds)


# --------------------------------------------------------------------------------------------
# A whole job: its phases (loading and testing, preparing images, the comparison with the active
# model on the real photos) besides the epochs, each from what this computer measured once a job
# of its kind has run here, else a guess (said so). Recorded as seconds or speeds in the same
# QSettings entry as the training speeds, under "seconds:…" and "speed:…" keys.

GUESS_FMNIST_OVERHEAD_S = 20.0  # loading Fashion-MNIST, starting up; the test set comes on top
TEST_IMAGES = 10_000
GUESS_TEST_FACTOR = 4.0  # testing runs this many times faster than training (no backward pass)
GUESS_PHOTO_OVERHEAD_S = 30.0  # loading the backbone, calibrating, saving
# A photo run's image views through the frozen first blocks (cheaper than the whole backbone): a
# 1-epoch run with 500 Fashion-MNIST images per class prepared ~16,500 views in 115 s (issue 26).
GUESS_PREPARE_UNITS_PER_S = 140.0
GUESS_COMPARE_S = {"photo": 60.0, "fmnist": 30.0}  # both models on the 80 real photos


@dataclass(frozen=True)
class Phase:
    what: str  # "1 epoch over 55,000 images", "comparing with the active model on the real photos"
    seconds: float
    measured: bool


@dataclass(frozen=True)
class JobEstimate:
    phases: tuple[Phase, ...]
    measured_by: str = "a first run"

    @property
    def seconds(self) -> float:
        return sum(p.seconds for p in self.phases)

    def text(self) -> str:
        """"about 2 min 30 s in all: 1 epoch over 55,000 images 1 min 40 s, loading … 50 s (from
        this computer's measured speed)" — or "roughly …" with what is still a guess."""
        def span(seconds: float) -> str:
            return format_span(_round(seconds)).replace(" 00 s", "").replace(" 00 min", "")

        measured = all(p.measured for p in self.phases)
        word = "about" if measured else "roughly"
        parts = ", ".join(f"{p.what} {span(p.seconds)}" for p in self.phases)
        if measured:
            note = "from this computer's measured speed"
        elif any(p.measured for p in self.phases):
            guessed = ", ".join(p.what for p in self.phases if not p.measured)
            note = (f"from this computer's measured speed; {guessed} a guess until {self.measured_by} here "
                    "measures it")
        else:
            note = f"a guess until {self.measured_by} here measures this computer's speed"
        return f"{word} {span(self.seconds)} in all: {parts} ({note})"


def record_seconds(settings, what: str, seconds: float) -> None:
    """Remember how long a phase of a job took here (the last measurement counts)."""
    if not math.isfinite(seconds) or seconds <= 0:
        return
    speeds = _speeds(settings)
    speeds[f"seconds:{what}"] = float(seconds)
    settings.setValue(TRAIN_SPEED, json.dumps(speeds))


def measured_seconds(settings, what: str) -> float | None:
    return _speeds(settings).get(f"seconds:{what}")


def _epochs_phase(settings, arch: str, device: str, images: int, epochs: int) -> tuple[Phase, float]:
    """The epochs as a phase, and the training speed (images/s) it assumed."""
    est = estimate(settings, arch, device, images, epochs)
    noun = "epoch" if epochs == 1 else "epochs"
    return Phase(f"{epochs} {noun} over {images:,} images", est.seconds, est.measured), \
        max(1, epochs) * max(1, images) / max(est.seconds, 1e-9)


def fmnist_job(settings, arch: str, device: str, images: int, epochs: int, prepare_photos: int = 0) -> JobEstimate:
    """A 28×28 run: its epochs, loading the data and testing on the 10,000 test images (measured
    together after a first run here), and preparing `prepare_photos` labelled photos first."""
    training, speed = _epochs_phase(settings, arch, device, images, epochs)
    phases = [training]
    if prepare_photos:
        rate = measured_speed(settings, "prepare:grabcut", "cpu")
        phases.append(Phase(f"preparing {prepare_photos:,} photos once", prepare_photos / (rate or 2.0), rate is not None))
    overhead = measured_seconds(settings, f"overhead:fmnist|{device}")
    phases.append(Phase("loading the data and the test set",
                        overhead if overhead is not None
                        else GUESS_FMNIST_OVERHEAD_S + TEST_IMAGES / (GUESS_TEST_FACTOR * speed),
                        overhead is not None))
    return JobEstimate(tuple(phases))


def compare_phase(settings, kind: str) -> Phase:
    seconds = measured_seconds(settings, f"compare:{kind}")
    return Phase("comparing with the active model on the real photos",
                 seconds if seconds is not None else GUESS_COMPARE_S[kind], seconds is not None)


def photo_job(settings, items: int, epochs: int, views: int, prepared: bool, compare: bool) -> JobEstimate:
    """A photo model run: preparing its images through the frozen backbone (unless this set was
    prepared here before), its epochs, calibrating and saving, and the comparison."""
    training, _speed = _epochs_phase(settings, PHOTO_RUN_ARCH, "cpu", items, epochs)
    phases = []
    if not prepared:
        rate = measured_speed(settings, "prepare:photo", "cpu")
        phases.append(Phase(f"preparing its {items:,} images once", items * views / (rate or GUESS_PREPARE_UNITS_PER_S),
                            rate is not None))
    phases.append(training)
    overhead = measured_seconds(settings, "overhead:photo")
    phases.append(Phase("calibrating and saving", overhead if overhead is not None else GUESS_PHOTO_OVERHEAD_S,
                        overhead is not None))
    if compare:
        phases.append(compare_phase(settings, "photo"))
    return JobEstimate(tuple(phases))


def photo_finetune_job(settings, views: int, compare: bool) -> JobEstimate:
    """A head fine-tune: its photo views and steps and the measurement against its parent (timed
    together), then, with `compare`, a comparison with the active photo model."""
    head = photo_finetune_estimate(settings, views)
    phases = [Phase(f"{views:,} photo views and the head, measured against its parent", head.seconds,
                    head.measured)]
    if compare:
        phases.append(compare_phase(settings, "photo"))
    return JobEstimate(tuple(phases), measured_by="a first fine-tune")


def tune_job(settings, arch: str, device: str, images: int, epochs: tuple[int, int], trials: int,
             budget_s: float | None) -> str:
    """Tune…: its trials of a few epochs each (poor ones stop after one), and where the budget ends it."""
    mean_epochs = (epochs[0] + epochs[1]) / 2
    est = estimate(settings, arch, device, images, 1)
    per_trial = est.seconds * mean_epochs + GUESS_FMNIST_OVERHEAD_S / 2
    total = per_trial * trials
    capped = budget_s is not None and budget_s < total
    seconds = budget_s if capped else total
    text = Estimate(seconds, est.measured, est.scaled_from).text()
    trial_span = format_span(_round(per_trial)).replace(" 00 s", "").replace(" 00 min", "")
    tail = (f"the time budget ends it after about {round(budget_s / per_trial)} of the {trials} trials"
            if capped else f"{trials} trials of {epochs[0]}–{epochs[1]} epochs, about {trial_span} each; "
            "trials stopped early as poor ones take less")
    return f"Time: {text}; {tail}."


def tune_text(settings, preset_name: str, trials: int, budget_min: int, val_size: int) -> str:
    """Tune…'s "Time: …" for a study of `trials` on `preset_name` (its search space's epochs)."""
    from ....core.jobs.tuning_space import default_space
    from ....core.store.user_presets import get_preset

    try:
        preset = get_preset(preset_name)
    except Exception:  # noqa: BLE001 - an unknown preset fails the study itself, with its reason
        return ""
    return tune_job(settings, preset.arch, device_kind("auto"), 60_000 - val_size, default_space(preset).epochs,
                    trials, budget_min * 60.0 if budget_min else None)
