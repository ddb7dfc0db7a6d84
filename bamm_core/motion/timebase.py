"""One timebase: frames per second, frames per token and the longest motion a model handles.

Every seconds <-> frames <-> tokens conversion and every length limit (engine, CLI, jobs
files, the add-on's properties) comes from a :class:`Timebase`.  A model's timebase is built
from its config and its tokenizer (:meth:`Timebase.from_config`), so a model trained at
another frame rate or down-sampling works without editing a constant.

>>> tb = Timebase()                       # HumanML3D: 20 fps, 4 frames a token, 49 tokens
>>> tb.max_frames, tb.max_seconds
(196, 9.8)
>>> tb.seconds_to_frames(2.5), tb.tokens_for(10)
(50, 3)
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Timebase:
    """fps: frames per second of the model's motion; frames_per_token: the tokenizer's
    temporal down-sampling; max_tokens: motion tokens in the transformer's window;
    min_tokens: the shortest edit/outpaint the model can make sense of;
    default_min_frames: the shortest *predicted* length by default (HumanML3D-style
    data sets drop clips under 2 s)."""

    fps: float = 20.0
    frames_per_token: int = 4
    max_tokens: int = 49
    min_tokens: int = 2
    default_min_seconds: float = 2.0

    def __post_init__(self) -> None:
        if not (self.fps > 0 and self.frames_per_token >= 1 and self.max_tokens >= 2):
            raise ValueError(f"invalid timebase {self}")

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_config(cls, config: dict, frames_per_token: int | None = None) -> "Timebase":
        """A model config's timebase: ``fps`` (default 20), the tokenizer's down-sampling
        (``frames_per_token`` or ``stride_t ** down_t`` of ``config["tokenizer"]``,
        default 4) and ``max_frames`` (the longest training clip, default 196)."""
        default = cls()
        tok = config.get("tokenizer", {}) or {}
        if frames_per_token is None:
            frames_per_token = int(config.get("frames_per_token")
                                   or int(tok.get("stride_t", 2)) ** int(tok.get("down_t", 2)))
        max_frames = int(config.get("max_frames", config.get("max_motion_length", default.max_frames)))
        return cls(fps=float(config.get("fps", default.fps)), frames_per_token=int(frames_per_token),
                   max_tokens=max_frames // int(frames_per_token))

    # ------------------------------------------------------------------ limits
    @property
    def max_frames(self) -> int:
        return self.max_tokens * self.frames_per_token

    @property
    def max_seconds(self) -> float:
        return self.frames_to_seconds(self.max_frames)

    @property
    def min_frames(self) -> int:
        """The shortest motion the engine generates or edits (``min_tokens`` tokens)."""
        return self.min_tokens * self.frames_per_token

    @property
    def default_min_frames(self) -> int:
        return self.seconds_to_frames(self.default_min_seconds)

    @property
    def max_extend_frames(self) -> int:
        """At most this many frames can be added by one outpaint, whatever the motion's
        length: the model's window must also hold the token with the last (first) original
        frame and one more token of context."""
        return (self.max_tokens - 2) * self.frames_per_token

    # ------------------------------------------------------------------ conversions
    def seconds_to_frames(self, seconds: float) -> int:
        return int(round(float(seconds) * self.fps))

    def frames_to_seconds(self, frames: int) -> float:
        return round(float(frames) / self.fps, 6)

    def tokens_for(self, frames: int) -> int:
        """Tokens that cover ``frames`` frames (ceil)."""
        return -(-int(frames) // self.frames_per_token)

    def token_range(self, start: int, end: int) -> tuple[int, int]:
        """Frame range [start, end) -> the covering token range [ts, te)."""
        return int(start) // self.frames_per_token, self.tokens_for(end)

    # ------------------------------------------------------------------ validation
    def check_frames(self, value, name: str = "length", lo: int | None = None,
                     hi: int | None = None) -> int:
        """``value`` as an int number of frames in lo..hi (default frames_per_token..max_frames),
        else ValueError naming the limits in frames and seconds."""
        lo = self.frames_per_token if lo is None else lo
        hi = self.max_frames if hi is None else hi
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise ValueError(f"{name} must be an integer number of frames, got {value!r}")
        if not lo <= int(value) <= hi:
            raise ValueError(f"{name} must be {lo}..{hi} frames "
                             f"({self.frames_to_seconds(lo):g}-{self.frames_to_seconds(hi):g} s at "
                             f"{self.fps:g} fps), got {int(value)} frames")
        return int(value)

    def check_seconds(self, seconds, name: str = "length", lo: float | None = None,
                      hi: float | None = None) -> int:
        """``seconds`` (a finite number in lo..hi, default the frame limits in seconds) ->
        frames; else ValueError naming the limits in seconds."""
        lo = self.frames_to_seconds(self.frames_per_token) if lo is None else lo
        hi = self.max_seconds if hi is None else hi
        try:
            s = float(seconds)
        except (TypeError, ValueError):
            raise ValueError(f"{name} must be a number of seconds, got {seconds!r}") from None
        if isinstance(seconds, bool) or not math.isfinite(s) or not lo - 1e-9 <= s <= hi + 1e-9:
            raise ValueError(f"{name} must be {lo:g}-{hi:g} seconds, got {seconds!r}")
        return self.seconds_to_frames(s)


#: HumanML3D's timebase (the released models and the bundled one).
HUMANML3D = Timebase()
#: KIT-ML's timebase: 12.5 fps, clips of 24 frames (1.92 s) and more.
KIT_ML = Timebase(fps=12.5, default_min_seconds=1.92)
#: by the data set names model configs use (``config["dataset"]``)
DATASETS = {"t2m": HUMANML3D, "kit": KIT_ML}

__all__ = ["Timebase", "HUMANML3D", "KIT_ML", "DATASETS"]
