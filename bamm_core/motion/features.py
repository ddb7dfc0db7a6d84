"""HumanML3D motion features: joint positions <-> the 263-d (KIT: 251-d) vectors BAMM works on.

Layout of one feature row ``t`` (built from frames ``t`` and ``t+1``, so ``T`` frames give
``T-1`` rows), HumanML3D indices (KIT in brackets, ``J`` = 22 [21]):

====================  =====  ======================================================================
index                 size   meaning
====================  =====  ======================================================================
0                     1      root angular velocity about Y, stored as ``arcsin(q_y)`` of the
                             per-frame delta quaternion, i.e. **half** the angle (radians)
1:3                   2      root linear velocity (x, z) in the root-facing frame (m / frame)
3                     1      root height y (m)
4:67 [4:64]           3(J-1) joints 1.. relative to the root in x/z, rotated into the root frame
67:193 [64:184]       6(J-1) 6-D local rotations of joints 1.. (chain IK, see skeleton.py)
193:259 [184:247]     3J     joint velocities ``p[t+1]-p[t]`` rotated by the root rotation at t
259:263 [247:251]     4      foot contacts ``[l_ankle, l_foot, r_ankle, r_foot]`` (0/1)
====================  =====  ======================================================================

:func:`joints_to_features` follows the official HumanML3D processing step by step, including
its quirks, so that our features match the released dataset:

* the root (facing) rotation used by the features comes from IK whose face joints are unpacked
  in the wrong order (left-minus-right hips plus right-minus-left shoulders) and whose forward
  vector is gaussian-smoothed over time (sigma 20 frames); it is forced to identity at frame 0;
* the *initial* facing (step 4) uses the correct order;
* the foot contact compares the squared per-frame displacement with 0.002 (KIT: 0.05).

:func:`recover_from_ric` inverts the root and RIC parts (numpy or torch, any leading dims).
:func:`canonicalize` puts any joint sequence into the representation's canonical frame and
returns the :class:`Transform` that maps it back into the user's scene.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .rotations import (
    _cat, _is_torch, _stack, _torch, qbetween, qinv, qmul, qrot, quat_to_cont6d,
)
from .skeleton import Skeleton, SkeletonDef, get_skeleton_def, uniform_skeleton

Array = Any  # np.ndarray | torch.Tensor

# Feature groups of the 263-d layout (used by the dataset statistics and the normaliser).
T2M_GROUPS: dict[str, slice] = {
    "root_rot_velocity": slice(0, 1),
    "root_linear_velocity": slice(1, 3),
    "root_y": slice(3, 4),
    "ric": slice(4, 67),
    "rot": slice(67, 193),
    "local_velocity": slice(193, 259),
    "foot_contact": slice(259, 263),
}


def feature_groups(joints_num: int = 22) -> dict[str, slice]:
    """The seven feature groups for a skeleton of ``joints_num`` joints (22 -> 263, 21 -> 251)."""
    j = joints_num
    a = 4 + 3 * (j - 1)
    b = a + 6 * (j - 1)
    c = b + 3 * j
    return {
        "root_rot_velocity": slice(0, 1), "root_linear_velocity": slice(1, 3),
        "root_y": slice(3, 4), "ric": slice(4, a), "rot": slice(a, b),
        "local_velocity": slice(b, c), "foot_contact": slice(c, c + 4),
    }


# --- canonical frame ----------------------------------------------------------------------------

@dataclass
class Transform:
    """A rigid transform about the vertical axis: ``x' = R x + t`` (``R`` a yaw rotation).

    ``rotation`` is a (w, x, y, z) quaternion, ``translation`` a 3-vector (metres).
    :func:`canonicalize` returns the transform *from* the user's scene *to* the canonical
    frame; ``transform.inverse().apply(generated_joints)`` puts results back into the scene.
    """

    rotation: np.ndarray
    translation: np.ndarray

    def apply(self, points: Array) -> Array:
        """Transform ``(..., 3)`` points (numpy or torch)."""
        if _is_torch(points):
            torch = _torch()
            q = torch.as_tensor(self.rotation, dtype=points.dtype, device=points.device)
            t = torch.as_tensor(self.translation, dtype=points.dtype, device=points.device)
            return qrot(q.expand(*points.shape[:-1], 4), points) + t
        points = np.asarray(points)
        out = qrot(np.broadcast_to(self.rotation, points.shape[:-1] + (4,)), points) + self.translation
        return out.astype(points.dtype) if np.issubdtype(points.dtype, np.floating) else out

    def inverse(self) -> "Transform":
        qi = qinv(np.asarray(self.rotation, dtype=np.float64))
        return Transform(qi, -qrot(qi, np.asarray(self.translation, dtype=np.float64)))

    def compose(self, other: "Transform") -> "Transform":
        """``self.compose(other).apply(x) == self.apply(other.apply(x))``."""
        q = qmul(self.rotation, other.rotation)
        return Transform(q, qrot(self.rotation, other.translation) + self.translation)

    @property
    def yaw_degrees(self) -> float:
        """Rotation angle about +Y in degrees."""
        w, _, y, _ = self.rotation
        return float(np.degrees(2 * np.arctan2(y, w)))

    @classmethod
    def identity(cls) -> "Transform":
        return cls(np.array([1.0, 0.0, 0.0, 0.0]), np.zeros(3))


def canonicalize(joints: np.ndarray, kind: str | SkeletonDef = "t2m") -> tuple[np.ndarray, Transform]:
    """Floor at y=0, frame-0 root at x=z=0, facing +Z at frame 0 (HumanML3D steps 2-4).

    ``joints`` ``(T, J, 3)``, Y up.  Returns ``(joints_canon, transform)`` with
    ``joints_canon == transform.apply(joints)``; dtype is preserved.
    The floor is the lowest y of any joint in any frame; the facing direction at frame 0 is
    ``Y x ((r_hip - l_hip) + (r_shoulder - l_shoulder))``.
    """
    defn = get_skeleton_def(kind)
    x = np.asarray(joints)
    if x.ndim != 3 or x.shape[-1] != 3 or x.shape[1] != defn.num_joints:
        raise ValueError(f"expected joints of shape (T, {defn.num_joints}, 3), got {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError("joints contain NaN or inf")
    p = x.astype(np.float64)
    floor = p[..., 1].min()
    shift = np.array([p[0, 0, 0], floor, p[0, 0, 2]])
    p0 = p[0] - shift
    r_hip, l_hip, r_sdr, l_sdr = defn.face_joints
    across = (p0[r_hip] - p0[l_hip]) + (p0[r_sdr] - p0[l_sdr])
    across = across / np.linalg.norm(across)
    forward = np.cross(np.array([0.0, 1.0, 0.0]), across)
    forward = forward / np.linalg.norm(forward)
    q = qbetween(forward, np.array([0.0, 0.0, 1.0]))
    tf = Transform(q, -qrot(q, shift))
    out = tf.apply(p)
    return out.astype(x.dtype) if np.issubdtype(x.dtype, np.floating) else out, tf


# --- joints -> features -------------------------------------------------------------------------

def _features_from_canonical(positions: np.ndarray, defn: SkeletonDef,
                             feet_threshold: float) -> np.ndarray:
    """Steps 5-7 on canonical positions ``(T, J, 3)`` float64 -> ``(T-1, D)``."""
    T, J, _ = positions.shape
    # 5. foot contacts: squared displacement per frame below the threshold
    def contact(ids):
        d = positions[1:, list(ids)] - positions[:-1, list(ids)]
        return ((d ** 2).sum(-1) < feet_threshold).astype(np.float64)

    feet_l, feet_r = contact(defn.feet_left), contact(defn.feet_right)

    # 6. local rotations and the (smoothed, bug-compatible) root rotation
    skel = Skeleton(defn, offsets=None)
    quats = skel.inverse_kinematics(positions, smooth_forward=True)
    cont6d = quat_to_cont6d(quats)                                   # (T, J, 6)
    r_rot = quats[:, 0]                                              # (T, 4)
    velocity = qrot(r_rot[1:], positions[1:, 0] - positions[:-1, 0])  # (T-1, 3)
    r_velocity = qmul(r_rot[1:], qinv(r_rot[:-1]))                   # (T-1, 4)

    # 7. RIFKE: root-relative in x/z, rotated into the facing frame
    ric = positions.copy()
    ric[..., 0] -= ric[:, 0:1, 0]
    ric[..., 2] -= ric[:, 0:1, 2]
    ric = qrot(np.repeat(r_rot[:, None], J, axis=1), ric)

    root_data = np.concatenate([
        np.arcsin(np.clip(r_velocity[:, 2:3], -1.0, 1.0)),  # half angle about Y
        velocity[:, [0, 2]],
        ric[:-1, 0, 1:2],                                      # root height
    ], axis=-1)
    ric_data = ric[:-1, 1:].reshape(T - 1, -1)
    rot_data = cont6d[:-1, 1:].reshape(T - 1, -1)
    local_vel = qrot(np.repeat(r_rot[:-1, None], J, axis=1), positions[1:] - positions[:-1])
    local_vel = local_vel.reshape(T - 1, -1)
    return np.concatenate([root_data, ric_data, rot_data, local_vel, feet_l, feet_r], axis=-1)


def joints_to_features(joints: np.ndarray, kind: str | SkeletonDef = "t2m",
                       uniform: bool | None = None, target_offsets: np.ndarray | None = None,
                       feet_threshold: float | None = None,
                       return_positions: bool = False):
    """Joint positions ``(T, J, 3)`` (metres, Y up, dataset fps) -> features ``(T-1, D)``.

    The official HumanML3D processing: (1) bone lengths onto the target skeleton
    (``uniform``; default on when the skeleton kind ships one, i.e. for HumanML3D, off for
    KIT unless ``target_offsets`` is given), (2) floor, (3) origin, (4) face +Z, then the
    features.  ``return_positions=True`` also returns the processed global positions
    ``(T, J, 3)`` (the canonical, bone-normalised joints the features describe).
    Returns float32.
    """
    defn = get_skeleton_def(kind)
    x = np.asarray(joints, dtype=np.float64)
    if x.ndim != 3 or x.shape[1] != defn.num_joints or x.shape[2] != 3:
        raise ValueError(f"expected joints of shape (T, {defn.num_joints}, 3), got {x.shape}")
    if x.shape[0] < 2:
        raise ValueError(f"need at least 2 frames to compute features, got {x.shape[0]}")
    if not np.isfinite(x).all():
        raise ValueError("joints contain NaN or inf")
    if uniform is None:
        uniform = target_offsets is not None or defn.target_bone_lengths is not None
    if uniform:
        x = uniform_skeleton(x, defn, target_offsets)
    positions, _ = canonicalize(x, defn)
    thr = defn.foot_contact_threshold if feet_threshold is None else feet_threshold
    feats = _features_from_canonical(positions, defn, thr).astype(np.float32)
    if return_positions:
        return feats, positions.astype(np.float32)
    return feats


# --- features -> joints -------------------------------------------------------------------------

def _cumsum(x, axis):
    return x.cumsum(dim=axis) if _is_torch(x) else np.cumsum(x, axis=axis)


def recover_root_rot_pos(data: Array) -> tuple[Array, Array]:
    """Root quaternions ``(..., T, 4)`` and positions ``(..., T, 3)`` from features ``(..., T, D)``.

    Yaw ``a[t] = sum_{i<t} data[i, 0]`` (half angles), quaternion ``(cos a, 0, sin a, 0)``;
    x/z velocities are rotated by the inverse quaternion and integrated; y = ``data[..., 3]``.
    """
    rot_vel = data[..., 0]
    zeros = rot_vel[..., :1] * 0
    ang = _cumsum(_cat([zeros, rot_vel[..., :-1]], -1), -1)
    if _is_torch(data):
        torch = _torch()
        cos, sin = torch.cos(ang), torch.sin(ang)
    else:
        cos, sin = np.cos(ang), np.sin(ang)
    z = ang * 0
    r_quat = _stack([cos, z, sin, z], -1)
    vx = _cat([zeros, data[..., :-1, 1]], -1)
    vz = _cat([zeros, data[..., :-1, 2]], -1)
    vel = _stack([vx, z, vz], -1)
    vel = qrot(qinv(r_quat), vel)
    pos = _cumsum(vel, -2)
    r_pos = _stack([pos[..., 0], data[..., 3], pos[..., 2]], -1)
    return r_quat, r_pos


def recover_from_ric(data: Array, joints_num: int = 22) -> Array:
    """Features ``(..., T, D)`` -> joint positions ``(..., T, joints_num, 3)``.

    Works on numpy arrays and torch tensors (differentiable, no in-place ops), any leading
    batch dims.  Uses the root channels and the RIC positions only (like the official code).
    """
    if data.shape[-1] < 4 + 3 * (joints_num - 1):
        raise ValueError(f"features of size {data.shape[-1]} are too small for {joints_num} joints")
    r_quat, r_pos = recover_root_rot_pos(data)
    ric = data[..., 4:4 + 3 * (joints_num - 1)]
    ric = ric.reshape(tuple(ric.shape[:-1]) + (joints_num - 1, 3))
    qi = qinv(r_quat)[..., None, :]
    if _is_torch(data):
        qi = qi.expand(*ric.shape[:-1], 4)
    else:
        qi = np.broadcast_to(qi, ric.shape[:-1] + (4,))
    ric = qrot(qi, ric)
    offset = _stack([r_pos[..., 0], r_pos[..., 0] * 0, r_pos[..., 2]], -1)[..., None, :]
    joints = _cat([r_pos[..., None, :], ric + offset], -2)
    return joints


# --- normalisation ------------------------------------------------------------------------------

class Normalizer:
    """``(x - mean) / std`` and back, for numpy arrays or torch tensors of shape ``(..., D)``."""

    def __init__(self, mean, std, eps: float = 0.0):
        self.mean = np.asarray(mean, dtype=np.float32)
        self.std = np.asarray(std, dtype=np.float32)
        if self.mean.shape != self.std.shape or self.mean.ndim != 1:
            raise ValueError(f"mean {self.mean.shape} and std {self.std.shape} must be equal 1-D shapes")
        if (self.std + eps <= 0).any():
            raise ValueError("std must be positive")
        self.eps = eps

    @classmethod
    def from_dir(cls, path: str | Path, mean_name: str = "Mean.npy", std_name: str = "Std.npy"):
        """Load ``Mean.npy``/``Std.npy`` (HumanML3D layout) or ``mean.npy``/``std.npy`` (meta/)."""
        path = Path(path)
        for m, s in ((mean_name, std_name), ("mean.npy", "std.npy")):
            if (path / m).exists() and (path / s).exists():
                return cls(np.load(path / m), np.load(path / s))
        raise FileNotFoundError(f"no {mean_name}/{std_name} (or mean.npy/std.npy) in {path}")

    @property
    def dim(self) -> int:
        return self.mean.shape[0]

    def _params(self, x):
        if _is_torch(x):
            torch = _torch()
            return (torch.as_tensor(self.mean, dtype=x.dtype, device=x.device),
                    torch.as_tensor(self.std + self.eps, dtype=x.dtype, device=x.device))
        return self.mean, self.std + self.eps

    def normalize(self, x: Array) -> Array:
        if x.shape[-1] != self.dim:
            raise ValueError(f"expected features of size {self.dim}, got {x.shape[-1]}")
        m, s = self._params(x)
        return (x - m) / s

    def denormalize(self, x: Array) -> Array:
        if x.shape[-1] != self.dim:
            raise ValueError(f"expected features of size {self.dim}, got {x.shape[-1]}")
        m, s = self._params(x)
        return x * s + m

    __call__ = normalize


def group_std(features: np.ndarray, joints_num: int = 22) -> np.ndarray:
    """HumanML3D's dataset Std: one value per feature group, the mean of that group's stds.

    ``features`` ``(N, D)`` (all frames of all clips stacked) -> ``(D,)``.
    """
    std = np.asarray(features, dtype=np.float64).std(axis=0)
    out = np.empty_like(std)
    for sl in feature_groups(joints_num).values():
        out[sl] = std[sl].mean()
    return out.astype(np.float32)


__all__ = [
    "joints_to_features", "recover_from_ric", "recover_root_rot_pos", "canonicalize",
    "Transform", "Normalizer", "group_std", "feature_groups", "T2M_GROUPS",
]
