"""Rotation utilities for numpy arrays *and* torch tensors.

Conventions (the same as HumanML3D's):

* quaternions are ``(..., 4)`` arrays ordered ``(w, x, y, z)``; rotations are active and act on
  column vectors, ``qrot(q, v) = q v q*``;
* ``qmul(a, b)`` is the rotation "first ``b``, then ``a``";
* rotation matrices are ``(..., 3, 3)``; ``quat_to_matrix(q) @ v == qrot(q, v)``;
* the 6-D ("continuous") representation is the first two *columns* of the rotation matrix,
  concatenated: ``(..., 6) = [R[:, 0], R[:, 1]]``;
* Euler angles follow BVH: an order string such as ``"ZXY"`` means ``R = Rz(a0) @ Rx(a1) @ Ry(a2)``
  (intrinsic rotations in the listed order), angles in degrees unless ``degrees=False``.

Every function accepts either numpy arrays or torch tensors (any leading batch dims) and returns
the same kind.  torch is imported lazily, so numpy-only users never pay for it.
"""
from __future__ import annotations

from typing import Any

import numpy as np

Array = Any  # np.ndarray | torch.Tensor


# --- tiny numpy/torch dispatch ------------------------------------------------------------------

def _is_torch(x) -> bool:
    return type(x).__module__.split(".")[0] == "torch"


def _torch():
    import torch

    return torch


def _stack(xs, axis=-1):
    if _is_torch(xs[0]):
        return _torch().stack(list(xs), dim=axis)
    return np.stack(xs, axis=axis)


def _cat(xs, axis=-1):
    if _is_torch(xs[0]):
        return _torch().cat(list(xs), dim=axis)
    return np.concatenate(xs, axis=axis)


def _cross(a, b):
    if _is_torch(a):
        return _torch().linalg.cross(a, b, dim=-1)
    return np.cross(a, b)


def _sum(x, axis=-1, keepdims=False):
    if _is_torch(x):
        return x.sum(dim=axis, keepdim=keepdims)
    return x.sum(axis=axis, keepdims=keepdims)


def _sqrt(x):
    return _torch().sqrt(x) if _is_torch(x) else np.sqrt(x)


def _atan2(y, x):
    return _torch().atan2(y, x) if _is_torch(y) else np.arctan2(y, x)


def _asin(x):
    return _torch().asin(x) if _is_torch(x) else np.arcsin(x)


def _acos(x):
    return _torch().acos(x) if _is_torch(x) else np.arccos(x)


def _sin(x):
    return _torch().sin(x) if _is_torch(x) else np.sin(x)


def _cos(x):
    return _torch().cos(x) if _is_torch(x) else np.cos(x)


def _clip(x, lo, hi):
    return x.clamp(lo, hi) if _is_torch(x) else np.clip(x, lo, hi)


def _where(c, a, b):
    return _torch().where(c, a, b) if _is_torch(c) else np.where(c, a, b)


def _abs(x):
    return x.abs() if _is_torch(x) else np.abs(x)


def _as_like(value, like):
    """``value`` (python/numpy) as an array of the same kind, dtype and device as ``like``."""
    if _is_torch(like):
        return _torch().as_tensor(np.asarray(value), dtype=like.dtype, device=like.device)
    return np.asarray(value, dtype=like.dtype if np.issubdtype(like.dtype, np.floating) else np.float64)


def _broadcast_to(x, shape):
    return x.expand(*shape) if _is_torch(x) else np.broadcast_to(x, shape)


def _float(x):
    """Make sure we compute in floating point (ints -> float64 / float32)."""
    if _is_torch(x):
        return x if x.is_floating_point() else x.float()
    x = np.asarray(x)
    return x if np.issubdtype(x.dtype, np.floating) else x.astype(np.float64)


# --- quaternions --------------------------------------------------------------------------------

def qnormalize(q: Array, eps: float = 1e-12) -> Array:
    """Unit quaternion(s) ``(..., 4)``."""
    q = _float(q)
    n = _sqrt(_sum(q * q, -1, keepdims=True))
    return q / (n + eps) if eps else q / n


def qmul(a: Array, b: Array) -> Array:
    """Hamilton product ``a * b`` of ``(..., 4)`` quaternions (broadcasting)."""
    a, b = _float(a), _float(b)
    aw, ax, ay, az = a[..., 0], a[..., 1], a[..., 2], a[..., 3]
    bw, bx, by, bz = b[..., 0], b[..., 1], b[..., 2], b[..., 3]
    return _stack([
        aw * bw - ax * bx - ay * by - az * bz,
        aw * bx + ax * bw + ay * bz - az * by,
        aw * by - ax * bz + ay * bw + az * bx,
        aw * bz + ax * by - ay * bx + az * bw,
    ], -1)


