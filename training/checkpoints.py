"""Run files: checkpoints (``torch.save`` dicts of tensors, numbers, lists) and JSON results,
each written atomically (a temporary file renamed into place), so a run killed while saving
keeps its previous checkpoint.  Checkpoints load with ``torch.load(weights_only=True)``.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from bamm_core.formats.paths import atomic_path


def save_checkpoint(path: Path, state: dict) -> None:
    """Atomic ``torch.save`` (creates the folder)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


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
    """Atomic, indented, key-sorted JSON (creates the folder)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp, open(tmp, "w") as f:
        json.dump(obj, f, indent=2, sort_keys=True)


__all__ = ["save_checkpoint", "load_checkpoint", "compact_checkpoint", "write_json"]
