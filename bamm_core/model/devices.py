"""One device resolver for every front end (CLI, add-on, bake jobs, training).

>>> resolve_device("CPU")
'cpu'
"""
from __future__ import annotations

import re

import torch

_CUDA = re.compile(r"cuda(?::(\d+))?")


def _mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


def resolve_device(name: str = "auto") -> str:
    """``"auto"`` (CUDA if available, else MPS if available, else the CPU), ``"cpu"``,
    ``"cuda"`` / ``"cuda:N"`` or ``"mps"`` (any case) -> a torch device string.

    ValueError for an unknown name or a device this machine does not have."""
    if not isinstance(name, str):
        raise ValueError(f"device must be a string (auto, cpu, cuda, cuda:N or mps), got {name!r}")
    dev = name.strip().lower()
    if dev == "auto":
        if torch.cuda.is_available():
            return "cuda"
        return "mps" if _mps_available() else "cpu"
    if dev == "cpu":
        return "cpu"
    if dev == "mps":
        if not _mps_available():
            raise ValueError("device 'mps' is not available on this machine (no Metal/MPS backend)")
        return "mps"
    m = _CUDA.fullmatch(dev)
    if m is None:
        raise ValueError(f"unknown device {name!r} (use auto, cpu, cuda, cuda:N or mps)")
    if not torch.cuda.is_available():
        raise ValueError(f"device {name!r} is not available on this machine (no CUDA GPU)")
    if m.group(1) is not None and int(m.group(1)) >= torch.cuda.device_count():
        raise ValueError(f"device {name!r} is not available: this machine has "
                         f"{torch.cuda.device_count()} CUDA device(s)")
    return dev


__all__ = ["resolve_device"]
