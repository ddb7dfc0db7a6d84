"""Timeline markers as the script of a take (reads markers, no keyframing).

A *prompt marker* is a timeline marker whose name starts with ``"> "`` (a greater-than sign
and a space): ``"> a person walks forward"``.  Each one starts a segment that runs to the
next prompt marker; the last one runs to the scene's end frame (or its length is predicted by
the model when asked).  Every other marker (camera switches, notes) is ignored and never
changed.  Segment lengths are converted to the model's frames through its ``Timebase``.
"""
from __future__ import annotations

from dataclasses import dataclass

from .core import submodule
from .rig import UserError

PREFIX = "> "


@dataclass(frozen=True)
class SceneSegment:
    """One prompt marker's segment: scene frames ``start`` .. ``end - 1`` (``end`` None: the
    model predicts the length)."""

    marker: str
    prompt: str
    start: int
    end: int | None


def is_prompt_marker(marker) -> bool:
    return marker.name.startswith(PREFIX)


def marker_prompt(name: str) -> str:
    return name[len(PREFIX):].strip() if name.startswith(PREFIX) else ""


def prompt_markers(scene) -> list:
    """The scene's prompt markers in frame order."""
    return sorted((m for m in scene.timeline_markers if is_prompt_marker(m)), key=lambda m: m.frame)


def segment_end(scene, markers, k: int) -> int:
    """Exclusive end frame of the segment of ``markers[k]`` (the last: the scene's end + 1)."""
    return markers[k + 1].frame if k + 1 < len(markers) else scene.frame_end + 1


def read_segments(scene, predict_last: bool = False) -> list[SceneSegment]:
    """The prompt markers' segments, or a UserError naming the first problem (no prompt
    marker, an empty prompt, two prompt markers on one frame, the last one after the end)."""
    markers = prompt_markers(scene)
    if not markers:
        raise UserError(f"no prompt markers: add timeline markers named '{PREFIX}<prompt>' "
                        "(e.g. '> a person walks forward'), one where each part of the take starts")
    check = submodule("generation.prompt").check_prompt
    out = []
    for k, m in enumerate(markers):
        if k + 1 < len(markers) and markers[k + 1].frame == m.frame:
            raise UserError(f"prompt markers {m.name!r} and {markers[k + 1].name!r} are both on frame "
                            f"{m.frame}: move one of them")
        try:
            text = check(marker_prompt(m.name))
        except ValueError as e:
            raise UserError(f"marker {m.name!r} at frame {m.frame}: {e}") from None
        last = k + 1 == len(markers)
        end = None if last and predict_last else segment_end(scene, markers, k)
        if end is not None and end <= m.frame:
            raise UserError(f"prompt marker {m.name!r} at frame {m.frame} is after the scene's end frame "
                            f"{scene.frame_end}: move it or extend the scene")
        out.append(SceneSegment(m.name, text, m.frame, end))
    return out


def model_lengths(segments: list[SceneSegment], timebase, scene_fps: float) -> list[int | None]:
    """Each segment's length in model frames (None: predicted), from the marker frames
    through the model's timebase (boundaries rounded once, so the lengths add up to the
    span); UserError for a segment shorter than the model's shortest motion or longer than
    one outpaint adds (``Timebase.max_extend_frames``; a longer part is two markers with the
    same prompt)."""
    ratio = float(timebase.fps) / float(scene_fps)
    origin = segments[0].start
    out: list[int | None] = []
    for seg in segments:
        if seg.end is None:
            out.append(None)
            continue
        n = round((seg.end - origin) * ratio) - round((seg.start - origin) * ratio)
        try:
            timebase.check_frames(n, f"segment {seg.marker!r}", lo=timebase.min_frames,
                                  hi=timebase.max_extend_frames)
        except ValueError as e:
            raise UserError(f"{e} (frames {seg.start}-{seg.end - 1} at the scene's {scene_fps:g} fps)") from None
        out.append(n)
    return out


def find_segment(segments: list[SceneSegment], marker: str) -> int:
    """Index of the segment started by the prompt marker named ``marker``; UserError if none."""
    for k, seg in enumerate(segments):
        if seg.marker == marker:
            return k
    names = ", ".join(repr(s.marker) for s in segments)
    raise UserError(f"no prompt marker named {marker!r} (prompt markers: {names})")


def script_segments(text: str, timebase) -> list[tuple[str, int | None]]:
    """``[{"prompt": ..., "seconds": ... | null | "auto"}, ...]`` (JSON, a script's or jobs
    file's timeline instead of markers) -> (prompt, model frames or None) pairs; UserError
    naming the segment otherwise."""
    import json

    try:
        items = json.loads(text)
    except ValueError as e:
        raise UserError(f"segments must be a JSON list of {{'prompt', 'seconds'}} objects: {e}") from None
    if not isinstance(items, list) or not items:
        raise UserError("segments must be a non-empty JSON list of {'prompt', 'seconds'} objects")
    check = submodule("generation.prompt").check_prompt
    lo, hi = (timebase.frames_to_seconds(f) for f in (timebase.min_frames, timebase.max_extend_frames))
    out = []
    for i, item in enumerate(items, 1):
        try:
            if not isinstance(item, dict):
                raise ValueError(f"expected an object with 'prompt' and 'seconds', got {item!r}")
            seconds = item.get("seconds")
            auto = seconds is None or (isinstance(seconds, str) and seconds.strip().lower() == "auto")
            out.append((check(item.get("prompt", "")),
                        None if auto else timebase.check_seconds(seconds, "seconds", lo=lo, hi=hi)))
        except (TypeError, ValueError) as e:
            raise UserError(f"segment {i}: {e}") from None
    return out
