"""A rigid skeleton for predicted joints: rotations solved from the positions, then FK.

HumanML3D models predict every joint's position separately, so a generated motion's bones
change length from frame to frame.  :func:`rigid_joints` puts the motion on one skeleton
with fixed bone lengths: :func:`rigid_offsets` measures it (each bone's median length, in the
HumanML3D rest directions; below the two branching joints, pelvis and spine3, the motion's
own median sibling geometry, so one rotation places all of their children), and forward
kinematics from the predicted root path places the joints with each joint's world rotation
``D`` (:func:`~bamm_core.motion.rotation_solver.solve_world_rotations`, the one solver behind
the BVH export and rig retargeting): ``x[k] = x[parent] + D_parent (rest[k] - rest[parent])``.
The root path is kept exactly.

A joint with one child only turns that bone (the solver matches its direction exactly), so
the FK places such a child at the rest bone's length along the predicted bone's direction,
which is what the solver's rotation gives, without solving the rotation.  The rotations that
shape the body are those of the branching joints: for them the FK uses the least-squares
rotation of all their children (:func:`fit_rotations`, Kabsch), which spreads the
prediction's noise over the hips and spine (or neck and collars) instead of passing one short
bone's wobble on to the others.  The result is a rigid skeleton, so the BVH export
reproduces it exactly.
"""
from __future__ import annotations

import numpy as np

from .rotation_solver import PRIMARY_CHILD, normalize, segment_frames
from .skeleton import PARENTS, RAW_OFFSETS, bone_lengths

#: joints with several children, placed together by the joint's one rotation
BRANCHING = (0, 9)


def children(j: int) -> list[int]:
    return [k for k, p in enumerate(PARENTS) if p == j]


#: the children of each branching joint (as many for each: three)
_BRANCH_CHILDREN = np.array([children(j) for j in BRANCHING])
#: the parent of each joint (the root's: itself)
_PARENT_INDEX = np.maximum(np.array(PARENTS), 0)
#: the joints below the root by depth in the tree: FK places one depth at a time
_DEPTHS: list[np.ndarray] = []
_depth = {0: 0}
for _k, _p in enumerate(PARENTS):  # parents come before their children
    if _p >= 0:
        _depth[_k] = _depth[_p] + 1
        while len(_DEPTHS) < _depth[_k]:
            _DEPTHS.append(np.array([], dtype=int))
        _DEPTHS[_depth[_k] - 1] = np.append(_DEPTHS[_depth[_k] - 1], _k)
del _k, _p, _depth


def rest_pose(offsets: np.ndarray) -> np.ndarray:
    """(22, 3) rest positions (root at the origin) of (22, 3) offsets from each parent."""
    pos = np.zeros((len(PARENTS), 3))
    for ks in _DEPTHS:
        pos[ks] = pos[_PARENT_INDEX[ks]] + offsets[ks]
    return pos


def fit_rotations(rest_vectors: np.ndarray, posed_vectors: np.ndarray) -> np.ndarray:
    """(..., T, 3, 3) rotations ``R`` minimising ``sum_i |R a_i - b_i(t)|^2`` (Kabsch) of
    ``rest_vectors`` a ``(..., n, 3)`` onto ``posed_vectors`` b ``(..., T, n, 3)``; leading
    dimensions ``...`` are separate fits, solved in one batch."""
    h = np.einsum("...ni,...tnj->...tij", rest_vectors, posed_vectors)   # sum a b^T
    u, _, vt = np.linalg.svd(h)
    d = np.sign(np.linalg.det(np.swapaxes(vt, -1, -2) @ np.swapaxes(u, -1, -2)))
    vt[..., 2, :] *= d[..., None]
    return np.swapaxes(vt, -1, -2) @ np.swapaxes(u, -1, -2)


def _branch_vectors(x: np.ndarray) -> np.ndarray:
    """(2, T, 3, 3): for each branching joint, its children minus it, of joints ``x``."""
    return np.stack([x[:, ks] - x[:, j:j + 1] for j, ks in zip(BRANCHING, _BRANCH_CHILDREN)])