def qinv(q: Array) -> Array:
    """Inverse of a *unit* quaternion (its conjugate), ``(..., 4)``."""
    q = _float(q)
    return q * _as_like([1.0, -1.0, -1.0, -1.0], q)


def qrot(q: Array, v: Array) -> Array:
    """Rotate vectors ``v (..., 3)`` by unit quaternions ``q (..., 4)`` (broadcasting).

    ``v' = v + 2 (w (u x v) + u x (u x v))`` with ``u = q[..., 1:]``.
    """
    q, v = _float(q), _float(v)
    shape = np.broadcast_shapes(tuple(q.shape[:-1]), tuple(v.shape[:-1]))
    q = _broadcast_to(q, shape + (4,))
    v = _broadcast_to(v, shape + (3,))
    u = q[..., 1:]
    uv = _cross(u, v)
    uuv = _cross(u, uv)
    return v + 2.0 * (q[..., :1] * uv + uuv)


def qbetween(v0: Array, v1: Array) -> Array:
    """Shortest-arc unit quaternion rotating direction ``v0`` onto ``v1`` (both ``(..., 3)``).

    ``w = |v0||v1| + v0.v1``, ``xyz = v0 x v1``, normalised (HumanML3D's ``qbetween``).  Exactly
    opposite vectors have no unique answer; we then rotate 180 degrees about an axis
    perpendicular to ``v0``.
    """
    v0, v1 = _float(v0), _float(v1)
    shape = np.broadcast_shapes(tuple(v0.shape), tuple(v1.shape))
    v0, v1 = _broadcast_to(v0, shape), _broadcast_to(v1, shape)
    axis = _cross(v0, v1)
    w = _sqrt(_sum(v0 * v0, -1) * _sum(v1 * v1, -1)) + _sum(v0 * v1, -1)
    q = _cat([w[..., None], axis], -1)
    n = _sqrt(_sum(q * q, -1, keepdims=True))
    # antiparallel fallback: 180 deg about (v0 x X) or (v0 x Z)
    degenerate = n[..., 0] < 1e-9 * (_sqrt(_sum(v0 * v0, -1) * _sum(v1 * v1, -1)) + 1e-30)
    if bool(degenerate.any()):
        ex = _as_like([1.0, 0.0, 0.0], v0)
        ez = _as_like([0.0, 0.0, 1.0], v0)
        alt = _cross(v0, _broadcast_to(ex, shape))
        alt2 = _cross(v0, _broadcast_to(ez, shape))
        use2 = _sum(alt * alt, -1, keepdims=True) < 1e-12
        alt = _where(use2, alt2, alt)
        alt = alt / _sqrt(_sum(alt * alt, -1, keepdims=True))
        qalt = _cat([w[..., None] * 0.0, alt], -1)
        q = _where(degenerate[..., None], qalt, q)
        n = _where(degenerate[..., None], _sqrt(_sum(q * q, -1, keepdims=True)), n)
    return q / n


def qfix(q: Array) -> Array:
    """Flip signs along axis 0 (time) so consecutive quaternions are on the same hemisphere.

    ``q`` is ``(T, ..., 4)``; returns a copy.
    """
    q = _float(q)
    if _is_torch(q):
        out = q.clone()
    else:
        out = q.copy()
    for t in range(1, out.shape[0]):
        dot = _sum(out[t] * out[t - 1], -1, keepdims=True)
        out[t] = _where(dot < 0, -out[t], out[t])
    return out


def quat_from_axis_angle(axis: Array, angle: Array) -> Array:
    """Quaternion ``(..., 4)`` from unit ``axis (..., 3)`` and ``angle (...)`` in radians."""
    axis, angle = _float(axis), _float(angle)
    h = angle[..., None] * 0.5
    return _cat([_cos(h), _sin(h) * axis], -1)


def quat_to_axis_angle(q: Array) -> tuple[Array, Array]:
    """(axis ``(..., 3)``, angle ``(...)`` radians in [0, pi]) of unit quaternions."""
    q = qnormalize(q)
    q = _where(q[..., :1] < 0, -q, q)
    s = _sqrt(_sum(q[..., 1:] ** 2, -1))
    angle = 2.0 * _atan2(s, q[..., 0])
    safe = _where(s > 1e-12, s, s * 0 + 1.0)
    axis = q[..., 1:] / safe[..., None]
    axis = _where((s > 1e-12)[..., None], axis, _broadcast_to(_as_like([1.0, 0, 0], q), axis.shape))
    return axis, angle


