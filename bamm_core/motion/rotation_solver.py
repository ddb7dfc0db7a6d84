"""Joint positions -> bone rotations: the one solver behind the BVH export and rig retargeting.

Given a rest pose and posed positions of the 22 HumanML3D joints (the same space, any scale),
:func:`solve_world_rotations` finds for every joint ``j`` the *world delta rotation*
``D_j(t)`` that turns the rest pose's segment at ``j`` into the posed one.  Each segment
has a frame built from two directions (:func:`segment_frames`):

* the *primary* direction, matched exactly: joint -> its primary child (the next joint down
  the limb or spine, e.g. knee -> ankle; a caller may skip joints, e.g. spine1 -> spine3 on a
  rig without a spine2 bone); for the pelvis the hip line (right hip -> left hip);
* a *secondary* direction that fixes the twist about it (:func:`secondary_directions`):
  the spine1 direction for the pelvis and the collar line for spine3 (both rigid with their
  joint's children, so one rotation places all of them), hip/shoulder lines for the spine
  and neck, up for the collars.

``D_j = F(posed) F(rest)^T``.  Limbs are solved so that their twist is stable over time:

* thighs and upper arms (:data:`LIMBS`): the twist given by the knee's / elbow's bending
  plane, observed with a confidence that grows with the bend, is smoothed over time against
  a twist-free frame carried along the bone from frame 0 (:func:`smooth_angle`), so a
  straight limb glides between the bent poses;
* knees, elbows and ankles (:data:`FROM_PARENT`): the smallest rotation from the parent
  bone, with the rest pose's bend removed - a knee or elbow turns about its hinge axis.

Joints without a primary child (toes, head, hands) follow another joint's rotation (their
parent's).  A BVH joint's world rotation is ``D_j`` of the template skeleton; a rig bone
with rest rotation ``R`` and parent delta ``D_p`` gets the pose rotation ``R^T D_p^T D_j R``
(see :mod:`bamm_core.rigs.retargeting`).
"""
from __future__ import annotations

import numpy as np

from .blending import smoothstep
from .skeleton import PARENTS

#: the next joint down the limb / spine of each HumanML3D joint (None: an end joint)
PRIMARY_CHILD: dict[int, int | None] = {
    0: None, 1: 4, 4: 7, 7: 10, 2: 5, 5: 8, 8: 11, 3: 6, 6: 9, 9: 12, 12: 15,
    13: 16, 16: 18, 18: 20, 14: 17, 17: 19, 19: 21,
    10: None, 11: None, 15: None, 20: None, 21: None}

#: limb roots (hips, shoulders) -> (middle joint, end joint, +1: the middle joint sticks out
#: forward (knees), -1: backward (elbows)); their twist follows the limb's bending plane
LIMBS: dict[int, tuple[int, int, int]] = {1: (4, 7, 1), 2: (5, 8, 1), 16: (18, 20, -1), 17: (19, 21, -1)}
#: joints turned by the smallest rotation from their parent bone: knees, elbows (one hinge
#: axis) and ankles
FROM_PARENT = (4, 5, 7, 8, 18, 19)
#: weight of the observed bending-plane twist of a fully bent limb against the smoothness
#: (4) between frames: higher follows the plane more closely (knees stay exact hinges),
#: lower glides more (fewer fast turns where a limb straightens and bends another way)
TWIST_CONFIDENCE = 15.0


def normalize(v: np.ndarray, eps: float = 1e-9) -> np.ndarray:
    return v / np.maximum(np.sqrt(np.sum(v * v, axis=-1, keepdims=True)), eps)


