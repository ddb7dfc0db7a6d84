"""Classifier input from joints: the body seen from its first frame's facing.

Joints ``(T, 22, 3)`` (metres, Y up) are turned about Y so the first frame faces +Z; each
frame gives its joints relative to the root's ground position (66 values) and the root's
velocity in that frame (3 values, m/s).  Sides and turns stay visible (nothing is
re-aligned per frame).  Clips are cropped or edge-padded to ``FRAMES`` frames.
"""
from __future__ import annotations

import numpy as np

from bamm_core.motion.facing import facing_yaw, rotate_about_y

FRAMES = 120          # 6 s at 20 fps
DIM = 22 * 3 + 3


def canonical(joints: np.ndarray) -> np.ndarray:
    """Joints turned so frame 0 faces +Z, its root over the origin."""
    j = np.asarray(joints, dtype=np.float64)
    if j.ndim != 3 or j.shape[1:] != (22, 3):
        raise ValueError(f"joints must be (T, 22, 3), got {j.shape}")
    j = j - np.array([j[0, 0, 0], 0.0, j[0, 0, 2]])
    return rotate_about_y(j, -facing_yaw(j[0]))


def joint_features(joints: np.ndarray, fps: float = 20.0) -> np.ndarray:
    """(T, DIM) float32 features of a clip."""
    j = canonical(joints)
    root = j[:, 0]
    rel = j - np.stack([root[:, 0], np.zeros(len(j)), root[:, 2]], -1)[:, None]
    vel = np.gradient(root, axis=0) * fps if len(j) > 1 else np.zeros_like(root)
    return np.concatenate([rel.reshape(len(j), -1), vel], 1).astype(np.float32)


def fit_length(x: np.ndarray, frames: int = FRAMES, start: int | None = None) -> np.ndarray:
    """Crop ``x`` (T, D) to ``frames`` rows (centred unless ``start``) or pad with its last row."""
    t = len(x)
    if t >= frames:
        s = (t - frames) // 2 if start is None else min(start, t - frames)
        return x[s:s + frames]
    return np.concatenate([x, np.repeat(x[-1:], frames - t, 0)], 0)


__all__ = ["FRAMES", "DIM", "canonical", "joint_features", "fit_length"]
