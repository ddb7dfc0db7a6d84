"""Classifier input from joints: the body seen from its first frame's facing, plus the arms.

Joints ``(T, 22, 3)`` (metres, Y up) are turned about Y so the first frame faces +Z.  Each
frame gives (``VERSION`` 2):

* ``pose`` - the joints relative to the root's ground position (66 values) and the root's
  velocity (3 values, m/s); sides and turns stay visible (nothing is re-aligned per frame);
* ``motion`` - every joint's velocity relative to the root (66 values, m/s);
* ``arms`` - elbows and wrists relative to their own shoulder in the frame's own facing
  (12 values) and the wrists' velocities there (6 values): a gesture looks the same
  whichever way the body turned;
* ``hands`` - side-free summaries of the two hands (8 values): the higher and the lower
  wrist's height above its shoulder, the faster and the slower wrist's speed, how far the
  two wrists are from mirror images of each other, their height difference, how mirror-alike
  their velocities are (1 = both hands move as mirror images) and how far forward the more
  forward hand reaches;
* ``active arm`` - the arm whose wrist moves most over the clip, seen as a right arm (a left
  one mirrored): its elbow and wrist relative to the shoulder, the wrist's velocity, the other
  wrist, and how straight the arm is (shoulder-wrist distance over the arm's length) (13
  values): one-handed gestures of either hand (bye, guide) look alike.

Clips are cropped or edge-padded to ``FRAMES`` frames.
"""
from __future__ import annotations

import numpy as np

from bamm_core.motion.facing import facing_yaw, rotate_about_y

FRAMES = 120          # 6 s at 20 fps
VERSION = 2
DIM = 66 + 3 + 66 + 12 + 6 + 8 + 13

L_SHOULDER, R_SHOULDER, L_ELBOW, R_ELBOW, L_WRIST, R_WRIST = 16, 17, 18, 19, 20, 21
MIRROR = np.array([-1.0, 1.0, 1.0])   # the performer's left is +X


def canonical(joints: np.ndarray) -> np.ndarray:
    """Joints turned so frame 0 faces +Z, its root over the origin."""
    j = np.asarray(joints, dtype=np.float64)
    if j.ndim != 3 or j.shape[1:] != (22, 3):
        raise ValueError(f"joints must be (T, 22, 3), got {j.shape}")
    j = j - np.array([j[0, 0, 0], 0.0, j[0, 0, 2]])
    return rotate_about_y(j, -facing_yaw(j[0]))


def _velocity(x: np.ndarray, fps: float) -> np.ndarray:
    """Time derivative along axis 0 (zeros for a one-frame clip)."""
    return np.gradient(x, axis=0) * fps if len(x) > 1 else np.zeros_like(x)


def _arms(j: np.ndarray) -> np.ndarray:
    """(T, 4, 3) elbows and wrists relative to their shoulder, in each frame's own facing."""
    local = rotate_about_y(j, -facing_yaw(j), pivot=j[:, 0])
    shoulder = local[:, [L_SHOULDER, R_SHOULDER, L_SHOULDER, R_SHOULDER]]
    return local[:, [L_ELBOW, R_ELBOW, L_WRIST, R_WRIST]] - shoulder


def _hands(wrists: np.ndarray, wrist_vel: np.ndarray) -> np.ndarray:
    """(T, 8) side-free summaries of the two wrists (relative to their shoulders)."""
    left, right = wrists[:, 0], wrists[:, 1]
    heights = np.stack([left[:, 1], right[:, 1]], 1)
    speeds = np.linalg.norm(wrist_vel, axis=-1)
    mirrored = wrist_vel[:, 1] * MIRROR
    dot = (wrist_vel[:, 0] * mirrored).sum(-1)
    alike = dot / np.maximum(speeds[:, 0] * speeds[:, 1], 0.05)
    return np.stack([heights.max(1), heights.min(1), speeds.max(1), speeds.min(1),
                     np.linalg.norm(left - right * MIRROR, axis=-1),
                     np.abs(left[:, 1] - right[:, 1]), np.clip(alike, -1, 1),
                     np.maximum(left[:, 2], right[:, 2])], 1)


def _active_arm(arms: np.ndarray, wrist_vel: np.ndarray) -> np.ndarray:
    """(T, 13) the most moving arm as a right arm (see the module doc)."""
    side = int(np.argmax(np.linalg.norm(wrist_vel, axis=-1).sum(0)))   # 0 left, 1 right
    flip = MIRROR if side == 0 else np.ones(3)
    elbow, wrist = arms[:, side] * flip, arms[:, 2 + side] * flip
    other = arms[:, 3 - side] * flip
    reach = np.linalg.norm(wrist, axis=-1)
    length = np.linalg.norm(elbow, axis=-1) + np.linalg.norm(wrist - elbow, axis=-1)
    straight = reach / np.maximum(length, 1e-6)
    return np.concatenate([elbow, wrist, wrist_vel[:, side] * flip, other, straight[:, None]], 1)


def joint_features(joints: np.ndarray, fps: float = 20.0) -> np.ndarray:
    """(T, DIM) float32 features of a clip."""
    j = canonical(joints)
    root = j[:, 0]
    rel = j - np.stack([root[:, 0], np.zeros(len(j)), root[:, 2]], -1)[:, None]
    arms = _arms(j)
    wrist_vel = _velocity(arms[:, 2:], fps)
    parts = [rel.reshape(len(j), -1), _velocity(root, fps),
             _velocity(rel, fps).reshape(len(j), -1), arms.reshape(len(j), -1),
             wrist_vel.reshape(len(j), -1), _hands(arms[:, 2:], wrist_vel),
             _active_arm(arms, wrist_vel)]
    return np.concatenate(parts, 1).astype(np.float32)


def fit_length(x: np.ndarray, frames: int = FRAMES, start: int | None = None) -> np.ndarray:
    """Crop ``x`` (T, D) to ``frames`` rows (centred unless ``start``) or pad with its last row."""
    t = len(x)
    if t >= frames:
        s = (t - frames) // 2 if start is None else min(start, t - frames)
        return x[s:s + frames]
    return np.concatenate([x, np.repeat(x[-1:], frames - t, 0)], 0)


__all__ = ["FRAMES", "DIM", "VERSION", "canonical", "joint_features", "fit_length"]
