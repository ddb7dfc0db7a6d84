"""Command-line values -> engine values: seconds -> frames on the model's timebase, edit
ranges, the prompt, and one :class:`~bamm_core.generation.options.SamplingOptions`.

Times on the command line are seconds; every conversion and limit comes from the model's
:class:`~bamm_core.motion.timebase.Timebase` (no frame rate is written here).
"""
from __future__ import annotations

import argparse
import math

from bamm_core.generation.options import SamplingOptions
from bamm_core.generation.prompt import check_prompt as prompt_rule
from bamm_core.motion.timebase import Timebase

from .errors import UserError, one_line

#: command-line flags (argparse ``dest``) that are SamplingOptions fields of the same name
OPTION_FLAGS = ("cfg", "refine_cfg", "residual_cfg", "temperature", "top_k", "refine", "refine_rounds",
                "prompt_snap")


def seconds_to_frames(tb: Timebase, seconds: float, flag: str, lo: int | None = None,
                      hi: int | None = None) -> int:
    """``seconds`` -> frames, within lo..hi frames (default: one token .. the longest motion)."""
    lo = tb.frames_per_token if lo is None else lo
    hi = tb.max_frames if hi is None else hi
    if not math.isfinite(seconds) or seconds <= 0:
        raise UserError(f"{flag} must be a positive number of seconds, got {seconds:g}")
    frames = tb.seconds_to_frames(seconds)
    if not lo <= frames <= hi:
        raise UserError(f"{flag} must be between {tb.frames_to_seconds(lo):g} and "
                        f"{tb.frames_to_seconds(hi):g} seconds, got {seconds:g}")
    return frames


def parse_length(tb: Timebase, text: str) -> int | None:
    """``auto`` -> None (the model predicts it); ``SECONDS`` -> frames."""
    if text.strip().lower() in ("auto", "predicted", ""):
        return None
    try:
        seconds = float(text)
    except ValueError:
        raise UserError(f"--length must be 'auto' or a number of seconds, got {text!r}") from None
    return seconds_to_frames(tb, seconds, "--length")


def parse_min_length(tb: Timebase, seconds: float) -> int:
    """``--min-length`` seconds -> frames (the shortest length the model may predict)."""
    return seconds_to_frames(tb, seconds, "--min-length")


def parse_extend(tb: Timebase, seconds: float, flag: str) -> int:
    """``--extend-before/--extend-after`` seconds -> frames (at most what one edit adds)."""
    return seconds_to_frames(tb, seconds, flag, lo=1, hi=tb.max_extend_frames)


def parse_range(text: str) -> tuple[float, float]:
    """``"1.5-3"`` (seconds) -> (1.5, 3.0)."""
    parts = text.replace(":", "-").split("-")
    try:
        if len(parts) != 2:
            raise ValueError
        start, end = float(parts[0]), float(parts[1])
    except ValueError:
        raise UserError(f"--inpaint must be START-END in seconds (e.g. 1.5-3), got {text!r}") from None
    if not (math.isfinite(start) and math.isfinite(end)) or start < 0:
        raise UserError(f"--inpaint range {text!r} is negative or not finite")
    if end < start:
        raise UserError(f"--inpaint range {text!r} is reversed: END must be after START "
                        f"(did you mean {parts[1]}-{parts[0]}?)")
    if end == start:
        raise UserError(f"--inpaint range {text!r} is empty: END must be after START")
    return start, end


def range_frames(tb: Timebase, text: str, num_frames: int) -> tuple[int, int]:
    """``--inpaint START-END`` -> frames [start, end) inside a motion of ``num_frames``."""
    s0, s1 = parse_range(text)
    start, end = tb.seconds_to_frames(s0), tb.seconds_to_frames(s1)
    length = f"{tb.frames_to_seconds(num_frames):.2f} s long ({num_frames} frames at {tb.fps:g} fps)"
    if end > num_frames or start >= num_frames:
        raise UserError(f"--inpaint {text} is outside the motion, which is {length}")
    if end <= start:
        raise UserError(f"--inpaint {text} is shorter than one frame at {tb.fps:g} fps")
    if start == 0 and end == num_frames:
        raise UserError(f"--inpaint {text} covers the whole motion, which is {length}; "
                        "use `bamm generate` to make a new one")
    return start, end


def check_prompt(prompt: str) -> str:
    try:
        return prompt_rule(prompt or "")
    except ValueError as e:
        raise UserError(str(e)) from None


def sampling_options(defaults: SamplingOptions, args: argparse.Namespace,
                     min_length: int | None = None) -> SamplingOptions:
    """The model's ``defaults`` with the flags the user gave (absent flags keep the default);
    ``min_length``: frames from :func:`parse_min_length`."""
    changes = {name: getattr(args, name, None) for name in OPTION_FLAGS}
    changes["min_length"] = min_length
    try:
        return defaults.replace(**changes)
    except ValueError as e:
        raise UserError(one_line(e)) from None


__all__ = ["seconds_to_frames", "parse_length", "parse_min_length", "parse_extend", "parse_range",
           "range_frames", "check_prompt", "sampling_options", "OPTION_FLAGS"]
