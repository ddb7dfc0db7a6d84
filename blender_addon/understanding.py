""""understood as ..." under the prompt: what the engine made of a prompt at the last Generate.

The panel never loads the engine to draw: Generate remembers the engine's report for its prompt
(:func:`remember`, from ``Motion.info["understood"]``) and the panel shows it while the prompt
is unchanged (:func:`understood_text`).  No bpy here; ``draw`` only adds labels to a layout.
"""
from __future__ import annotations

_reports: dict[str, tuple[str, float, bool]] = {}  # prompt -> (caption, similarity, known)
_MAX = 64


def remember(engine, prompt: str, motion) -> None:
    """Keep what ``engine`` understood ``prompt`` as (from a generated motion's info); a model
    without a caption index leaves nothing."""
    remember_record(engine, prompt, (getattr(motion, "info", None) or {}).get("understood"))


def remember_segments(engine, motion) -> None:
    """The same for each segment of a composed motion (the timeline list shows them)."""
    for seg in (getattr(motion, "info", None) or {}).get("segments", []):
        remember_record(engine, seg.get("prompt", ""), seg.get("understood"))


def remember_record(engine, prompt: str, record) -> None:
    if not record:
        return
    caption, sim = str(record[0]), float(record[1])
    if len(_reports) >= _MAX:
        _reports.pop(next(iter(_reports)))
    _reports[prompt.strip()] = (caption, sim, sim >= float(getattr(engine, "known_threshold", 0.0)))


def understood_text(prompt: str) -> tuple[str, bool] | None:
    """(the line to show, known) for ``prompt``, or None when no Generate reported it yet."""
    rep = _reports.get(prompt.strip())
    if rep is None:
        return None
    caption, sim, known = rep
    line = f'understood as "{caption}" ({sim:.2f})'
    return (line if known else line + ": far from every motion the model knows"), known


def draw(layout, prompt: str) -> None:
    """One label under the prompt (a warning icon when the prompt is far from everything)."""
    shown = understood_text(prompt)
    if shown is not None:
        layout.label(text=shown[0], icon="INFO" if shown[1] else "ERROR")


def clear() -> None:
    _reports.clear()


__all__ = ["remember", "remember_segments", "remember_record", "understood_text", "draw", "clear"]