def slerp(q0: Array, q1: Array, t: Array | float) -> Array:
    """Spherical linear interpolation between unit quaternions (shortest path).

    ``q0, q1 (..., 4)``; ``t`` scalar or ``(...)`` in [0, 1]; returns ``(..., 4)``.
    """
    q0, q1 = _float(q0), _float(q1)
    if not _is_torch(t) and np.ndim(t) == 0:
        t = _as_like(float(t), q0)
    t = _as_like(t, q0) if not _is_torch(t) else t.to(q0.dtype)
    dot = _sum(q0 * q1, -1)
    q1 = _where((dot < 0)[..., None], -q1, q1)
    dot = _abs(dot)
    dot = _clip(dot, -1.0, 1.0)
    theta = _acos(dot)
    sin_theta = _sin(theta)
    small = sin_theta < 1e-6
    safe_sin = _where(small, sin_theta * 0 + 1.0, sin_theta)
    w0 = _where(small, 1.0 - t, _sin((1.0 - t) * theta) / safe_sin)
    w1 = _where(small, t, _sin(t * theta) / safe_sin)
    return qnormalize(w0[..., None] * q0 + w1[..., None] * q1)


# --- matrices and 6-D ---------------------------------------------------------------------------

def quat_to_matrix(q: Array) -> Array:
    """``(..., 4)`` unit quaternions -> ``(..., 3, 3)`` rotation matrices."""
    q = _float(q)
    w, x, y, z = q[..., 0], q[..., 1], q[..., 2], q[..., 3]
    xx, yy, zz = x * x, y * y, z * z
    xy, xz, yz = x * y, x * z, y * z
    wx, wy, wz = w * x, w * y, w * z
    rows = [
        _stack([1 - 2 * (yy + zz), 2 * (xy - wz), 2 * (xz + wy)], -1),
        _stack([2 * (xy + wz), 1 - 2 * (xx + zz), 2 * (yz - wx)], -1),
        _stack([2 * (xz - wy), 2 * (yz + wx), 1 - 2 * (xx + yy)], -1),
    ]
    return _stack(rows, -2)


def matrix_to_quat(m: Array) -> Array:
    """``(..., 3, 3)`` rotation matrices -> ``(..., 4)`` unit quaternions with ``w >= 0``.

    Uses the numerically stable branch (largest diagonal term) per element.
    """
    m = _float(m)
    m00, m11, m22 = m[..., 0, 0], m[..., 1, 1], m[..., 2, 2]
    tr = m00 + m11 + m22
    # four candidate solutions, each exact where its pivot is large
    zero = tr * 0
    cands = []
    s = _sqrt(_clip(1.0 + tr, 1e-12, None)) * 2  # 4w
    cands.append(_stack([0.25 * s, (m[..., 2, 1] - m[..., 1, 2]) / s,
                         (m[..., 0, 2] - m[..., 2, 0]) / s, (m[..., 1, 0] - m[..., 0, 1]) / s], -1))
    s = _sqrt(_clip(1.0 + m00 - m11 - m22, 1e-12, None)) * 2  # 4x
    cands.append(_stack([(m[..., 2, 1] - m[..., 1, 2]) / s, 0.25 * s,
                         (m[..., 0, 1] + m[..., 1, 0]) / s, (m[..., 0, 2] + m[..., 2, 0]) / s], -1))
    s = _sqrt(_clip(1.0 - m00 + m11 - m22, 1e-12, None)) * 2  # 4y
    cands.append(_stack([(m[..., 0, 2] - m[..., 2, 0]) / s, (m[..., 0, 1] + m[..., 1, 0]) / s,
                         0.25 * s, (m[..., 1, 2] + m[..., 2, 1]) / s], -1))
    s = _sqrt(_clip(1.0 - m00 - m11 + m22, 1e-12, None)) * 2  # 4z
    cands.append(_stack([(m[..., 1, 0] - m[..., 0, 1]) / s, (m[..., 0, 2] + m[..., 2, 0]) / s,
                         (m[..., 1, 2] + m[..., 2, 1]) / s, 0.25 * s], -1))
    pivots = _stack([tr, m00, m11, m22], -1)
    if _is_torch(m):
        idx = pivots.argmax(dim=-1)
        q = _torch().stack(cands, dim=-2).gather(-2, idx[..., None, None].expand(*idx.shape, 1, 4))[..., 0, :]
    else:
        idx = pivots.argmax(axis=-1)
        q = np.take_along_axis(np.stack(cands, axis=-2), idx[..., None, None], axis=-2)[..., 0, :]
    del zero
    q = qnormalize(q)
    return _where(q[..., :1] < 0, -q, q)


