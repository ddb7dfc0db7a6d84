"""The engine's editing API: inpainting and outpainting of a :class:`Motion`.

:class:`EditAPI` is a base of :class:`~bamm_core.generation.engine.Engine`; the token- and
frame-level work is in :mod:`bamm_core.generation.editing`.  Frames -> tokens always goes
through ``Engine.timebase.token_range``.  Edits use these sampling options:
``cfg`` (guidance of the bidirectional pass), ``residual_cfg``, ``temperature`` and
``top_k`` (:data:`~bamm_core.generation.options.EDIT_FIELDS`); refinement does not apply.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .editing import choose_window, edit_tokens, splice_joints
from ..motion.clip import Motion
from ..motion.delivery import deliver
from .options import EDIT_FIELDS, SamplingOptions, resolve_options
from .progress import ProgressFn, wrap_progress


@dataclass
class _Timeline:
    """An edit's output timeline: ``tokens`` / ``keep`` (token slots; timeline frame =
    output frame + ``shift``), ``joints`` / ``features`` (frames, placeholders where
    ``known`` is False)."""

    tokens: np.ndarray
    keep: np.ndarray
    shift: int
    joints: np.ndarray
    features: np.ndarray
    known: np.ndarray


class EditAPI:
    """``inpaint`` / ``outpaint`` (needs the Engine's networks, ``timebase``,
    ``default_options``, ``_condition`` and ``decode_tokens``)."""

    def _edit(self, motion: Motion, tl: _Timeline, start: int, end: int, *, text,
              text_embedding, seed: int, options: SamplingOptions, blend: int,
              progress: ProgressFn | None, plant_feet: bool = True) -> Motion:
        """Regenerate output frames [start, end) of the timeline ``tl``."""
        tb = self.timebase
        fpt = tb.frames_per_token
        t_out = tl.joints.shape[0]
        n_tl = tl.tokens.shape[0]
        # the tokens that decode the range and its neighbouring original frames
        ctx0 = start - 1 if start > 0 else start
        ctx1 = end + 1 if end < t_out else end
        lo, hi = tb.token_range(ctx0 + tl.shift, ctx1 + tl.shift)
        w0, w1 = choose_window(n_tl, lo, min(hi, n_tl), tb)
        cond = self._condition(text if text is not None or text_embedding is not None
                               else motion.text, text_embedding, 1, options.prompt_snap)
        gen = torch.Generator(device=self.device).manual_seed(int(seed))
        n_regen = int((~tl.keep[w0:w1]).sum())
        total = n_regen + self.residual.num_quantizers
        cb = wrap_progress(progress)
        done = [0]

        def tick() -> None:
            done[0] += 1
            if cb is not None:
                cb(min(done[0], total), total)

        tokens = torch.as_tensor(tl.tokens[w0:w1], device=self.device)
        new = edit_tokens(self.transformer, self.residual, tokens,
                          torch.as_tensor(tl.keep[w0:w1], device=self.device), cond, options,
                          gen, max_tokens=tb.max_tokens, progress=tick)
        (feats_w, joints_w), = self.decode_tokens(new[None], [(w1 - w0) * fpt])
        f0 = w0 * fpt - tl.shift  # output frame of the window's first decoded frame
        gen_j = tl.joints.copy()
        gen_f = tl.features.copy()
        lo_f, hi_f = max(0, f0), min(t_out, f0 + joints_w.shape[0])
        gen_j[lo_f:hi_f] = joints_w[lo_f - f0:hi_f - f0]
        gen_f[lo_f:hi_f] = feats_w[lo_f - f0:hi_f - f0]
        joints = splice_joints(tl.joints, tl.known, gen_j, start, end, blend)
        feats = tl.features.copy()
        feats[start:end] = gen_f[start:end]
        out_tokens = tl.tokens.copy()
        out_tokens[w0:w1] = new.cpu().numpy()
        if cb is not None:
            cb(total, total)
        out = Motion(joints.astype(np.float32), feats.astype(np.float32), out_tokens,
                     text if text is not None else motion.text, tb.fps, motion.transform,
                     {"edited": [int(start), int(end)], "seed": int(seed),
                      "window_tokens": [int(w0), int(w1)]})
        return deliver(out, plant_feet=plant_feet, frames=(start, end), blend=blend)

    def _check_motion(self, motion: Motion) -> None:
        if not isinstance(motion, Motion):
            raise TypeError(f"expected a Motion (see Engine.motion_from_joints), got "
                            f"{type(motion).__name__}")
        if motion.joints.ndim != 3 or motion.joints.shape[1:] != (self.joints_num, 3):
            raise ValueError(f"motion joints must be (T, {self.joints_num}, 3)")
        if motion.tokens.ndim != 2 or motion.tokens.shape[1] != self.vq.num_quantizers:
            raise ValueError(f"motion tokens must be (n, {self.vq.num_quantizers})")
        if int(motion.tokens[:, 0].max(initial=0)) >= self.vq.nb_code:
            raise ValueError("motion tokens do not belong to this model's codebook; "
                             "rebuild the motion with motion_from_joints")

    def _token_timeline(self, motion: Motion, n_tl: int) -> tuple[np.ndarray, np.ndarray]:
        """Motion tokens padded to ``n_tl`` slots; ``known`` marks slots with codes."""
        tok = np.zeros((n_tl, motion.tokens.shape[1]), dtype=np.int64)
        n = min(n_tl, motion.tokens.shape[0])
        tok[:n] = motion.tokens[:n]
        known = np.zeros(n_tl, dtype=bool)
        known[:n] = motion.tokens[:n, 0] >= 0
        return tok, known

    @staticmethod
    def _check_blend(blend) -> int:
        if isinstance(blend, bool) or not isinstance(blend, (int, np.integer)) or blend < 0:
            raise ValueError(f"blend must be a whole number of frames >= 0 (0 = hard cut), "
                             f"got {blend!r}")
        return int(blend)

    def _check_range(self, start, end, t: int) -> tuple[int, int]:
        for name, v in (("start", start), ("end", end)):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
                raise TypeError(f"{name} must be an integer frame index, got {v!r}")
        start, end = int(start), int(end)
        sec = self.timebase.frames_to_seconds
        if start > end:
            raise ValueError(f"the range {start}-{end} is reversed: the start frame must come "
                             "before the end frame")
        if start == end:
            raise ValueError(f"the range {start}-{end} is empty")
        if start < 0 or end > t:
            raise ValueError(f"the range {start}-{end} ({sec(start):g}-{sec(end):g} s) is "
                             f"outside the motion's frames 0-{t} ({sec(t):g} s)")
        if start == 0 and end == t:
            raise ValueError("the range covers the whole motion: generate a new motion instead")
        return start, end

    def inpaint(self, motion: Motion, start: int, end: int, text: str | None = None,
                seed: int = 0, *, options: SamplingOptions | None = None, text_embedding=None,
                blend: int = 4, progress: ProgressFn | None = None, plant_feet: bool = True,
                **overrides) -> Motion:
        """Regenerate frames [start, end) (at the model's fps) conditioned on the motion
        around them.

        Frames outside the range are returned unchanged (bit-identical); the new frames
        are aligned to the original at both boundaries (see :mod:`.editing`) and
        cross-faded over ``blend`` frames at each boundary (0 = hard cut).  ``text=None`` reuses the motion's own prompt
        (unconditional if it has none).  ``options`` / ``**overrides``: only ``cfg``,
        ``residual_cfg``, ``temperature`` and ``top_k`` apply to edits.  ``plant_feet``:
        plant the feet inside the range (faded out over ``blend`` frames at its edges; see
        :mod:`bamm_core.motion.delivery`), the unplanted result in ``Motion.raw_joints``.
        """
        opts = resolve_options(self.default_options, options, overrides, EDIT_FIELDS)
        self._check_motion(motion)
        blend = self._check_blend(blend)
        t = motion.num_frames
        start, end = self._check_range(start, end, t)
        tb = self.timebase
        tok, known_tok = self._token_timeline(motion, tb.tokens_for(t))
        ts, te = tb.token_range(start, end)
        keep = known_tok.copy()
        keep[ts:te] = False
        tl = _Timeline(tok, keep, 0, motion.joints.astype(np.float32), motion.features,
                       np.ones(t, dtype=bool))
        return self._edit(motion, tl, start, end, text=text, text_embedding=text_embedding,
                          seed=seed, options=opts, blend=blend, progress=progress,
                          plant_feet=plant_feet)

    def outpaint(self, motion: Motion, extend_before: int = 0, extend_after: int = 0,
                 text: str | None = None, seed: int = 0, *,
                 options: SamplingOptions | None = None, text_embedding=None, blend: int = 4,
                 progress: ProgressFn | None = None, plant_feet: bool = True,
                 **overrides) -> Motion:
        """Extend the motion by ``extend_before`` / ``extend_after`` frames (each at most
        ``timebase.max_extend_frames``).

        Original frames are kept exactly (shifted by ``extend_before``); the new frames
        continue from the adjacent original frame.  With both, the end is extended first.
        Sampling options and ``plant_feet`` (new frames only) as :meth:`inpaint`.
        """
        opts = resolve_options(self.default_options, options, overrides, EDIT_FIELDS)
        self._check_motion(motion)
        blend = self._check_blend(blend)
        tb = self.timebase
        for name, v in (("extend_before", extend_before), ("extend_after", extend_after)):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 0:
                raise ValueError(f"{name} must be an integer >= 0, got {v!r}")
            if v > tb.max_extend_frames:
                raise ValueError(f"{name}: can extend by at most {tb.max_extend_frames} frames "
                                 f"({tb.frames_to_seconds(tb.max_extend_frames):g} s) at once, "
                                 f"got {int(v)} frames ({tb.frames_to_seconds(v):g} s)")
        if extend_before == 0 and extend_after == 0:
            raise ValueError("nothing to do: extend_before and extend_after are both 0")
        kw = dict(text=text, text_embedding=text_embedding, seed=seed, options=opts,
                  blend=blend, progress=progress, plant_feet=plant_feet)
        fpt = tb.frames_per_token
        joints, feats, t = motion.joints, motion.features, motion.num_frames
        if extend_after:
            ext = int(extend_after)
            t_out = t + ext
            n_tl = tb.tokens_for(t_out)
            tok, known_tok = self._token_timeline(motion, n_tl)
            keep = known_tok & (np.arange(n_tl) < t // fpt)
            tl = _Timeline(tok, keep, 0,
                           np.concatenate([joints, np.zeros((ext, *joints.shape[1:]), np.float32)]),
                           np.concatenate([feats, np.zeros((ext, feats.shape[1]), np.float32)]),
                           np.arange(t_out) < t)
            motion = self._edit(motion, tl, t, t_out, **kw)
            if not extend_before:
                return motion
            joints, feats, t = motion.joints, motion.features, t_out
        ext = int(extend_before)
        m = tb.tokens_for(ext)
        shift = m * fpt - ext
        tok0, known0 = self._token_timeline(motion, tb.tokens_for(t))
        tl = _Timeline(np.concatenate([np.zeros((m, tok0.shape[1]), np.int64), tok0]),
                       np.concatenate([np.zeros(m, bool), known0]), shift,
                       np.concatenate([np.zeros((ext, *joints.shape[1:]), np.float32), joints]),
                       np.concatenate([np.zeros((ext, feats.shape[1]), np.float32), feats]),
                       np.arange(ext + t) >= ext)
        out = self._edit(motion, tl, 0, ext, **kw)
        out.info["token_frame_offset"] = -shift  # tokens start `shift` frames before frame 0
        return out


__all__ = ["EditAPI"]