def rigid_offsets(joints: np.ndarray, iterations: int = 2,
                  directions: np.ndarray | None = None) -> np.ndarray:
    """(22, 3) offsets of the rigid skeleton that fits ``joints`` ``(T, 22, 3)`` best (see
    the module docstring): median bone lengths along ``directions`` (default the skeleton's
    raw offsets); below a branching joint, the children's median directions in that joint's
    frame (the solver's at first, then, for ``iterations`` rounds, the fitted one).  Both
    branching joints are handled together (their children's offsets do not interact)."""
    x = np.asarray(joints, dtype=np.float64)
    dirs = RAW_OFFSETS if directions is None else np.asarray(directions, dtype=np.float64)
    offs = normalize(dirs, 1e-12) * np.median(bone_lengths(x), axis=0)[:, None]
    child = {j: PRIMARY_CHILD[j] for j in BRANCHING}
    rest_frames = segment_frames(rest_pose(offs), child)
    posed = segment_frames(x, child)
    rots = np.stack([posed[j] @ rest_frames[j].T for j in BRANCHING])        # (2, T, 3, 3)
    ks = _BRANCH_CHILDREN
    vectors = _branch_vectors(x)                                              # (2, T, 3, 3)
    for it in range(iterations + 1):
        if it:
            rots = fit_rotations(offs[ks], vectors)
        local = np.einsum("gtji,gtkj->tgki", rots, vectors)                   # R^T (x_k - x_j)
        lengths = np.array([np.linalg.norm(offs[k]) for k in ks.flat]).reshape(ks.shape)
        offs[ks] = normalize(np.median(local, axis=0)) * lengths[..., None]
    return offs


def rigid_joints(joints, offsets: np.ndarray | None = None) -> np.ndarray:
    """``joints`` ``(T, 22, 3)`` on a rigid skeleton (``offsets`` default
    :func:`rigid_offsets` of the motion); same dtype, root path unchanged."""
    x = np.asarray(joints)
    if x.ndim != 3 or x.shape[1:] != (len(PARENTS), 3):
        raise ValueError(f"joints must be (T, 22, 3), got {x.shape}")
    j64 = x.astype(np.float64)
    offs = rigid_offsets(j64) if offsets is None else np.asarray(offsets, dtype=np.float64)
    out = _forward_kinematics(j64, rest_pose(offs))
    return out.astype(x.dtype) if np.issubdtype(x.dtype, np.floating) else out


def _forward_kinematics(x: np.ndarray, rest: np.ndarray) -> np.ndarray:
    """Joints ``(T, 22, 3)`` on the skeleton ``rest (22, 3)`` following joints ``x`` (see the
    module docstring): the root path of ``x``, the children of a branching joint by its
    fitted rotation of their rest bones, every other joint at the rest bone's length along
    its bone's direction in ``x`` (all joints of one depth in the tree at once)."""
    rest_bones = rest - rest[_PARENT_INDEX]                                  # (22, 3)
    ks = _BRANCH_CHILDREN
    rots = fit_rotations(rest_bones[ks], _branch_vectors(x))                 # (2, T, 3, 3)
    fitted = (rots[:, :, None] @ rest_bones[ks][:, None, :, :, None])[..., 0]   # (2, T, 3, 3)
    bones = np.linalg.norm(rest_bones, axis=-1)[:, None] * normalize(x - x[:, _PARENT_INDEX])
    bones[:, ks] = np.swapaxes(fitted, 0, 1)
    out = np.empty_like(x)
    out[:, 0] = x[:, 0]
    for depth in _DEPTHS:
        out[:, depth] = out[:, _PARENT_INDEX[depth]] + bones[:, depth]
    return out


__all__ = ["rigid_joints", "rigid_offsets", "fit_rotations", "rest_pose", "BRANCHING"]
