"""The judge's free-wording prompt set (``prompts.json`` next to this module).

Each class has ``tuning`` prompts (may be used for tuning) and ``held_out`` prompts (only ever
measured; never used for training or tuning)."""
from __future__ import annotations

import json
from pathlib import Path

PATH = Path(__file__).with_name("prompts.json")
PARTS = ("tuning", "held_out")


def load_prompts(part: str, path: Path = PATH) -> dict[str, list[str]]:
    """``{class: [prompt, ...]}`` of one part (``"tuning"`` or ``"held_out"``)."""
    if part not in PARTS:
        raise ValueError(f"part must be one of {PARTS}, got {part!r}")
    data = json.loads(Path(path).read_text(encoding="utf-8"))["classes"]
    return {c: list(v[part]) for c, v in data.items()}


__all__ = ["PATH", "PARTS", "load_prompts"]
