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

Frame <-> token conversion comes from the model's :class:`~bamm_core.motion.timebase.Timebase`
(HumanML3D: 4 frames per token at 20 fps): a frame range [start, end) regenerates the tokens
``Timebase.token_range(start, end)``.  A model window holds ``Timebase.max_tokens`` tokens
(49 = 196 frames); longer motions are edited on a window around the range (context beyond
the window is not seen by the model).
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import torch
from torch import Tensor

from ..model.residual_transformer import ResidualTransformer
from ..model.transformer import BAMMTransformer
from ..motion.blending import edge_weights
from ..motion.facing import facing_yaw, rotate_about_y, wrap_angle
from ..motion.timebase import Timebase
from .decoding import refinement_round, residual_layers
from .options import SamplingOptions


def choose_window(n_tokens: int, ts: int, te: int, timebase: Timebase) -> tuple[int, int]:
    """A window [w0, w1) of at most ``timebase.max_tokens`` tokens containing [ts, te)
    with as much context on both sides as fits (centred)."""
    max_tokens, fpt = timebase.max_tokens, timebase.frames_per_token
    if te - ts > max_tokens - (1 if 0 < ts or te < n_tokens else 0):
        raise ValueError(
            f"the edited range spans {te - ts} tokens ({(te - ts) * fpt} frames); at most "
            f"{max_tokens - 1} tokens ({(max_tokens - 1) * fpt} frames) can be regenerated "
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
                cond: Tensor, options: SamplingOptions,
                generator: torch.Generator | None = None, *, max_tokens: int,
                progress: Callable[[], None] | None = None) -> Tensor:
    """Regenerate the tokens where ``keep`` is False.

    Args:
        tokens: (n, Q) int64 codes of a window (n <= max_tokens, the model's window); -1
            allowed in kept tokens' upper layers only (layer 0 must be a code where kept).
        keep: (n,) bool, tokens to keep exactly.
        cond: (1, D) text embedding (zeros = unconditional).
        options: uses ``cfg`` (guidance of the bidirectional pass), ``residual_cfg``,
            ``temperature`` and ``top_k``; the refinement fields do not apply to edits.
    Returns:
        (n, Q) int64 with ``out[keep] == tokens[keep]``.
    """
    n, nq = tokens.shape
    if n < 1 or n > max_tokens:
        raise ValueError(f"a window holds 1..{max_tokens} tokens, got {n}")
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
    new0, _ = refinement_round(mt, cond, ids, lengths, regen, options.cfg, options.temperature,
                               options.top_k, generator, progress=progress)
    all_ids = residual_layers(rt, new0, lengths, cond, options.residual_cfg,
                              options.temperature, 0.9, generator, progress)[0, :n, :nq]
    return torch.where(keep[:, None], tokens, all_ids)


# ----------------------------------------------------------------------------- frame level
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
    d_yaw = wrap_angle(yaw_b[anchor] - yaw_g[anchor])
    pivot = g[anchor, 0] * np.array([1.0, 0.0, 1.0])
    g = rotate_about_y(g, d_yaw, np.broadcast_to(pivot, (t_total, 3)))
    g[..., [0, 2]] += (base[anchor, 0, [0, 2]] - g[anchor, 0, [0, 2]])
    # distribute the mismatch at the second anchor linearly over the range
    if a is not None and b is not None:
        yaw_g2 = facing_yaw(g)
        e_yaw = wrap_angle(yaw_b[b] - yaw_g2[b])
        frames = np.arange(start, end)
        w = (frames - a) / float(b - a)
        roots = g[frames, 0] * np.array([1.0, 0.0, 1.0])
        g[frames] = rotate_about_y(g[frames], w * e_yaw, roots)
        # position error after rotating frame b about its own root (yaw only moves limbs)
        e_pos = base[b, 0, [0, 2]] - g[b, 0, [0, 2]]
        g[frames, :, 0] += (w * e_pos[0])[:, None]
        g[frames, :, 2] += (w * e_pos[1])[:, None]
    # cross-fade at the attached boundaries
    alphas = edge_weights(end - start, blend, at_start=a is not None, at_end=b is not None)
    for t, alpha in zip(range(start, end), alphas.tolist()):
        if known[t]:
            ref = base[t]
        else:  # outpainting: hold the nearest original frame
            ref = base[a] if a is not None and (b is None or t - a <= b - t) else base[b]
        out[t] = ((1 - alpha) * ref + alpha * g[t]).astype(base.dtype)
    return out


__all__ = ["choose_window", "edit_tokens", "splice_joints"]
