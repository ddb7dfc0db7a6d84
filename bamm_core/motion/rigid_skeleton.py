"""A rigid skeleton for predicted joints: rotations solved from the positions, then FK.

HumanML3D models predict every joint's position separately, so a generated motion's bones
change length from frame to frame.  :func:`rigid_joints` puts the motion on one skeleton
with fixed bone lengths: :func:`rigid_offsets` measures it (each bone's median length, in the
HumanML3D rest directions; below the two branching joints, pelvis and spine3, the motion's
own median sibling geometry, so one rotation places all of their children),
:func:`~bamm_core.motion.rotation_solver.solve_world_rotations` (the one solver behind the
BVH export and rig retargeting) gives each joint's world rotation, and forward kinematics
from the predicted root path places the joints:
``x[k] = x[parent] + D_parent (rest[k] - rest[parent])``.  The root path is kept exactly.

A joint with one child only turns that bone (the solver matches its direction exactly), so
the rotations that shape the body are those of the branching joints: for them the FK uses
the least-squares rotation of all their children (:func:`fit_rotations`, Kabsch), which
spreads the prediction's noise over the hips and spine (or neck and collars) instead of
passing one short bone's wobble on to the others.  The result is a rigid skeleton, so the
BVH export reproduces it exactly.
"""
from __future__ import annotations

import numpy as np

from .rotation_solver import PRIMARY_CHILD, normalize, segment_frames, solve_world_rotations
from .skeleton import PARENTS, RAW_OFFSETS, bone_lengths

#: joints with several children, placed together by the joint's one rotation
BRANCHING = (0, 9)


def rest_pose(offsets: np.ndarray) -> np.ndarray:
    """(22, 3) rest positions (root at the origin) of (22, 3) offsets from each parent."""
    pos = np.zeros((len(PARENTS), 3))
    for j, p in enumerate(PARENTS):  # parents come before their children
        if p >= 0:
            pos[j] = pos[p] + offsets[j]
    return pos


def children(j: int) -> list[int]:
    return [k for k, p in enumerate(PARENTS) if p == j]


def fit_rotations(rest_vectors: np.ndarray, posed_vectors: np.ndarray) -> np.ndarray:
    """(T, 3, 3) rotations ``R`` minimising ``sum_i |R a_i - b_i(t)|^2`` (Kabsch) of
    ``rest_vectors`` a ``(n, 3)`` onto ``posed_vectors`` b ``(T, n, 3)``."""
    h = np.einsum("ni,tnj->tij", rest_vectors, posed_vectors)          # sum a b^T
    u, _, vt = np.linalg.svd(h)
    d = np.sign(np.linalg.det(np.swapaxes(vt, -1, -2) @ np.swapaxes(u, -1, -2)))
    vt[:, 2] *= d[:, None]
    return np.swapaxes(vt, -1, -2) @ np.swapaxes(u, -1, -2)


def rigid_offsets(joints: np.ndarray, iterations: int = 2,
                  directions: np.ndarray | None = None) -> np.ndarray:
    """(22, 3) offsets of the rigid skeleton that fits ``joints`` ``(T, 22, 3)`` best (see
    the module docstring): median bone lengths along ``directions`` (default the skeleton's
    raw offsets); below a branching joint, the children's median directions in that joint's
    frame (the solver's at first, then, for ``iterations`` rounds, the fitted one)."""
    x = np.asarray(joints, dtype=np.float64)
    dirs = RAW_OFFSETS if directions is None else np.asarray(directions, dtype=np.float64)
    offs = normalize(dirs, 1e-12) * np.median(bone_lengths(x), axis=0)[:, None]
    child = {j: PRIMARY_CHILD[j] for j in BRANCHING}
    rest_frames = segment_frames(rest_pose(offs), child)
    posed = segment_frames(x, child)
    rots = {j: posed[j] @ rest_frames[j].T for j in BRANCHING}               # (T, 3, 3)
    for it in range(iterations + 1):
        for j in BRANCHING:
            ks = children(j)
            if it:
                rots[j] = fit_rotations(offs[ks], x[:, ks] - x[:, j:j + 1])
            for k in ks:
                local = np.einsum("tji,tj->ti", rots[j], x[:, k] - x[:, j])  # R^T (x_k - x_j)
                offs[k] = normalize(np.median(local, axis=0)) * np.linalg.norm(offs[k])
    return offs


def rigid_joints(joints, offsets: np.ndarray | None = None) -> np.ndarray:
    """``joints`` ``(T, 22, 3)`` on a rigid skeleton (``offsets`` default
    :func:`rigid_offsets` of the motion); same dtype, root path unchanged."""
    x = np.asarray(joints)
    if x.ndim != 3 or x.shape[1:] != (len(PARENTS), 3):
        raise ValueError(f"joints must be (T, 22, 3), got {x.shape}")
    j64 = x.astype(np.float64)
    offs = rigid_offsets(j64) if offsets is None else np.asarray(offsets, dtype=np.float64)
    rest = rest_pose(offs)
    world = solve_world_rotations(rest, j64)
    for j in BRANCHING:
        ks = children(j)
        world[j] = fit_rotations(rest[ks] - rest[j], j64[:, ks] - j64[:, j:j + 1])
    out = np.empty_like(j64)
    out[:, 0] = j64[:, 0]
    for k, p in enumerate(PARENTS):
        if p >= 0:
            out[:, k] = out[:, p] + world[p] @ (rest[k] - rest[p])
    return out.astype(x.dtype) if np.issubdtype(x.dtype, np.floating) else out


__all__ = ["rigid_joints", "rigid_offsets", "fit_rotations", "rest_pose", "BRANCHING"]
