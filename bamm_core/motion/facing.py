"""Which way a body faces: the horizontal facing direction and heading angle about +Y.

The facing direction of a ``(..., J, 3)`` pose (Y up) is perpendicular to the line across the
body, ``across = (r_hip - l_hip) + (r_shoulder - l_shoulder)``: ``forward = Y x across``.  A
HumanML3D character at frame 0 faces +Z (its left side is +X), which is heading 0; heading
grows counter-clockwise seen from above (towards +X), so :func:`rotate_about_y` by ``a``
adds ``a`` to the heading.

HumanML3D's IK unpacks the face joints as (l_hip, r_hip, ...) and so uses
``(l_hip - r_hip) + (r_shoulder - l_shoulder)``; ``buggy_order=True`` reproduces that (the
official feature extraction needs it bit-exact).
"""
from __future__ import annotations

import numpy as np

#: HumanML3D's face joints (r_hip, l_hip, r_shoulder, l_shoulder) of the 22-joint skeleton.
T2M_FACE_JOINTS: tuple[int, int, int, int] = (2, 1, 17, 16)

_UP = np.array([0.0, 1.0, 0.0])


def _normalize(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def _across(joints: np.ndarray, face_joints, buggy_order: bool = False) -> np.ndarray:
    r_hip, l_hip, r_sdr, l_sdr = face_joints
    if buggy_order:
        r_hip, l_hip = l_hip, r_hip
    return (joints[..., r_hip, :] - joints[..., l_hip, :]) + (joints[..., r_sdr, :] - joints[..., l_sdr, :])


def across_vector(joints: np.ndarray, face_joints=T2M_FACE_JOINTS,
                  buggy_order: bool = False) -> np.ndarray:
    """Unit vector ``(..., 3)`` pointing from the body's left side to its right side."""
    return _normalize(_across(joints, face_joints, buggy_order))


def facing_direction(joints: np.ndarray, face_joints=T2M_FACE_JOINTS,
                     buggy_order: bool = False) -> np.ndarray:
    """Horizontal unit facing direction ``(..., 3)`` of ``(..., J, 3)`` joints."""
    return _normalize(np.cross(_UP, across_vector(joints, face_joints, buggy_order)))


def facing_yaw(joints: np.ndarray, face_joints=T2M_FACE_JOINTS) -> np.ndarray:
    """Heading ``(...)`` about +Y in radians of ``(..., J, 3)`` joints; 0 = facing +Z,
    pi/2 = facing +X."""
    across = _across(np.asarray(joints), face_joints)
    # forward = Y x across = (across_z, 0, -across_x)
    return np.arctan2(across[..., 2], -across[..., 0])


def rotate_about_y(points: np.ndarray, angle: np.ndarray | float,
                   pivot: np.ndarray | None = None) -> np.ndarray:
    """Rotate ``(..., J, 3)`` points about the vertical axis through ``pivot`` ``(..., 3)``
    (default the origin) by ``angle`` radians (a scalar or one per leading index ``(...)``)."""
    points = np.asarray(points)
    pivot = np.zeros(3) if pivot is None else np.asarray(pivot)
    c, s = np.asarray(np.cos(angle))[..., None], np.asarray(np.sin(angle))[..., None]
    p = points - pivot[..., None, :]
    x = c * p[..., 0] + s * p[..., 2]
    z = -s * p[..., 0] + c * p[..., 2]
    return np.stack([x, p[..., 1], z], -1) + pivot[..., None, :]


def wrap_angle(a: np.ndarray | float) -> np.ndarray | float:
    """Angle(s) wrapped to [-pi, pi)."""
    return (a + np.pi) % (2 * np.pi) - np.pi


__all__ = ["T2M_FACE_JOINTS", "across_vector", "facing_direction", "facing_yaw",
           "rotate_about_y", "wrap_angle"]
