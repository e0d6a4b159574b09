"""The devices training can run on: which are available, and resolving a user's choice."""

from __future__ import annotations

import torch

from ..base.errors import TrainingError

def _mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


def available_devices() -> dict[str, str]:
    """Devices this machine can train on: {"cpu": "CPU (2 threads)", "cuda": "NVIDIA ...", ...}."""
    devices = {"cpu": f"CPU ({torch.get_num_threads()} threads)"}
    if torch.cuda.is_available():
        devices["cuda"] = torch.cuda.get_device_name(0)
    if _mps_available():
        devices["mps"] = "Apple GPU (Metal)"
    return devices


def resolve_device(name: str = "auto") -> torch.device:
    """"auto" → CUDA if present, else Apple MPS, else the CPU. An explicit device that is not
    available raises TrainingError saying which devices are."""
    name = (name or "auto").strip().lower()
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise TrainingError(
            f"Unknown device {name!r}.", f"Use one of: auto, {', '.join(available_devices())}."
        ) from None
    if device.type == "cpu":
        return device
    if device.type == "cuda" and torch.cuda.is_available():
        if device.index is None or device.index < torch.cuda.device_count():
            return device
    if device.type == "mps" and _mps_available():
        return device
    raise TrainingError(
        f"The device {name!r} is not available on this computer.",
        f"Available: {', '.join(available_devices())} (or 'auto').",
    )


def _device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    if device.type == "mps":
        return "Apple GPU (Metal)"
    return f"CPU ({torch.get_num_threads()} threads)"
