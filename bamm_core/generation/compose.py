"""A prompt timeline: several prompts -> one continuous motion of any length.

>>> m = eng.compose([("a person walks forward", 80), ("a person waves both hands", 60),
...                  Segment("a person bows", None)], seed=0)       # None: predicted length
>>> m.info["segments"]            # [{"start": 0, "end": 80, "prompt": ...}, ...] frames [start, end)
>>> m2 = eng.recompose(m, 1, "a person claps", seed=3)   # frames outside segment 1 unchanged

How (BAMM's zero-shot editing, :class:`~.edit_api.EditAPI`):

1. segment 1 is generated (:meth:`Engine.generate`);
2. each next segment is outpainted after the motion so far (:meth:`EditAPI.outpaint`): the
   model sees the last tokens that fit its window (``Timebase.max_tokens`` minus the new
   ones), never the whole history, so the length is unlimited and each step costs the same;
3. each seam is then refined by inpainting :data:`SEAM_TOKENS` tokens on each side of it
   (at most half of either segment) with the bidirectional mask, conditioned on the next
   segment's prompt: the frames around the seam are regenerated seeing the motion before
   *and* after it, and spliced so that position and heading meet at both ends (no pop, no
   facing jump);
4. the take is put on one rigid skeleton and its feet are planted once, over the whole take
   (:func:`~bamm_core.motion.delivery.deliver`, as :meth:`Engine.generate` does).

Segment lengths are frames at the model's fps, ``Timebase.min_frames`` ..
``Timebase.max_extend_frames`` (HumanML3D: 8..188 frames, 0.4-9.4 s: what one outpaint
adds), or None for the model's own length (at least ``min_length``, default 2 s; longer
predictions are cut at the limit).  A longer action is two segments with the same prompt.

Randomness: segment ``i`` draws from ``batch_seed(seed, i)`` (segment 1 from ``seed``
itself, so a one-segment compose of a given length is :meth:`Engine.generate`), seam ``j``
from ``batch_seed(seed, S + j)``: the same segments and seed give a bit-identical motion.
Each prompt is encoded once.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple, Sequence

import numpy as np

from ..motion.clip import Motion
from ..motion.delivery import deliver
from ..motion.timebase import Timebase
from .options import SamplingOptions, resolve_options
from .progress import ProgressFn, batch_progress
from .prompt import check_prompt

#: tokens regenerated on each side of a seam (HumanML3D: 2 tokens = 8 frames = 0.4 s)
SEAM_TOKENS = 2


class Segment(NamedTuple):
    """One prompt of a timeline: ``frames`` at the model's fps, or None (predicted)."""

    prompt: str
    frames: int | None = None


@dataclass(frozen=True)
class _Plan:
    """The checked segments, their text conditions and the steps the compose takes."""

    segments: list[Segment]
    embeddings: np.ndarray  # (S, D)

    @property
    def steps(self) -> int:
        """Progress units: one per segment (two for a later predicted one), one per seam."""
        later_predicted = sum(s.frames is None for s in self.segments[1:])
        return 2 * len(self.segments) - 1 + later_predicted


def check_segments(segments, timebase: Timebase) -> list[Segment]:
    """``segments`` (:class:`Segment` s or ``(prompt, frames)`` pairs) checked: a non-empty
    list, prompts not empty (stripped), frames None or ``timebase.min_frames`` ..
    ``timebase.max_extend_frames``; else ValueError / TypeError naming the segment."""
    if isinstance(segments, (str, bytes)) or not isinstance(segments, Sequence):
        raise TypeError("segments must be a list of (prompt, frames) pairs or Segment values, "
                        f"got {type(segments).__name__}")
    if not segments:
        raise ValueError("the timeline has no segments: give at least one (prompt, frames)")
    out = []
    for i, seg in enumerate(segments, 1):
        if isinstance(seg, (str, bytes)) or not isinstance(seg, Sequence) or len(seg) != 2:
            raise TypeError(f"segment {i} must be a (prompt, frames) pair or a Segment, "
                            f"got {seg!r}")
        prompt, frames = seg
        try:
            prompt = check_prompt(prompt)
        except ValueError as e:
            raise ValueError(f"segment {i}: {e}") from None
        if frames is not None:
            frames = timebase.check_frames(frames, f"segment {i} length", lo=timebase.min_frames,
                                           hi=timebase.max_extend_frames)
        out.append(Segment(prompt, frames))
    return out