def matrix_to_cont6d(m: Array) -> Array:
    """``(..., 3, 3)`` -> ``(..., 6)``: the first two columns, column 0 first."""
    return _cat([m[..., :, 0], m[..., :, 1]], -1)


def cont6d_to_matrix(d6: Array) -> Array:
    """``(..., 6)`` -> ``(..., 3, 3)`` by Gram-Schmidt (columns x, y, z = x cross y)."""
    d6 = _float(d6)
    a, b = d6[..., 0:3], d6[..., 3:6]
    x = a / _sqrt(_sum(a * a, -1, keepdims=True))
    z = _cross(x, b)
    z = z / _sqrt(_sum(z * z, -1, keepdims=True))
    y = _cross(z, x)
    return _stack([x, y, z], -1)


def quat_to_cont6d(q: Array) -> Array:
    """``(..., 4)`` -> ``(..., 6)`` (HumanML3D's ``quaternion_to_cont6d``)."""
    return matrix_to_cont6d(quat_to_matrix(q))


def cont6d_to_quat(d6: Array) -> Array:
    return matrix_to_quat(cont6d_to_matrix(d6))


# --- Euler angles (BVH channel orders) ----------------------------------------------------------

_AXIS = {"X": 0, "Y": 1, "Z": 2}


def _check_order(order: str) -> str:
    order = order.upper()
    if len(order) != 3 or set(order) != {"X", "Y", "Z"}:
        raise ValueError(f"Euler order must be a permutation of 'XYZ', got {order!r}")
    return order


def euler_to_quat(angles: Array, order: str = "ZXY", degrees: bool = True) -> Array:
    """``(..., 3)`` angles for the axes in ``order`` -> ``(..., 4)``; ``R = R_o0 R_o1 R_o2``."""
    order = _check_order(order)
    angles = _float(angles)
    if degrees:
        angles = angles * (np.pi / 180.0)
    q = None
    for k, ax in enumerate(order):
        axis = np.zeros(3)
        axis[_AXIS[ax]] = 1.0
        qa = quat_from_axis_angle(_broadcast_to(_as_like(axis, angles), tuple(angles.shape[:-1]) + (3,)),
                                  angles[..., k])
        q = qa if q is None else qmul(q, qa)
    return q


def euler_to_matrix(angles: Array, order: str = "ZXY", degrees: bool = True) -> Array:
    return quat_to_matrix(euler_to_quat(angles, order, degrees))


def matrix_to_euler(m: Array, order: str = "ZXY", degrees: bool = True) -> Array:
    """Inverse of :func:`euler_to_matrix` for Tait-Bryan orders; middle angle in [-90, 90]."""
    order = _check_order(order)
    m = _float(m)
    i, j, k = (_AXIS[a] for a in order)
    # parity: +1 for cyclic orders (XYZ, YZX, ZXY), -1 otherwise
    s = 1.0 if (j - i) % 3 == 1 else -1.0
    b = _asin(_clip(s * m[..., i, k], -1.0, 1.0))
    a = _atan2(-s * m[..., j, k], m[..., k, k])
    c = _atan2(-s * m[..., i, j], m[..., i, i])
    # gimbal lock: cos(b) ~ 0 -> put everything into a, c = 0
    lock = _abs(s * m[..., i, k]) > 1.0 - 1e-9
    if bool(lock.any()):
        a_lock = _atan2(s * m[..., k, j], m[..., j, j])
        a = _where(lock, a_lock, a)
        c = _where(lock, c * 0, c)
    out = _stack([a, b, c], -1)
    return out * (180.0 / np.pi) if degrees else out


def quat_to_euler(q: Array, order: str = "ZXY", degrees: bool = True) -> Array:
    return matrix_to_euler(quat_to_matrix(q), order, degrees)


__all__ = [
    "qnormalize", "qmul", "qinv", "qrot", "qbetween", "qfix", "quat_from_axis_angle",
    "quat_to_axis_angle", "slerp", "quat_to_matrix", "matrix_to_quat", "matrix_to_cont6d",
    "cont6d_to_matrix", "quat_to_cont6d", "cont6d_to_quat", "euler_to_quat", "euler_to_matrix",
    "matrix_to_euler", "quat_to_euler",
]
