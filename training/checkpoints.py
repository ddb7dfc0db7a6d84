"""Run files: checkpoints (``torch.save`` dicts of tensors, numbers, lists) and JSON results,
each written atomically (a temporary file renamed into place), so a run killed while saving
keeps its previous checkpoint.  Checkpoints load with ``torch.load(weights_only=True)``.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch


def _atomic_write(path: Path, write) -> None:
    """``write(tmp)`` to a temporary file next to ``path``, then rename it onto ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def save_checkpoint(path: Path, state: dict) -> None:
    """Atomic ``torch.save``."""
    _atomic_write(path, lambda tmp: torch.save(state, tmp))


def load_checkpoint(path: Path, map_location="cpu") -> dict:
    return torch.load(path, map_location=map_location, weights_only=True)


def compact_checkpoint(src: Path, dst: Path) -> int:
    """Copy a run checkpoint without its optimizer state (about 1/3 of the size) for
    committing; ``--resume-from dst`` continues from it (fresh Adam moments, lr re-warm-up).
    Returns the bytes written."""
    st = load_checkpoint(src)
    st.pop("optimizer", None)
    st.pop("rng_torch", None)
    st.pop("rewarm_from", None)
    save_checkpoint(Path(dst), st)
    return Path(dst).stat().st_size


def write_json(path: Path, obj: Any) -> None:
    """Atomic, indented, key-sorted JSON."""
    def write(tmp: Path) -> None:
        with open(tmp, "w") as f:
            json.dump(obj, f, indent=2, sort_keys=True)

    _atomic_write(path, write)


__all__ = ["save_checkpoint", "load_checkpoint", "compact_checkpoint", "write_json"]
