"""Change the frame rate of motion data (time is axis 0).

A clip of ``T`` frames at ``src_fps`` spans ``(T-1)/src_fps`` seconds; the resampled clip
keeps frame 0 and samples every ``1/dst_fps`` seconds up to that span, so it has
``floor((T-1) * dst_fps / src_fps) + 1`` frames (e.g. 30 -> 20 fps keeps every 1.5th frame).

* :func:`resample_positions` - positions or any real-valued channels, ``"linear"`` or
  ``"cubic"`` (Catmull-Rom, interpolating) interpolation;
* :func:`resample_quaternions` - unit quaternions ``(..., 4)`` by slerp (shortest path, with
  sign continuity fixed first).

Both accept numpy arrays (and return float arrays of the input's float dtype).
"""
from __future__ import annotations

import numpy as np

from .rotations import qfix, slerp


def resampled_times(num_frames: int, src_fps: float, dst_fps: float) -> np.ndarray:
    """Source-frame coordinates (float) of the output frames."""
    if src_fps <= 0 or dst_fps <= 0:
        raise ValueError(f"fps must be positive, got src={src_fps} dst={dst_fps}")
    if num_frames < 1:
        raise ValueError("cannot resample an empty clip")
    n_out = int(np.floor((num_frames - 1) * dst_fps / src_fps + 1e-9)) + 1
    t = np.arange(n_out, dtype=np.float64) * (src_fps / dst_fps)
    return np.minimum(t, num_frames - 1)


def _split(t: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    i0 = np.floor(t + 1e-9).astype(np.int64)
    i0 = np.clip(i0, 0, n - 1)
    frac = np.clip(t - i0, 0.0, 1.0)
    frac[np.abs(frac) < 1e-9] = 0.0
    return i0, frac


def resample_positions(x: np.ndarray, src_fps: float, dst_fps: float,
                       method: str = "linear") -> np.ndarray:
    """Resample ``x (T, ...)`` from ``src_fps`` to ``dst_fps`` along axis 0.

    ``method``: ``"linear"`` or ``"cubic"`` (Catmull-Rom through the samples: exact for
    polynomials of degree <= 2 away from the clip ends, exact for lines everywhere, and it
    passes through samples that coincide with output frames).  Returns the input's float
    dtype (float64 for integers); equal rates return a float64 copy.
    """
    x = np.asarray(x)
    dtype = x.dtype if np.issubdtype(x.dtype, np.floating) else np.float64
    t = resampled_times(x.shape[0], src_fps, dst_fps)
    if src_fps == dst_fps:  # nothing to interpolate: a copy, so callers never need a special case
        return np.array(x, dtype=np.float64)
    xf = x.astype(np.float64)
    T = xf.shape[0]
    i0, frac = _split(t, T)
    i1 = np.minimum(i0 + 1, T - 1)
    shape = (-1,) + (1,) * (xf.ndim - 1)
    f = frac.reshape(shape)
    if method == "linear":
        out = xf[i0] * (1.0 - f) + xf[i1] * f
    elif method == "cubic":
        im1 = np.maximum(i0 - 1, 0)
        i2 = np.minimum(i0 + 2, T - 1)
        p0, p1, p2, p3 = xf[im1], xf[i0], xf[i1], xf[i2]
        # extrapolate the missing neighbours at the ends linearly (keeps lines exact)
        at_start = (i0 == 0).reshape(shape)
        at_end = (i0 + 2 > T - 1).reshape(shape)
        p0 = np.where(at_start, 2 * p1 - p2, p0)
        p3 = np.where(at_end, 2 * p2 - p1, p3)
        f2, f3 = f * f, f * f * f
        out = 0.5 * ((2 * p1) + (-p0 + p2) * f + (2 * p0 - 5 * p1 + 4 * p2 - p3) * f2
                     + (-p0 + 3 * p1 - 3 * p2 + p3) * f3)
    else:
        raise ValueError(f"unknown method {method!r} (use 'linear' or 'cubic')")
    return out.astype(dtype)


def resample_quaternions(q: np.ndarray, src_fps: float, dst_fps: float) -> np.ndarray:
    """Resample unit quaternions ``q (T, ..., 4)`` by slerp between neighbouring frames."""
    q = np.asarray(q)
    if q.shape[-1] != 4:
        raise ValueError(f"quaternions must have a last axis of 4, got {q.shape}")
    dtype = q.dtype if np.issubdtype(q.dtype, np.floating) else np.float64
    qf = qfix(q.astype(np.float64))
    T = qf.shape[0]
    t = resampled_times(T, src_fps, dst_fps)
    i0, frac = _split(t, T)
    i1 = np.minimum(i0 + 1, T - 1)
    f = np.broadcast_to(frac.reshape((-1,) + (1,) * (qf.ndim - 2)), qf[i0].shape[:-1])
    return slerp(qf[i0], qf[i1], f).astype(dtype)


__all__ = ["resample_positions", "resample_quaternions", "resampled_times"]
