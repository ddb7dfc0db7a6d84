"""Two-bone IK (hip - knee - ankle), vectorised over frames.

The hip stays where it is, both bone lengths are kept, the ankle goes to the target (or as
far towards it as the leg reaches) and the knee stays in the leg's bending plane: the plane
through the hip, the target and the pole (default: the current knee), bending towards the
pole.  Works for any skeleton: pass ``lengths`` to impose a rig's own bone lengths.

>>> hip, knee, ankle = np.array([0, 1.0, 0]), np.array([0, .5, .1]), np.array([0, 0.0, 0])
>>> k, a = two_bone_ik(hip, knee, ankle, np.array([0, .2, 0]))
>>> a.round(6).tolist(), bool(k[2] > 0)
([0.0, 0.2, 0.0], True)
"""
from __future__ import annotations

import numpy as np

_EPS = 1e-9


def _unit(v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    n = np.linalg.norm(v, axis=-1, keepdims=True)
    return v / np.maximum(n, _EPS), n[..., 0]


def two_bone_ik(hip, knee, ankle, target, *, pole=None, lengths=None, soft=0.0,
                fallback_pole=(0.0, 0.0, 1.0)) -> tuple[np.ndarray, np.ndarray]:
    """Solve a two-bone chain; returns ``(knee, ankle)`` of shape ``(..., 3)``.

    Args:
        hip, knee, ankle: ``(..., 3)`` current joint positions (any leading dims, e.g. T).
        target: ``(..., 3)`` where the ankle should go.
        pole: ``(..., 3)`` point the knee bends towards (default: the current knee).
        lengths: ``(upper, lower)`` bone lengths, scalars or ``(...)`` arrays (default: the
            current ``|knee - hip|`` and ``|ankle - knee|``).
        soft: soft reach, a fraction of the leg's length (scalar or ``(...)``; 0 = hard):
            beyond ``(1 - soft) x reach`` the ankle's distance from the hip approaches the full
            reach smoothly (``tanh``) instead of stopping dead, so a leg that straightens does
            not snap its knee (near full extension the knee moves fast for a small ankle move).
            The ankle then stops short of a target in that zone.
        fallback_pole: direction used when the pole is on the hip-target line (a straight
            leg has no bending plane of its own).

    An unreachable target (farther than ``upper + lower`` or nearer than their difference)
    is clamped: the ankle goes to the nearest reachable point on the hip-target line.
    """
    hip, knee, ankle, target = (np.asarray(a, dtype=np.float64) for a in (hip, knee, ankle,
                                                                       target))
    if lengths is None:
        l1 = np.linalg.norm(knee - hip, axis=-1)
        l2 = np.linalg.norm(ankle - knee, axis=-1)
    else:
        l1, l2 = (np.asarray(x, dtype=np.float64) for x in lengths)
    pole = knee if pole is None else np.asarray(pole, dtype=np.float64)
    u, d = _unit(target - hip)
    zone = np.asarray(soft, dtype=np.float64) * (l1 + l2)
    lo = l1 + l2 - zone
    soft_d = lo + zone * np.tanh((d - lo) / np.maximum(zone, _EPS))
    d = np.where((zone > 0) & (d > lo), soft_d, d)
    d = np.clip(d, np.abs(l1 - l2) + 1e-6, l1 + l2 - 1e-6)
    # bending direction: the pole's component perpendicular to the hip-target axis
    p = pole - hip
    v = p - (p * u).sum(-1, keepdims=True) * u
    v, vn = _unit(v)
    fb = np.broadcast_to(np.asarray(fallback_pole, dtype=np.float64), v.shape)
    fb = fb - (fb * u).sum(-1, keepdims=True) * u
    fb, _ = _unit(fb)
    v = np.where((vn < 1e-6 * np.maximum(l1, _EPS))[..., None], fb, v)
    # law of cosines at the hip
    cos_a = np.clip((l1 ** 2 + d ** 2 - l2 ** 2) / (2 * l1 * d), -1.0, 1.0)
    sin_a = np.sqrt(1.0 - cos_a ** 2)
    new_knee = hip + l1[..., None] * (cos_a[..., None] * u + sin_a[..., None] * v)
    new_ankle = hip + d[..., None] * u
    return new_knee, new_ankle


__all__ = ["two_bone_ik"]