def _crop(motion: Motion, frames: int, timebase: Timebase) -> Motion:
    """The first ``frames`` frames of a generated motion (and the tokens that cover them)."""
    if motion.num_frames <= frames:
        return motion
    cut = lambda a: None if a is None else a[:frames]  # noqa: E731
    return Motion(motion.joints[:frames], motion.features[:frames],
                  motion.tokens[:timebase.tokens_for(frames)], motion.text, motion.fps,
                  motion.transform, dict(motion.info), cut(motion.raw_joints),
                  cut(motion.contacts))


def _seam_range(bounds: list[int], j: int, timebase: Timebase) -> tuple[int, int]:
    """Frames [start, end) refined around the seam between segments j-1 and j: up to
    SEAM_TOKENS tokens each side, at most half of either segment (seams never overlap)."""
    left, seam, right = bounds[j - 1], bounds[j], bounds[j + 1]
    half = min(SEAM_TOKENS * timebase.frames_per_token, (seam - left) // 2, (right - seam) // 2)
    return seam - half, seam + half


def _segments_info(bounds: list[int], prompts: list[str]) -> list[dict]:
    return [{"start": int(a), "end": int(b), "prompt": p}
            for a, b, p in zip(bounds[:-1], bounds[1:], prompts)]


def timeline_text(prompts: Sequence[str]) -> str:
    """The prompt of a composed motion (titles, files): ``"A, then B, then C"``."""
    return ", then ".join(prompts)


class ComposeAPI:
    """``compose`` / ``recompose`` (a base of the Engine, over :class:`~.edit_api.EditAPI`)."""

    def compose(self, segments, seed: int = 0, *, options: SamplingOptions | None = None,
                progress: ProgressFn | None = None, plant_feet: bool = True,
                **overrides) -> Motion:
        """One continuous motion from a timeline of prompts (see the module docstring).

        Args:
            segments: [:class:`Segment` (prompt, frames | None) or (prompt, frames)].
            seed: all randomness derives from it.
            options / **overrides: as :meth:`Engine.generate` (segment 1 uses them all;
                outpainting and seams use ``cfg``, ``residual_cfg``, ``temperature``,
                ``top_k``).
            progress: ``progress(done, total)`` over the whole compose; False cancels
                (:class:`~.progress.GenerationCancelled`).
            plant_feet: as :meth:`Engine.generate`, once over the whole take (one rigid
                skeleton for all segments; ``raw_joints`` / ``contacts`` cover the take).
        Returns:
            a :class:`Motion`; ``info["segments"]``: [{"start", "end", "prompt"}] in frames.
        """
        opts = resolve_options(self.default_options, options, overrides)
        segs = check_segments(segments, self.timebase)
        typed = self.encode_text([s.prompt for s in segs])  # "understood as" is about these
        plan = _Plan(segs, self.snap_embeddings(typed, opts.prompt_snap, [s.prompt for s in segs]))
        from .engine import batch_seed  # (the engine imports this module)

        for_step = batch_progress(progress, plan.steps)
        step = iter(range(plan.steps))
        seed = int(seed)
        motion, bounds = None, [0]
        for i, seg in enumerate(segs):
            kw = dict(options=opts, text_embedding=plan.embeddings[i],
                      seed=batch_seed(seed, i), plant_feet=False)  # planted once, at the end
            if i == 0:
                motion = _crop(self.generate(None, seg.frames, progress=for_step(next(step)),
                                             **kw), self.timebase.max_extend_frames, self.timebase)
            else:
                frames = seg.frames if seg.frames is not None else \
                    self._predict_frames(kw, for_step(next(step)))
                motion = self.outpaint(motion, extend_after=frames,
                                       progress=for_step(next(step)), **kw)
            bounds.append(motion.num_frames)
        for j in range(1, len(segs)):
            start, end = _seam_range(bounds, j, self.timebase)
            motion = self.inpaint(motion, start, end, text_embedding=plan.embeddings[j],
                                  seed=batch_seed(seed, len(segs) + j), options=opts,
                                  progress=for_step(next(step)), plant_feet=False)
        prompts = [s.prompt for s in segs]
        raw = motion.joints if motion.raw_joints is None else motion.raw_joints
        segments_info = _segments_info(bounds, prompts)
        for s, emb in zip(segments_info, typed):  # [caption, similarity] with an index
            s.update({"understood": u} if (u := self.understood_record(s["prompt"], emb)) else {})
        take = Motion(raw, motion.features, motion.tokens, timeline_text(prompts),
                      motion.fps, None,
                      {"seed": seed, "segments": segments_info,
                       "refine": opts.refine, "cfg": [opts.cfg, opts.refine_cfg],
                       "residual_cfg": opts.residual_cfg})
        return deliver(take, plant_feet=bool(plant_feet))

    def _predict_frames(self, kw: dict, progress) -> int:
        """The length the model gives a prompt on its own (generated with the segment's
        seed), within the segment limits."""
        tb = self.timebase
        frames = self.generate(None, None, progress=progress, **kw).num_frames
        return int(min(max(frames, tb.min_frames), tb.max_extend_frames))

    def recompose(self, motion: Motion, index: int, prompt: str | None = None, seed: int = 0,
                  *, options: SamplingOptions | None = None, progress: ProgressFn | None = None,
                  plant_feet: bool = True, blend: int = 4, **overrides) -> Motion:
        """Redo segment ``index`` (0-based) of a composed motion by inpainting its frames with
        the segments around it as context; ``prompt`` (default: the segment's own) replaces
        its prompt.  Every frame outside the segment is returned bit-identical; the new
        frames meet the neighbours at both ends.  Options, ``plant_feet`` (inside the
        segment) and ``blend`` (0 = a hard cut, for front ends that blend keys themselves)
        as :meth:`Engine.inpaint`."""
        opts = resolve_options(self.default_options, options, overrides)
        segments = (motion.info or {}).get("segments") if isinstance(motion, Motion) else None
        if not segments:
            raise ValueError("the motion has no segments: make it with compose (or set "
                             "motion.info['segments'] to [{'start', 'end', 'prompt'}, ...])")
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)) \
                or not 0 <= index < len(segments):
            raise ValueError(f"segment index must be 0..{len(segments) - 1}, got {index!r}")
        if len(segments) == 1:
            raise ValueError("the motion has a single segment: compose it again instead")
        if motion.tokens is None:
            raise ValueError("the motion has no tokens: rebuild it with "
                             "Engine.motion_from_joints and keep its segments")
        seg = segments[int(index)]
        new_prompt = check_prompt(seg["prompt"] if prompt is None else prompt)
        typed = self.encode_text([new_prompt])  # encoded once: the condition and "understood as"
        out = self.inpaint(motion, int(seg["start"]), int(seg["end"]),
                           text_embedding=self.snap_embeddings(typed, opts.prompt_snap, [new_prompt])[0],
                           seed=int(seed),
                           options=opts, progress=progress, plant_feet=plant_feet, blend=blend)
        info = dict(motion.info)
        info["segments"] = [dict(s) for s in segments]
        info["segments"][int(index)]["prompt"] = new_prompt
        info["segments"][int(index)].pop("understood", None)
        if (understood := self.understood_record(new_prompt, typed[0])) is not None:
            info["segments"][int(index)]["understood"] = understood
        info["recomposed"] = list(info.get("recomposed", [])) + [[int(index), int(seed)]]
        prompts = [s["prompt"] for s in info["segments"]]
        return Motion(out.joints, out.features, out.tokens, timeline_text(prompts), out.fps,
                      motion.transform, dict(info, **{k: out.info[k] for k in
                                                      ("rigid", "feet_planted") if k in out.info}),
                      out.raw_joints, out.contacts)


__all__ = ["ComposeAPI", "Segment", "SEAM_TOKENS", "check_segments", "timeline_text"]
