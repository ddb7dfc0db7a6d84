"""A jobs file's ``segments`` and ``path`` fields (pure Python, no Blender).

    segments  instead of ``prompt``: a list of {"prompt": ..., "seconds": ...} making one
              continuous take (``bpy.ops.bamm.generate_timeline``); seconds within one
              segment's limits (the model's shortest motion .. what one outpaint adds,
              0.4-9.4 s for the bundled model) or omitted / "auto" (predicted)
    path      the ground path to walk along: a list of [x, z] points in metres (the engine's
              Y-up ground plane: Blender's world x and -y; the root starts at the first
              point), or the name of a curve object in the scene

Both are checked with the engine's own rules (``check_prompt``, the model's ``Timebase``);
messages name the segment.  In CSV, write them as JSON (``[{"prompt": "...", "seconds": 2}]``);
a ``path`` cell that is not JSON is a curve name.
"""
from __future__ import annotations

import json
import math
from typing import Any

from bamm_core.generation.prompt import check_prompt
from bamm_core.motion.timebase import Timebase


def segment_limits(timebase: Timebase) -> tuple[float, float]:
    """(shortest, longest) seconds of one segment for the model ``timebase``."""
    return (timebase.frames_to_seconds(timebase.min_frames),
            timebase.frames_to_seconds(timebase.max_extend_frames))


def check_segments(value: Any, timebase: Timebase) -> tuple[list[dict], list[str]]:
    """(``[{"prompt", "seconds" | None}]``, error messages) for a ``segments`` field."""
    if not isinstance(value, list) or not value:
        return [], [f"must be a non-empty list of {{'prompt', 'seconds'}} objects, got {value!r}"]
    lo, hi = segment_limits(timebase)
    out, errors = [], []
    for i, item in enumerate(value, 1):
        if not isinstance(item, dict):
            errors.append(f"segment {i}: expected an object with 'prompt' and 'seconds', got {item!r}")
            continue
        unknown = sorted(set(item) - {"prompt", "seconds"})
        if unknown:
            errors.append(f"segment {i}: unknown keys {unknown} (known: prompt, seconds)")
        try:
            prompt = check_prompt(item.get("prompt", ""))
        except (TypeError, ValueError) as e:
            errors.append(f"segment {i}: prompt: {e}")
            continue
        seconds = item.get("seconds")
        if seconds is None or (isinstance(seconds, str) and seconds.strip().lower() == "auto"):
            out.append({"prompt": prompt, "seconds": None})
            continue
        try:
            timebase.check_seconds(seconds, "seconds", lo=lo, hi=hi)
        except ValueError as e:
            errors.append(f"segment {i}: {e} (or 'auto': predicted)")
            continue
        out.append({"prompt": prompt, "seconds": float(seconds)})
    return out, errors


def check_path(value: Any) -> tuple[list | str | None, list[str]]:
    """(points ``[[x, z], ...]`` or a curve name, error messages) for a ``path`` field."""
    if isinstance(value, str):
        return (value.strip(), []) if value.strip() else (None, ["must be a curve name or a list of [x, z]"])
    if not isinstance(value, list):
        return None, [f"must be a list of [x, z] points (metres) or a curve object's name, got {value!r}"]
    points = []
    for p in value:
        if (not isinstance(p, (list, tuple)) or len(p) != 2
                or not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in p)):
            return None, [f"each point must be [x, z] (numbers, metres), got {p!r}"]
        points.append([float(p[0]), float(p[1])])
    if len(points) < 2:
        return None, [f"needs at least 2 points, got {len(points)}"]
    if sum(math.dist(a, b) for a, b in zip(points, points[1:])) < 1e-6:
        return None, ["has zero length (all points are the same)"]
    return points, []


def csv_value(key: str, text: str) -> Any:
    """A CSV cell of these fields: JSON when it looks like JSON, else the text (a curve name)."""
    if text.startswith("[") or text.startswith("{"):
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            return text  # validation names the field and the bad value
    return text


def segment_lengths_errors(segments: list[dict], timebase: Timebase) -> list[str]:
    """The segments' seconds checked against a model known only once it is loaded."""
    return check_segments(segments, timebase)[1] if segments else []
