"""Blend weights: one smoothstep and one edge ramp for every cross-fade.

:func:`edge_weights` gives the weight of *new* frames next to kept ones (a regenerated range
inside a motion, or frames added before/after it): the first ``blend`` frames at each attached
edge rise along a smoothstep from the kept motion towards the new one, the rest are 1.
``blend=0`` is a hard cut (all ones).

>>> edge_weights(6, 2).round(3).tolist()
[0.259, 0.741, 1.0, 1.0, 0.741, 0.259]
>>> edge_weights(4, 0).tolist()
[1.0, 1.0, 1.0, 1.0]
"""
from __future__ import annotations

import numpy as np


def smoothstep(x: np.ndarray | float, lo: float = 0.0, hi: float = 1.0) -> np.ndarray:
    """``3t^2 - 2t^3`` of ``t = (x - lo) / (hi - lo)`` clipped to [0, 1]."""
    x = np.asarray(x, dtype=np.float64)
    t = x if (lo, hi) == (0.0, 1.0) else (x - lo) / (hi - lo)
    t = np.clip(t, 0.0, 1.0)
    return t * t * (3 - 2 * t)


def edge_weights(n: int, blend: int, at_start: bool = True, at_end: bool = True) -> np.ndarray:
    """(n,) weights of the new motion over ``n`` new frames.

    ``at_start`` / ``at_end``: the frame before / after them is kept (an inpainted range has
    both, frames appended after a motion only ``at_start``).  Frame ``k`` frames from an
    attached edge gets ``smoothstep((k + 1) / (blend + 1))``, so ``blend`` frames are mixed
    on that side and ``blend=0`` is a hard cut.
    """
    n, blend = int(n), int(blend)
    if n < 0 or blend < 0:
        raise ValueError(f"frame count and blend must be >= 0, got n={n}, blend={blend}")
    i = np.arange(n, dtype=np.float64)
    d = np.full(n, np.inf)
    if at_start:
        d = np.minimum(d, i)
    if at_end:
        d = np.minimum(d, n - 1 - i)
    return smoothstep(np.minimum((d + 1) / (blend + 1), 1.0))


__all__ = ["smoothstep", "edge_weights"]
