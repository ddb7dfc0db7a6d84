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


def _transposed(m: np.ndarray) -> np.ndarray:
    return np.swapaxes(m, -1, -2)


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


def _by_joint(x: np.ndarray) -> np.ndarray:
    """A view of joints ``(..., 22, 3)`` with the joint axis first: ``(22, ..., 3)``."""
    return np.moveaxis(np.asarray(x), -2, 0)


def _body_axes(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """:func:`body_axes` of joint-first joints ``(22, ..., 3)``."""
    hip_across = normalize(x[1] - x[2])
    sh_across = normalize(x[16] - x[17])
    up = normalize(x[12] - x[0])
    return hip_across, sh_across, up, normalize(cross(sh_across + hip_across, up))


def body_axes(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Unit hip line, shoulder line (both right -> left), up (pelvis -> neck) and forward
    ``(..., 3)`` of joints ``(..., 22, 3)``."""
    return _body_axes(_by_joint(x))


#: joints whose twist reference is a limb's bending plane (hips, knees, ankles, shoulders,
#: elbows); the others' come from the body axes alone
_BEND_SECONDARY = frozenset((1, 4, 7, 2, 5, 8, 16, 18, 17, 19))


def _secondary(x: np.ndarray, limbs: bool = True) -> dict[int, np.ndarray]:
    """:func:`secondary_directions` of joint-first joints ``(22, ..., 3)``; ``limbs=False``
    leaves out the limb joints' (bending-plane) references."""
    hip_across, sh_across, up, fwd = _body_axes(x)
    sec: dict[int, np.ndarray] = {0: x[3] - x[0], 3: hip_across + sh_across, 6: hip_across + 2 * sh_across,
                                  9: x[13] - x[14], 12: sh_across, 13: up, 14: up}
    if not limbs:
        return sec
    # both legs, then both arms, at once: (2, ..., 3) arrays
    legs = _bend_normal(cross(normalize(x[[4, 5]] - x[[1, 2]]), normalize(x[[7, 8]] - x[[4, 5]])),
                        hip_across)
    upper = normalize(x[[18, 19]] - x[[16, 17]])
    arms = _bend_normal(cross(upper, normalize(x[[20, 21]] - x[[18, 19]])), cross(upper, fwd - 0.3 * up))
    for side in range(2):
        for j in ((1, 4, 7), (2, 5, 8))[side]:
            sec[j] = legs[side]
        for j in ((16, 18), (17, 19))[side]:
            sec[j] = arms[side]
    return sec


def secondary_directions(x: np.ndarray) -> dict[int, np.ndarray]:
    """Twist reference vector ``(..., 3)`` of every joint that has a frame, from joints
    ``(..., 22, 3)`` alone (independent of the space they are expressed in)."""
    return _secondary(_by_joint(x))


def primary_direction(x: np.ndarray, j: int, child: int | None) -> np.ndarray:
    """The exactly matched direction of joint j's segment (the hip line for the pelvis)."""
    if j == 0:
        return x[..., 1, :] - x[..., 2, :]
    return x[..., child, :] - x[..., j, :]


def _frames(x: np.ndarray, joints: list[int], child: dict[int, int | None],
            sec: dict[int, np.ndarray]) -> np.ndarray:
    """Segment frames ``(G, ..., 3, 3)`` of ``joints`` (G of them, each with a frame) of
    joint-first joints ``x (22, ..., 3)``, all at once."""
    tips = [1 if j == 0 else child[j] for j in joints]   # primary_direction, by index
    bases = [2 if j == 0 else j for j in joints]
    return frame(x[tips] - x[bases], np.stack([sec[j] for j in joints]))


def segment_frames(x: np.ndarray, child: dict[int, int | None],
                   secondary: dict[int, np.ndarray] | None = None) -> dict[int, np.ndarray]:
    """Frame ``(..., 3, 3)`` of every joint that has one (the pelvis, joints with a child)."""
    xj = _by_joint(np.asarray(x, np.float64))
    joints = [j for j, c in child.items() if j == 0 or c is not None]
    if not joints:
        return {}
    limbs = secondary is None and not _BEND_SECONDARY.isdisjoint(joints)
    sec = _secondary(xj, limbs) if secondary is None else secondary
    return dict(zip(joints, _frames(xj, joints, child, sec)))


def bend_direction(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For two-bone limbs ``a -> b -> c`` ``(..., F, 3)``: the unit direction in which the
    middle joint sticks out of the limb, and the sine of the bend angle (0 when straight)."""
    upper = normalize(b - a, 1e-12)
    lower = normalize(c - b, 1e-12)
    perp = lower - (lower * upper).sum(-1, keepdims=True) * upper
    sin = np.linalg.norm(perp, axis=-1)
    return -perp / np.maximum(sin, 1e-9)[..., None], sin


def _zgtsv():
    """LAPACK's complex tridiagonal solver from scipy, or None (Blender may lack scipy)."""
    try:
        from scipy.linalg.lapack import zgtsv
    except ImportError:
        return None
    return zgtsv


def _solve_tridiagonal(off: np.ndarray, diag: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    """Solve the symmetric tridiagonal system (diagonal ``diag (n,)``, both off-diagonals
    ``off (n - 1,)``) for the complex ``rhs (n,)``: LAPACK's gtsv (what
    ``scipy.linalg.solve_banded`` calls) where scipy exists, the Thomas algorithm else."""
    if len(diag) == 1:
        return rhs / diag
    gtsv = _zgtsv()
    if gtsv is not None:
        off = off.astype(np.complex128)
        *_, z, info = gtsv(off, diag.astype(np.complex128), off.copy(), rhs.astype(np.complex128))
        if info > 0:
            raise np.linalg.LinAlgError("singular matrix")
        return z
    off, rhs, diag = off.tolist(), rhs.tolist(), diag.tolist()
    # Thomas algorithm on plain complex numbers
    c, d = [off[0] / diag[0] if off else 0.0], [rhs[0] / diag[0]]
    for t in range(1, len(diag)):
        m = diag[t] - off[t - 1] * c[-1]
        c.append(off[t] / m if t < len(off) else 0.0)
        d.append((rhs[t] - off[t - 1] * d[-1]) / m)
    for t in range(len(diag) - 2, -1, -1):
        d[t] -= c[t] * d[t + 1]
    return np.array(d)


def smooth_angle(phi: np.ndarray, weight: np.ndarray, smooth: float = 4.0, prior: float = 1e-3) -> np.ndarray:
    """A smooth angle signal that follows the observed angles ``phi`` where ``weight`` is high.

    Solves ``min sum w |z - e^{i phi}|^2 + prior |z - 1|^2 + smooth sum |z_t - z_{t-1}|^2`` for
    complex ``z`` (a tridiagonal system, no unwrapping needed) and returns ``arg z``: where the
    observations are weak (a straight limb) the angle glides between the confident frames.
    ``phi`` and ``weight`` ``(..., n)``: each row is its own signal (all rows are solved as
    one block-diagonal system).
    """
    phi, weight = np.broadcast_arrays(np.asarray(phi, np.float64), np.asarray(weight, np.float64))
    n = phi.shape[-1]
    diag = (weight + prior + 2 * smooth).astype(np.complex128)
    diag[..., 0] -= smooth
    diag[..., -1] -= smooth
    if n == 1:
        diag = (weight + prior).astype(np.complex128)
    rhs = weight * np.exp(1j * phi) + prior
    off = np.full(diag.shape, -smooth, np.complex128)
    off[..., -1] = 0.0                      # no coupling from one row's end to the next row
    z = _solve_tridiagonal(off.reshape(-1)[:-1], diag.reshape(-1), rhs.reshape(-1))
    return np.angle(z).reshape(phi.shape)


def _axis_angle_matrix(axis: np.ndarray, angle: np.ndarray) -> np.ndarray:
    """Rotations ``(..., 3, 3)`` by ``angle (...)`` about unit ``axis (..., 3)`` (Rodrigues)."""
    c, s = np.cos(angle)[..., None, None], np.sin(angle)[..., None, None]
    k = np.zeros(axis.shape[:-1] + (3, 3))
    k[..., 0, 1], k[..., 0, 2], k[..., 1, 2] = -axis[..., 2], axis[..., 1], -axis[..., 0]
    k[..., 1, 0], k[..., 2, 0], k[..., 2, 1] = axis[..., 2], -axis[..., 1], axis[..., 0]
    return c * np.eye(3) + s * k + (1 - c) * axis[..., :, None] * axis[..., None, :]


def transport(b: np.ndarray, u0: np.ndarray) -> np.ndarray:
    """Parallel transport ``(..., T, 3)`` of the vector ``u0 (..., 3)`` (perpendicular to
    ``b[..., 0, :]``) along the unit directions ``b (..., T, 3)``: each frame turned by the
    smallest rotation b[t-1] -> b[t].

    Vectorised: in a per-frame reference frame (s_t, b_t x s_t) across the bone, the angle
    of the transported vector grows by the angle between s_t and the turned s_{t-1}."""
    axes = np.eye(3)[np.argmin(np.abs(b), axis=-1)]  # the axis least along each b
    s = normalize(cross(b, axes))
    turned = np.einsum("...ij,...j->...i", swing(b[..., :-1, :], b[..., 1:, :]), s[..., :-1, :])
    step = np.arctan2((b[..., 1:, :] * cross(s[..., 1:, :], turned)).sum(-1),
                      (s[..., 1:, :] * turned).sum(-1))
    s0 = s[..., 0, :]
    alpha0 = np.arctan2((b[..., 0, :] * cross(s0, u0)).sum(-1), (s0 * u0).sum(-1))
    alpha = alpha0[..., None] + np.concatenate([np.zeros(step.shape[:-1] + (1,)), np.cumsum(step, -1)], -1)
    return np.cos(alpha)[..., None] * s + np.sin(alpha)[..., None] * cross(b, s)


def _perpendicular(v: np.ndarray) -> np.ndarray:
    """Unit vectors ``(..., 3)`` perpendicular to ``v (..., 3)``."""
    e = cross(v, [1.0, 0.0, 0.0])
    ok = np.linalg.norm(e, axis=-1) > 1e-6 * np.linalg.norm(v, axis=-1)
    return normalize(np.where(ok[..., None], e, cross(v, [0.0, 0.0, 1.0])))


def _limb_rotations(rest: np.ndarray, x: np.ndarray, limbs: list[int],
                    parent_rots: np.ndarray) -> np.ndarray:
    """World rotations ``(G, T, 3, 3)`` of G thighs / upper arms ``limbs`` (see the module
    docstring) of joint-first joints ``x (22, T, 3)``; ``parent_rots (G, 3, 3)``: their
    parents' rotations at frame 0."""
    mid, end = [LIMBS[j][0] for j in limbs], [LIMBS[j][1] for j in limbs]
    side = np.array([LIMBS[j][2] for j in limbs], np.float64)[:, None]
    root = x[limbs]
    b = normalize(x[mid] - root, 1e-12)                                    # (G, T, 3)
    out, sin = bend_direction(root, x[mid], x[end])
    rest_b = rest[mid] - rest[limbs]                                       # (G, 3)
    bend = frame(b, out) @ _transposed(frame(rest_b, side * body_axes(rest)[3]))[:, None]
    # the twist-free reference: starts with no twist relative to the parent, then carried
    # along the bone frame by frame with the smallest rotations (parallel transport)
    start = swing((parent_rots @ rest_b[..., None])[..., 0], b[:, 0]) @ parent_rots
    e = _perpendicular(rest_b)
    u0 = (start @ e[..., None])[..., 0]
    ref = frame(b, transport(b, u0)) @ _transposed(frame(rest_b, e))[:, None]
    # both take the rest bone onto b: they differ by a turn phi about b
    d = bend @ _transposed(ref)
    vee = np.stack([d[..., 2, 1] - d[..., 1, 2], d[..., 0, 2] - d[..., 2, 0], d[..., 1, 0] - d[..., 0, 1]], -1)
    phi = np.arctan2(0.5 * (vee * b).sum(-1), 0.5 * (np.trace(d, axis1=-2, axis2=-1) - 1.0))
    theta = smooth_angle(phi, TWIST_CONFIDENCE * smoothstep(sin, 0.1, 0.35))
    return _axis_angle_matrix(b, theta) @ ref


def _from_parent(rest: np.ndarray, x: np.ndarray, joints: list[int], children: list[int],
                 parents: list[int], parent_rots: np.ndarray) -> np.ndarray:
    """Rotations ``(G, T, 3, 3)``: for each of G ``joints``, the smallest rotation from the
    parent bone p -> j onto j -> c, the rest bend removed; ``parent_rots (G, T, 3, 3)``."""
    rest_in, rest_out = rest[joints] - rest[parents], rest[children] - rest[joints]   # (G, 3)
    straighten = swing(rest_out, rest_in)
    carried = (parent_rots @ rest_in[:, None, :, None])[..., 0]                       # (G, T, 3)
    return swing(carried, x[children] - x[joints]) @ parent_rots @ straighten[:, None]


def _plan(child: dict[int, int | None], follow: dict[int, int | None], order: list[int],
          framed) -> list[tuple[str, list[int]]]:
    """How :func:`solve_world_rotations` solves the joints of ``order``: groups
    ``(kind, joints)`` that are solved together, each after the joints it depends on.
    Kinds: "limb" (a thigh / upper arm), "hinge" (:data:`FROM_PARENT`), "frame" (its
    segment frame), "follow" (another joint's rotation)."""
    kinds: dict[int, str] = {}
    level: dict[int, int] = {}
    for j in order:
        p, c = follow.get(j), child.get(j)
        if j in LIMBS and c == LIMBS[j][0]:
            kinds[j] = "limb"
        elif j in FROM_PARENT and c is not None and p is not None and child.get(p) == j:
            kinds[j] = "hinge"
        elif j in framed:
            kinds[j] = "frame"
        else:
            kinds[j] = "follow"
        level[j] = 0 if kinds[j] == "frame" or p is None else level[p] + 1
    groups: dict[tuple[int, str], list[int]] = {}
    for j in order:
        groups.setdefault((level[j], kinds[j]), []).append(j)
    return [(kind, joints) for (_, kind), joints in sorted(groups.items())]


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
    rest_frames: precomputed :func:`segment_frames` of the rest pose.  Joints of one kind
    that do not depend on each other are solved together (vectorised over joints).
    """
    child = PRIMARY_CHILD if child is None else child
    follow = {j: PARENTS[j] if PARENTS[j] >= 0 else None for j in child} if follow is None else follow
    order = sorted(child) if order is None else order
    joints = np.asarray(joints, np.float64)
    rest = np.asarray(rest, np.float64)
    rest_frames = segment_frames(rest, child) if rest_frames is None else rest_frames
    x = _by_joint(joints)                                                  # (22, T, 3)
    eye = np.broadcast_to(np.eye(3), (len(joints), 3, 3))
    out: dict[int, np.ndarray] = {}

    def parent_rot(j: int) -> np.ndarray:
        return eye if follow.get(j) is None else out[follow[j]]

    plan = _plan(child, follow, order, rest_frames)
    framed = [j for kind, group in plan if kind == "frame" for j in group]
    sec = _secondary(x, not _BEND_SECONDARY.isdisjoint(framed)) if framed else {}
    for kind, group in plan:
        if kind == "frame":
            rest_t = _transposed(np.stack([rest_frames[j] for j in group]))[:, None]
            rots = _frames(x, group, child, sec) @ rest_t
        elif kind == "limb":
            rots = _limb_rotations(rest, x, group, np.stack([parent_rot(j)[0] for j in group]))
        elif kind == "hinge":
            rots = _from_parent(rest, x, group, [child[j] for j in group], [follow[j] for j in group],
                                np.stack([parent_rot(j) for j in group]))
        else:
            rots = [parent_rot(j) for j in group]
        out.update(zip(group, rots))
    return {j: out[j] for j in order}


__all__ = ["PRIMARY_CHILD", "LIMBS", "FROM_PARENT", "bend_direction", "smooth_angle", "normalize", "frame", "swing", "secondary_directions",
           "primary_direction", "segment_frames", "solve_world_rotations", "transport", "body_axes"]
