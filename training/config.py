"""Training presets: ``training/configs/<name>.json`` or any JSON file with the same sections.

A preset has a ``dataset`` section (feature size, joints, fps, clip lengths), a ``text_encoder``,
a ``seed`` and one section per stage (``vq``, ``transformer``, ``residual``, ``evaluator``,
``eval``).  The motion timebase of a run (fps, frames per token, longest clip) is derived from
the dataset section and the tokenizer's down-sampling: :func:`run_timebase`.
"""
from __future__ import annotations

import inspect
import json
from pathlib import Path
from typing import Callable

from bamm_core.motion.timebase import Timebase

CONFIG_DIR = Path(__file__).resolve().parent / "configs"


def load_config(name_or_path: str) -> dict:
    """Return a config dict from a preset name (``t2m``, ``kit``, ``cpu_small``, ``tiny``) or a
    JSON file path."""
    p = Path(name_or_path)
    if not p.suffix and not p.exists():
        p = CONFIG_DIR / f"{name_or_path}.json"
    if not p.is_file():
        presets = sorted(q.stem for q in CONFIG_DIR.glob("*.json"))
        raise FileNotFoundError(f"config {name_or_path!r} is neither a file nor a preset {presets}")
    with open(p) as f:
        cfg = json.load(f)
    cfg.setdefault("name", p.stem)
    return cfg


def stage_config(cfg: dict, stage: str, overrides: dict | None = None) -> dict:
    """The ``cfg[stage]`` sub-dict with command-line overrides applied (``None`` = keep)."""
    if stage not in cfg:
        raise KeyError(f"config {cfg.get('name')!r} has no {stage!r} section")
    out = dict(cfg[stage])
    for k, v in (overrides or {}).items():
        if v is not None:
            out[k] = v
    return out


def filter_kwargs(fn: Callable, kwargs: dict) -> dict:
    """Keep only the keyword arguments ``fn`` accepts (configs may carry training-only keys)."""
    sig = inspect.signature(fn)
    if any(p.kind == p.VAR_KEYWORD for p in sig.parameters.values()):
        return dict(kwargs)
    return {k: v for k, v in kwargs.items() if k in sig.parameters}


def run_timebase(dataset: dict, tokenizer: dict) -> Timebase:
    """The timebase of models trained on ``dataset`` (a preset's ``dataset`` section: ``fps``,
    ``max_len``) with a tokenizer of architecture ``tokenizer`` (``down_t``, ``stride_t``)."""
    config = {"tokenizer": tokenizer}
    if dataset.get("fps") is not None:
        config["fps"] = dataset["fps"]
    if dataset.get("max_len") is not None:
        config["max_frames"] = dataset["max_len"]
    return Timebase.from_config(config)


__all__ = ["CONFIG_DIR", "load_config", "stage_config", "filter_kwargs", "run_timebase"]
