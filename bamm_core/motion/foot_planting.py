"""Foot planting: feet that stay put while they are on the floor.

During each contact span of a foot (labels from :mod:`bamm_core.motion.contacts`) its ankle
and toe are pinned at one place on the floor: the span's median ankle and toe positions
(where the foot rests; the median halves the correction a sliding foot needs compared to
pinning at the landing frame).  The leg reaches the pin with two-bone IK
(:func:`~bamm_core.motion.leg_ik.two_bone_ik`: the hip stays, thigh and shin keep their
lengths, the knee stays in the leg's bending plane, with a soft reach while pinned so a leg
that straightens does not snap its knee), and the toe keeps its distance from the ankle.  Around each span the pin is blended in and released over ``release_frames`` frames
along :func:`~bamm_core.motion.blending.edge_weights`' smoothstep ramp.  Only knees, ankles
and toes move: the root path, the hips and the upper body are untouched.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

from .blending import edge_weights
from .contacts import runs
from .leg_ik import two_bone_ik
from .skeleton import HUMANML3D

#: (hip, knee, ankle, toe) of the left and right leg (HumanML3D / SMPL-22).
LEGS: tuple[tuple[int, int, int, int], ...] = ((1, 4, 7, 10), (2, 5, 8, 11))
#: Release time of a pin (seconds): ``release_frames`` default = round(this x fps), >= 1.
RELEASE_SECONDS = 0.5
#: Soft reach of the leg IK while a pin holds fully (scaled by the pin's weight, so a free
#: leg is untouched): the last 6 % of the leg's reach are approached smoothly.
SOFT_REACH = 0.06
#: The knee bends towards a point this far (m) in front of the predicted knee (the body's
#: facing from the hip line): the predicted knee's own plane when the leg is bent, forward
#: when it is nearly straight (a straight leg's plane is noise, and would flip the knee).
POLE_LEAD = 0.1


def default_release_frames(fps: float) -> int:
    return max(1, int(round(RELEASE_SECONDS * float(fps))))


@lru_cache(maxsize=64)
def _ramp(n: int, rising: bool) -> np.ndarray:
    """(n,) read-only weights of a pin blended in over the ``n`` frames before a contact
    (``rising``) or released over the ``n`` frames after it (:func:`edge_weights`)."""
    w = edge_weights(n, n, at_start=rising, at_end=not rising)
    w.flags.writeable = False
    return w


def _median(points: np.ndarray) -> np.ndarray:
    """``np.median(points, axis=0)`` of ``(n, ...)`` points, n >= 1 (the same values, without
    its per-call overhead): the middle order statistic, or the mean of the middle two."""
    h = points.shape[0] // 2
    if points.shape[0] % 2:
        return np.partition(points, h, axis=0)[h]
    part = np.partition(points, (h - 1, h), axis=0)
    return (part[h - 1] + part[h]) / 2


def _lifted(d: np.ndarray) -> np.ndarray:
    """``d`` (a fresh array, changed in place) with a negative vertical part set to 0: a
    foot is raised onto its pin, never pushed down."""
    np.maximum(d[..., 1], 0.0, out=d[..., 1])
    return d


def pin_offsets(points: np.ndarray, contact: np.ndarray, release: int,
                return_weights: bool = False):
    """(T, ..., 3) offsets that move (T, ..., 3) ``points`` (e.g. a foot's ankle and toe,
    ``(T, 2, 3)``) onto their pins.

    Within a contact span: the pin (the span's median position) minus the point, except
    that the vertical offset is never negative (a foot is lifted onto its pin, never pushed
    down: the heel may rise during the contact, and the swing is never lowered).  Over the
    ``release`` frames before and after a span (never past the neighbouring span of the same
    foot) the correction at the span's edge is carried and faded along
    :func:`~bamm_core.motion.blending.edge_weights`, so the foot keeps its own swing and the
    catch-up is spread over the ramp; where the ramps of two spans meet they are averaged by
    weight (a gap of at most ``release`` frames is a smooth interpolation between the two
    corrections).  ``return_weights``: also return the (T,) pin weights (1 in contacts,
    0 where the point is free)."""
    t = points.shape[0]
    spans = runs(contact)
    num = np.zeros_like(points)
    den = np.zeros(t)
    per_frame = (slice(None),) + (None,) * (points.ndim - 1)   # (T,) weights -> (T, 1, .., 1)
    for k, (s, e) in enumerate(spans):
        pin = _median(points[s:e])
        num[s:e] = _lifted(pin - points[s:e])
        den[s:e] = 1.0
        before = min(release, s - (spans[k - 1][1] if k else 0))
        after = min(release, (spans[k + 1][0] if k + 1 < len(spans) else t) - e)
        if before:
            w = _ramp(before, True)
            num[s - before:s] += w[per_frame] * _lifted(pin - points[s])
            den[s - before:s] += w
        if after:
            w = _ramp(after, False)
            num[e:e + after] += w[per_frame] * _lifted(pin - points[e - 1])
            den[e:e + after] += w
    out = num / np.maximum(den, 1.0)[per_frame]
    return (out, np.minimum(den, 1.0)) if return_weights else out


def plant_feet(joints, contacts, fps: float, *, release_frames: int | None = None) -> np.ndarray:
    """Joints ``(T, 22, 3)`` with the feet planted during ``contacts`` ((T, 2) bool, left and
    right foot); same dtype as the input.  ``release_frames``: frames over which a pin is
    blended in before a contact and released after it (default 0.5 s at ``fps``, never past the
    foot's neighbouring contact; 0 = hard).  Both legs are solved at once.
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
    sides = [side for side in range(len(LEGS)) if c[:, side].any()]
    if sides:
        _plant_legs(j, out, c, sides, r)
    return out.astype(x.dtype) if np.issubdtype(x.dtype, np.floating) else out


def _plant_legs(j: np.ndarray, out: np.ndarray, c: np.ndarray, sides: list[int], r: int) -> None:
    """Write into ``out`` the knees, ankles and toes of the legs ``sides`` of joints ``j``
    ``(T, 22, 3)`` planted during contacts ``c`` (T, 2); all legs in one IK solve."""
    hip, knee, ankle, toe = (list(idx) for idx in zip(*(LEGS[side] for side in sides)))
    across = j[:, 1] - j[:, 2]                     # right hip -> left hip
    forward = np.cross(across, [0.0, 1.0, 0.0])
    forward /= np.maximum(np.linalg.norm(forward, axis=-1, keepdims=True), 1e-9)
    offsets, weights = zip(*(pin_offsets(j[:, [a, b]], c[:, side], r, return_weights=True)
                             for side, a, b in zip(sides, ankle, toe)))
    offset = np.stack(offsets, axis=1)             # (T, legs, ankle / toe, 3)
    target_ankle = j[:, ankle] + offset[:, :, 0]
    target_toe = j[:, toe] + offset[:, :, 1]
    moved = np.linalg.norm(target_ankle - j[:, ankle], axis=-1) > 0
    new_knee, new_ankle = two_bone_ik(j[:, hip], j[:, knee], j[:, ankle], target_ankle,
                                      pole=j[:, knee] + POLE_LEAD * forward[:, None],
                                      soft=SOFT_REACH * np.stack(weights, axis=1))
    foot = np.linalg.norm(j[:, toe] - j[:, ankle], axis=-1, keepdims=True)
    d = target_toe - new_ankle
    new_toe = new_ankle + d / np.maximum(np.linalg.norm(d, axis=-1, keepdims=True), 1e-9) * foot
    m = moved[..., None]
    out[:, knee] = np.where(m, new_knee, j[:, knee])
    out[:, ankle] = np.where(m, new_ankle, j[:, ankle])
    out[:, toe] = np.where(m, new_toe, j[:, toe])


__all__ = ["plant_feet", "pin_offsets", "default_release_frames", "LEGS"]
