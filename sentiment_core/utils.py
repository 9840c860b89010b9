"""Device choice, mixed precision and seeding, in one place."""

from __future__ import annotations

import contextlib
import random

import numpy as np
import torch


def resolve_device(name: str = "auto") -> torch.device:
    """'auto' -> cuda if present, else mps, else cpu; an unavailable device is a clear error."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device 'cuda' was asked for, but torch sees no CUDA GPU here")
    if name == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise RuntimeError("device 'mps' was asked for, but this machine has no Apple GPU")
    if name not in ("cpu", "cuda", "mps"):
        raise ValueError(f"unknown device {name!r}; use auto, cpu, cuda or mps")
    return torch.device(name)


def uses_bfloat16(device: torch.device, precision: str) -> bool:
    """Whether a run with ``precision`` ("auto", "float32" or "bfloat16") autocasts to bfloat16 on ``device``.

    "auto" does on a CUDA GPU that supports bfloat16 (Ampere and later): the cuDNN RNN and the
    classifier then run in bfloat16 with float32 weights, and need no loss scaling. On CPU "auto"
    keeps float32: bfloat16 autocast trained the ``fast`` model about 20% faster on this project's
    2-core CPU (one thread, a few batches), but its effect on a full run's accuracy is unmeasured.
    """
    if precision == "auto":
        return device.type == "cuda" and torch.cuda.is_bf16_supported()
    return precision == "bfloat16"


def mixed_precision(device: torch.device, precision: str) -> contextlib.AbstractContextManager:
    """The autocast context of ``precision`` on ``device`` (a no-op for float32)."""
    if not uses_bfloat16(device, precision):
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=torch.bfloat16)


def available_devices() -> list[str]:
    """Devices a user can pick on this machine, 'auto' first."""
    out = ["auto", "cpu"]
    if torch.cuda.is_available():
        out.append("cuda")
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        out.append("mps")
    return out


def set_seed(seed: int) -> None:
    """Seed every RNG a run touches: Python, NumPy and torch (all devices)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
