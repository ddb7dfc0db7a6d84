"""Foot planting: feet that stay put while they are on the floor.

During each contact span of a foot (labels from :mod:`bamm_core.motion.contacts`) its ankle
and toe are pinned at one place on the floor: the span's median ankle and toe positions
(where the foot rests; the median halves the correction a sliding foot needs compared to
pinning at the landing frame).  The leg reaches the pin with two-bone IK
(:func:`~bamm_core.motion.leg_ik.two_bone_ik`: the hip stays, thigh and shin keep their
lengths, the knee stays in the leg's bending plane), and the toe keeps its distance from the
ankle.  Around each span the pin is blended in and released over ``release_frames`` frames
along :func:`~bamm_core.motion.blending.edge_weights`' smoothstep ramp.  Only knees, ankles
and toes move: the root path, the hips and the upper body are untouched.
"""
from __future__ import annotations

import numpy as np

from .blending import edge_weights
from .contacts import runs
from .leg_ik import two_bone_ik
from .skeleton import HUMANML3D

#: (hip, knee, ankle, toe) of the left and right leg (HumanML3D / SMPL-22).
LEGS: tuple[tuple[int, int, int, int], ...] = ((1, 4, 7, 10), (2, 5, 8, 11))
#: Release time of a pin (seconds): ``release_frames`` default = round(this x fps), >= 1.
RELEASE_SECONDS = 0.2


def default_release_frames(fps: float) -> int:
    return max(1, int(round(RELEASE_SECONDS * float(fps))))


def pin_offsets(points: np.ndarray, contact: np.ndarray, release: int) -> np.ndarray:
    """(T, 3) offsets that move (T, 3) ``points`` onto their pins: within each contact span
    the pin (the span's median position) minus the point, ramped in and out over
    ``release`` frames on each side; overlapping ramps are averaged by weight."""
    t = points.shape[0]
    num = np.zeros_like(points)
    den = np.zeros(t)
    for s, e in runs(contact):
        pin = np.median(points[s:e], axis=0)
        a, b = s - release, e + release
        w = edge_weights(b - a, release)[max(0, -a): (b - a) - max(0, b - t)]
        lo, hi = max(0, a), min(t, b)
        num[lo:hi] += w[:, None] * (pin - points[lo:hi])
        den[lo:hi] += w
    return num / np.maximum(den, 1.0)[:, None]


def plant_feet(joints, contacts, fps: float, *, release_frames: int | None = None) -> np.ndarray:
    """Joints ``(T, 22, 3)`` with the feet planted during ``contacts`` ((T, 2) bool, left and
    right foot); same dtype as the input.  ``release_frames``: frames over which a pin is
    blended in before a contact and released after it (default 0.2 s at ``fps``; 0 = hard).
    """
    x = np.asarray(joints)
    if x.ndim != 3 or x.shape[1] != HUMANML3D.num_joints or x.shape[2] != 3:
        raise ValueError(f"joints must be (T, 22, 3), got {x.shape}")
    c = np.asarray(contacts, dtype=bool)
    if c.shape != (x.shape[0], 2):
        raise ValueError(f"contacts must be ({x.shape[0]}, 2) (left, right foot), got {c.shape}")
    r = default_release_frames(fps) if release_frames is None else int(release_frames)
    if r < 0:
        raise ValueError(f"release_frames must be >= 0, got {release_frames!r}")
    j = x.astype(np.float64)
    out = j.copy()
    for side, (hip, knee, ankle, toe) in enumerate(LEGS):
        if not c[:, side].any():
            continue
        target_ankle = j[:, ankle] + pin_offsets(j[:, ankle], c[:, side], r)
        target_toe = j[:, toe] + pin_offsets(j[:, toe], c[:, side], r)
        moved = np.linalg.norm(target_ankle - j[:, ankle], axis=-1) > 0
        new_knee, new_ankle = two_bone_ik(j[:, hip], j[:, knee], j[:, ankle], target_ankle)
        foot = np.linalg.norm(j[:, toe] - j[:, ankle], axis=-1, keepdims=True)
        d = target_toe - new_ankle
        new_toe = new_ankle + d / np.maximum(np.linalg.norm(d, axis=-1, keepdims=True), 1e-9) * foot
        m = moved[:, None]
        out[:, knee] = np.where(m, new_knee, j[:, knee])
        out[:, ankle] = np.where(m, new_ankle, j[:, ankle])
        out[:, toe] = np.where(m, new_toe, j[:, toe])
    return out.astype(x.dtype) if np.issubdtype(x.dtype, np.floating) else out


__all__ = ["plant_feet", "pin_offsets", "default_release_frames", "LEGS"]