def cross(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``np.cross`` of ``(..., 3)`` arrays (broadcasting), without its per-call overhead."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    a0, a1, a2 = a[..., 0], a[..., 1], a[..., 2]
    b0, b1, b2 = b[..., 0], b[..., 1], b[..., 2]
    return np.stack([a1 * b2 - a2 * b1, a2 * b0 - a0 * b2, a0 * b1 - a1 * b0], axis=-1)


def frame(primary: np.ndarray, secondary: np.ndarray) -> np.ndarray:
    """Orthonormal frames ``(..., 3, 3)`` with columns (p, s_perp, p x s_perp)."""
    p = normalize(primary)
    s = normalize(secondary - np.sum(secondary * p, axis=-1, keepdims=True) * p)
    return np.stack([p, s, cross(p, s)], axis=-1)


def swing(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Smallest rotation ``(..., 3, 3)`` taking direction(s) a onto b (antiparallel: 180 deg)."""
    a, b = normalize(a), normalize(b)
    v = cross(a, b)
    c = np.sum(a * b, axis=-1)
    k = np.zeros(v.shape[:-1] + (3, 3))
    k[..., 0, 1], k[..., 0, 2], k[..., 1, 2] = -v[..., 2], v[..., 1], -v[..., 0]
    k[..., 1, 0], k[..., 2, 0], k[..., 2, 1] = v[..., 2], -v[..., 1], v[..., 0]
    eye = np.broadcast_to(np.eye(3), k.shape)
    denom = np.where(1.0 + c > 1e-8, 1.0 + c, 1.0)
    r = eye + k + k @ k / denom[..., None, None]
    bad = 1.0 + c <= 1e-8
    if np.any(bad):  # rotate 180 degrees about an axis perpendicular to a
        ab = np.atleast_2d(a)[np.atleast_1d(bad)]
        axis = cross(ab, np.array([1.0, 0.0, 0.0]))
        small = np.linalg.norm(axis, axis=-1) < 1e-6
        axis[small] = cross(ab[small], np.array([0.0, 0.0, 1.0]))
        axis = normalize(axis)
        flip = 2.0 * axis[:, :, None] * axis[:, None, :] - np.eye(3)
        r = np.array(r)
        r.reshape(-1, 3, 3)[np.atleast_1d(bad).reshape(-1)] = flip
    return r


def _bend_normal(n_raw: np.ndarray, fallback: np.ndarray, sin_limit: float = np.sin(np.radians(25))):
    """Bend-plane normal where the limb is bent, the fallback where it is nearly straight."""
    w = np.clip(np.linalg.norm(n_raw, axis=-1, keepdims=True) / sin_limit, 0.0, 1.0)
    return w * normalize(n_raw) + (1.0 - w) * normalize(fallback)


def body_axes(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Unit hip line, shoulder line (both right -> left), up (pelvis -> neck) and forward
    ``(..., 3)`` of joints ``(..., 22, 3)``."""
    hip_across = normalize(x[..., 1, :] - x[..., 2, :])
    sh_across = normalize(x[..., 16, :] - x[..., 17, :])
    up = normalize(x[..., 12, :] - x[..., 0, :])
    return hip_across, sh_across, up, normalize(cross(sh_across + hip_across, up))


def secondary_directions(x: np.ndarray) -> dict[int, np.ndarray]:
    """Twist reference vector ``(..., 3)`` of every joint that has a frame, from joints
    ``(..., 22, 3)`` alone (independent of the space they are expressed in)."""
    def seg(a, b):
        return x[..., b, :] - x[..., a, :]

    hip_across, sh_across, up, fwd = body_axes(x)
    sec: dict[int, np.ndarray] = {0: seg(0, 3), 3: hip_across + sh_across, 6: hip_across + 2 * sh_across,
                                  9: seg(14, 13), 12: sh_across, 13: up, 14: up}
    for hip, knee, ankle in ((1, 4, 7), (2, 5, 8)):
        s = _bend_normal(cross(normalize(seg(hip, knee)), normalize(seg(knee, ankle))), hip_across)
        sec[hip] = sec[knee] = sec[ankle] = s
    fwd_eff = fwd - 0.3 * up
    for sh, el, wr in ((16, 18, 20), (17, 19, 21)):
        upper = normalize(seg(sh, el))
        s = _bend_normal(cross(upper, normalize(seg(el, wr))), cross(upper, fwd_eff))
        sec[sh] = sec[el] = s
    return sec


def primary_direction(x: np.ndarray, j: int, child: int | None) -> np.ndarray:
    """The exactly matched direction of joint j's segment (the hip line for the pelvis)."""
    if j == 0:
        return x[..., 1, :] - x[..., 2, :]
    return x[..., child, :] - x[..., j, :]


def segment_frames(x: np.ndarray, child: dict[int, int | None],
                   secondary: dict[int, np.ndarray] | None = None) -> dict[int, np.ndarray]:
    """Frame ``(..., 3, 3)`` of every joint that has one (the pelvis, joints with a child)."""
    sec = secondary_directions(x) if secondary is None else secondary
    return {j: frame(primary_direction(x, j, c), sec[j])
            for j, c in child.items() if j == 0 or c is not None}


def bend_direction(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For a two-bone limb ``a -> b -> c`` ``(F, 3)``: the unit direction in which the middle
    joint sticks out of the limb, and the sine of the bend angle (0 when straight)."""
    upper = normalize(b - a, 1e-12)
    lower = normalize(c - b, 1e-12)
    perp = lower - (lower * upper).sum(-1, keepdims=True) * upper
    sin = np.linalg.norm(perp, axis=-1)
    return -perp / np.maximum(sin, 1e-9)[:, None], sin


def smooth_angle(phi: np.ndarray, weight: np.ndarray, smooth: float = 4.0, prior: float = 1e-3) -> np.ndarray:
    """A smooth angle signal that follows the observed angles ``phi`` where ``weight`` is high.

    Solves ``min sum w |z - e^{i phi}|^2 + prior |z - 1|^2 + smooth sum |z_t - z_{t-1}|^2`` for
    complex ``z`` (a tridiagonal system, no unwrapping needed) and returns ``arg z``: where the
    observations are weak (a straight limb) the angle glides between the confident frames.
    """
    n = phi.shape[0]
    diag = (weight + prior + 2 * smooth).astype(np.complex128)
    diag[0] -= smooth
    diag[-1] -= smooth
    if n == 1:
        diag = (weight + prior).astype(np.complex128)
    rhs = weight * np.exp(1j * phi) + prior
    try:
        from scipy.linalg import solve_banded  # C speed where available (Blender may lack scipy)
    except ImportError:
        solve_banded = None
    if solve_banded is not None:
        ab = np.zeros((3, n), np.complex128)
        ab[0, 1:], ab[1], ab[2, :-1] = -smooth, diag, -smooth
        return np.angle(solve_banded((1, 1), ab, rhs))
    rhs, diag = rhs.tolist(), diag.tolist()
    # Thomas algorithm (off-diagonals -smooth) on plain complex numbers
    c, d = [-smooth / diag[0]], [rhs[0] / diag[0]]
    for t in range(1, n):
        m = diag[t] + smooth * c[-1]
        c.append(-smooth / m)
        d.append((rhs[t] + smooth * d[-1]) / m)
    for t in range(n - 2, -1, -1):
        d[t] -= c[t] * d[t + 1]
    return np.angle(np.array(d))


def _axis_angle_matrix(axis: np.ndarray, angle: np.ndarray) -> np.ndarray:
    """Rotations ``(T, 3, 3)`` by ``angle (T,)`` about unit ``axis (T, 3)`` (Rodrigues)."""
    c, s = np.cos(angle)[:, None, None], np.sin(angle)[:, None, None]
    k = np.zeros(axis.shape[:-1] + (3, 3))
    k[:, 0, 1], k[:, 0, 2], k[:, 1, 2] = -axis[:, 2], axis[:, 1], -axis[:, 0]
    k[:, 1, 0], k[:, 2, 0], k[:, 2, 1] = axis[:, 2], -axis[:, 1], axis[:, 0]
    return c * np.eye(3) + s * k + (1 - c) * axis[:, :, None] * axis[:, None, :]


def transport(b: np.ndarray, u0: np.ndarray) -> np.ndarray:
    """Parallel transport ``(T, 3)`` of the vector ``u0`` (perpendicular to ``b[0]``) along the
    unit directions ``b (T, 3)``: each frame turned by the smallest rotation b[t-1] -> b[t].

    Vectorised: in a per-frame reference frame (s_t, b_t x s_t) across the bone, the angle
    of the transported vector grows by the angle between s_t and the turned s_{t-1}."""
    axes = np.eye(3)[np.argmin(np.abs(b), axis=-1)]  # the axis least along each b
    s = normalize(cross(b, axes))
    turned = np.einsum("tij,tj->ti", swing(b[:-1], b[1:]), s[:-1])
    step = np.arctan2((b[1:] * cross(s[1:], turned)).sum(-1), (s[1:] * turned).sum(-1))
    alpha = np.arctan2((b[0] * cross(s[0], u0)).sum(), s[0] @ u0) + np.concatenate([[0.0], np.cumsum(step)])
    return np.cos(alpha)[:, None] * s + np.sin(alpha)[:, None] * cross(b, s)


def _perpendicular(v: np.ndarray) -> np.ndarray:
    """A unit vector perpendicular to ``v (3,)``."""
    e = cross(v, [1.0, 0.0, 0.0])
    return normalize(e if np.linalg.norm(e) > 1e-6 * np.linalg.norm(v) else cross(v, [0.0, 0.0, 1.0]))


def _limb_rotation(rest: np.ndarray, x: np.ndarray, j: int, parent_rot: np.ndarray) -> np.ndarray:
    """World rotation (T, 3, 3) of a thigh / upper arm ``j`` (see the module docstring)."""
    mid, end, side = LIMBS[j]
    b = normalize(x[:, mid] - x[:, j], 1e-12)
    out, sin = bend_direction(x[:, j], x[:, mid], x[:, end])
    rest_b = rest[mid] - rest[j]
    bend = frame(b, out) @ frame(rest_b, side * body_axes(rest)[3]).T
    # the twist-free reference: starts with no twist relative to the parent, then carried
    # along the bone frame by frame with the smallest rotations (parallel transport)
    start = swing(parent_rot[0] @ rest_b, b[0]) @ parent_rot[0]
    e = _perpendicular(rest_b)
    ref = frame(b, transport(b, start @ e)) @ frame(rest_b, e).T
    # both take the rest bone onto b: they differ by a turn phi about b
    d = bend @ np.swapaxes(ref, -1, -2)
    vee = np.stack([d[:, 2, 1] - d[:, 1, 2], d[:, 0, 2] - d[:, 2, 0], d[:, 1, 0] - d[:, 0, 1]], -1)
    phi = np.arctan2(0.5 * (vee * b).sum(-1), 0.5 * (np.trace(d, axis1=1, axis2=2) - 1.0))
    theta = smooth_angle(phi, TWIST_CONFIDENCE * smoothstep(sin, 0.1, 0.35))
    return _axis_angle_matrix(b, theta) @ ref


def _from_parent(rest: np.ndarray, x: np.ndarray, j: int, c: int, p: int,
                 parent_rot: np.ndarray) -> np.ndarray:
    """Smallest rotation from the parent bone p -> j onto j -> c, the rest bend removed."""
    rest_in, rest_out = rest[j] - rest[p], rest[c] - rest[j]
    straighten = swing(rest_out, rest_in)
    return swing(parent_rot @ rest_in, x[:, c] - x[:, j]) @ parent_rot @ straighten


def solve_world_rotations(rest: np.ndarray, joints: np.ndarray,
                          child: dict[int, int | None] | None = None,
                          follow: dict[int, int | None] | None = None,
                          order: list[int] | None = None,
                          rest_frames: dict[int, np.ndarray] | None = None) -> dict[int, np.ndarray]:
    """World delta rotations ``{j: (T, 3, 3)}`` taking the rest pose ``(22, 3)`` to
    ``joints (T, 22, 3)``.

    child: primary child of each solved joint (default :data:`PRIMARY_CHILD`, all 22);
    follow: for joints without a child, whose rotation they take (default their parent;
    None: identity); order: parents before the joints that follow them (default 0..21);
    rest_frames: precomputed :func:`segment_frames` of the rest pose.
    """
    child = PRIMARY_CHILD if child is None else child
    follow = {j: PARENTS[j] if PARENTS[j] >= 0 else None for j in child} if follow is None else follow
    order = sorted(child) if order is None else order
    joints = np.asarray(joints, np.float64)
    rest_frames = segment_frames(np.asarray(rest, np.float64), child) if rest_frames is None else rest_frames
    sec = secondary_directions(joints)
    rest = np.asarray(rest, np.float64)
    eye = np.broadcast_to(np.eye(3), (len(joints), 3, 3))
    out: dict[int, np.ndarray] = {}
    for j in order:
        p = follow.get(j)
        parent_rot = out[p] if p is not None else eye
        c = child.get(j)
        if j in LIMBS and c == LIMBS[j][0]:
            out[j] = _limb_rotation(rest, joints, j, parent_rot)
        elif j in FROM_PARENT and c is not None and p is not None and child.get(p) == j:
            out[j] = _from_parent(rest, joints, j, c, p, parent_rot)
        elif j in rest_frames:
            out[j] = frame(primary_direction(joints, j, c), sec[j]) @ rest_frames[j].T
        else:
            out[j] = parent_rot
    return out


__all__ = ["PRIMARY_CHILD", "LIMBS", "FROM_PARENT", "bend_direction", "smooth_angle", "normalize", "frame", "swing", "secondary_directions",
           "primary_direction", "segment_frames", "solve_world_rotations", "transport"]
