"""Motion editing with BAMM: inpainting and outpainting (paper §4.3 / "motion editing").

Token level (:func:`edit_tokens`): the tokens to keep are the visible set U of the
bidirectional mask (with [END]); the others are sampled autoregressively in slot order,
each seeing the kept tokens before *and after* it, with the text as condition (the
official editing path is broken, SPEC §5.5/§9; this is the intended behaviour).  The
residual layers are then sampled for the whole window and the kept tokens' six layers are
restored, so every token outside the region is kept exactly.

Frame level (:func:`splice_joints`): frames outside the edited range are returned
untouched; inside, the generated motion is placed rigidly (yaw about +Y and translation) so
that it continues from the frame before the range; if the range also has a frame after
it, the remaining root position / heading mismatch there is distributed linearly over the
range; and the first/last ``blend`` frames cross-fade from the original (or the held
boundary pose, for outpainting) so that the poses join without a pop.

Frame <-> token conversion: 4 frames per token at 20 fps.  A frame range [start, end)
regenerates tokens ``start // 4 .. ceil(end / 4) - 1``.  A model window holds 49 tokens
(196 frames); longer motions are edited on a 49-token window around the range (context
beyond the window is not seen by the model).
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import torch
from torch import Tensor

from .decoding import MAX_TOKENS, refinement_round, residual_layers
from ..model.residual_transformer import ResidualTransformer
from ..model.transformer import BAMMTransformer

UNIT = 4  # frames per token


def frames_to_tokens(start: int, end: int, unit: int = UNIT) -> tuple[int, int]:
    """Frame range [start, end) -> covering token range [ts, te)."""
    return start // unit, -(-end // unit)


def choose_window(n_tokens: int, ts: int, te: int, max_tokens: int = MAX_TOKENS
                  ) -> tuple[int, int]:
    """A window [w0, w1) of at most ``max_tokens`` tokens containing [ts, te) with as
    much context on both sides as fits (centred)."""
    if te - ts > max_tokens - (1 if 0 < ts or te < n_tokens else 0):
        raise ValueError(
            f"the edited range spans {te - ts} tokens ({(te - ts) * UNIT} frames); at most "
            f"{max_tokens - 1} tokens ({(max_tokens - 1) * UNIT} frames) can be regenerated "
            "with context at once — edit it in smaller pieces")
    if n_tokens <= max_tokens:
        return 0, n_tokens
    spare = max_tokens - (te - ts)
    w0 = max(0, ts - spare // 2)
    w1 = min(n_tokens, w0 + max_tokens)
    w0 = max(0, w1 - max_tokens)
    return w0, w1


@torch.inference_mode()
def edit_tokens(mt: BAMMTransformer, rt: ResidualTransformer, tokens: Tensor, keep: Tensor,
                cond: Tensor, cfg: float = 4.0, residual_cfg: float = 5.0,
                temperature: float = 1.0, top_k: int | None = None,
                generator: torch.Generator | None = None,
                progress: Callable[[], None] | None = None) -> Tensor:
    """Regenerate the tokens where ``keep`` is False.

    Args:
        tokens: (n, Q) int64 codes of a window (n <= 49); -1 allowed in kept tokens' upper
            layers only (layer 0 must be a code where kept).
        keep: (n,) bool, tokens to keep exactly.
        cond: (1, D) text embedding (zeros = unconditional).
    Returns:
        (n, Q) int64 with ``out[keep] == tokens[keep]``.
    """
    n, nq = tokens.shape
    if n < 1 or n > MAX_TOKENS:
        raise ValueError(f"a window holds 1..{MAX_TOKENS} tokens, got {n}")
    dev = tokens.device
    slots = n + 1  # tokens + [END]; later slots would be invisible padding
    ids = torch.full((1, slots), mt.pad_id, dtype=torch.long, device=dev)
    layer0 = tokens[:, 0].clone()
    layer0[~keep] = 0  # placeholder, never visible
    ids[0, :n] = layer0
    ids[0, n] = mt.end_id
    lengths = torch.tensor([n], device=dev)
    regen = torch.zeros(1, slots, dtype=torch.bool, device=dev)
    regen[0, :n] = ~keep
    new0, _ = refinement_round(mt, cond, ids, lengths, regen, cfg, temperature, top_k,
                               generator, progress=progress)
    all_ids = residual_layers(rt, new0, lengths, cond, residual_cfg, temperature,
                              0.9, generator, progress)[0, :n, :nq]
    return torch.where(keep[:, None], tokens, all_ids)


# ----------------------------------------------------------------------------- frame level
def facing_yaw(joints: np.ndarray, face_joints: tuple[int, int, int, int] = (2, 1, 17, 16)
               ) -> np.ndarray:
    """(T, J, 3) -> (T,) heading angle about +Y (radians; 0 = facing +Z)."""
    r_hip, l_hip, r_sh, l_sh = face_joints
    across = (joints[:, r_hip] - joints[:, l_hip]) + (joints[:, r_sh] - joints[:, l_sh])
    fwd_x, fwd_z = -across[:, 2], across[:, 0]  # Y x across
    return np.arctan2(fwd_x, fwd_z)


def _rot_y(points: np.ndarray, angle: np.ndarray | float, pivot: np.ndarray) -> np.ndarray:
    """Rotate (..., J, 3) points about +Y by ``angle`` (per frame) around ``pivot`` (..., 3)."""
    c, s = np.cos(angle), np.sin(angle)
    c, s = np.asarray(c)[..., None], np.asarray(s)[..., None]
    p = points - pivot[..., None, :]
    x = c * p[..., 0] + s * p[..., 2]
    z = -s * p[..., 0] + c * p[..., 2]
    return np.stack([x, p[..., 1], z], -1) + pivot[..., None, :]


def _wrap(a: np.ndarray | float) -> np.ndarray | float:
    return (a + np.pi) % (2 * np.pi) - np.pi


def splice_joints(base: np.ndarray, known: np.ndarray, gen: np.ndarray, start: int, end: int,
                  blend: int = 4) -> np.ndarray:
    """Put generated frames ``gen[start:end]`` into ``base`` seamlessly.

    Args:
        base: (T, J, 3) output timeline; frames where ``known`` is False are placeholders.
        known: (T,) bool, frames of the original motion.
        gen: (T, J, 3) generated motion on the same timeline (any placement/heading);
            frames ``start-1`` and ``end`` (when inside the timeline) must be meaningful.
        start, end: the edited range [start, end).
        blend: cross-fade length in frames at each attached boundary.
    Returns:
        (T, J, 3): ``base`` outside [start, end) (bit-identical), aligned generated motion
        inside.
    """
    t_total = base.shape[0]
    out = base.copy()
    a = start - 1 if start > 0 and known[start - 1] else None
    b = end if end < t_total and known[end] else None
    if a is None and b is None:
        raise ValueError("an edit needs at least one original frame next to the range")
    g = gen.astype(np.float64)
    yaw_b, yaw_g = facing_yaw(base.astype(np.float64)), facing_yaw(g)
    # floor: generated floor onto the original's
    g = g.copy()
    g[..., 1] += base[known][..., 1].min() - g[..., 1].min()
    # rigid placement at the first anchor
    anchor = a if a is not None else b
    d_yaw = _wrap(yaw_b[anchor] - yaw_g[anchor])
    pivot = g[anchor, 0] * np.array([1.0, 0.0, 1.0])
    g = _rot_y(g, d_yaw, np.broadcast_to(pivot, (t_total, 3)))
    g[..., [0, 2]] += (base[anchor, 0, [0, 2]] - g[anchor, 0, [0, 2]])
    # distribute the mismatch at the second anchor linearly over the range
    if a is not None and b is not None:
        yaw_g2 = facing_yaw(g)
        e_yaw = _wrap(yaw_b[b] - yaw_g2[b])
        frames = np.arange(start, end)
        w = (frames - a) / float(b - a)
        roots = g[frames, 0] * np.array([1.0, 0.0, 1.0])
        g[frames] = _rot_y(g[frames], w * e_yaw, roots)
        # position error after rotating frame b about its own root (yaw only moves limbs)
        e_pos = base[b, 0, [0, 2]] - g[b, 0, [0, 2]]
        g[frames, :, 0] += (w * e_pos[0])[:, None]
        g[frames, :, 2] += (w * e_pos[1])[:, None]
    # cross-fade at the attached boundaries
    for t in range(start, end):
        alpha = 1.0
        if a is not None:
            alpha = min(alpha, (t - start + 1) / (blend + 1))
        if b is not None:
            alpha = min(alpha, (end - t) / (blend + 1))
        alpha = alpha * alpha * (3 - 2 * alpha)  # smoothstep
        if known[t]:
            ref = base[t]
        else:  # outpainting: hold the nearest original frame
            ref = base[a] if a is not None and (b is None or t - a <= b - t) else base[b]
        out[t] = ((1 - alpha) * ref + alpha * g[t]).astype(base.dtype)
    return out


def token_window_frames(w0: int, w1: int) -> tuple[int, int]:
    """Frames [f0, f1) decoded from tokens [w0, w1)."""
    return w0 * UNIT, w1 * UNIT


def ceil_div(a: int, b: int) -> int:
    return -(-a // b)


__all__ = ["frames_to_tokens", "choose_window", "edit_tokens", "splice_joints", "facing_yaw",
           "ceil_div", "UNIT"]
