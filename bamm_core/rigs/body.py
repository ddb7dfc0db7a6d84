"""A body mesh on the 22-joint skeleton: model weights folded onto the body joints, the rest
mesh fitted to a rig's rest pose, linear blend skinning (pure numpy).

The body comes from :mod:`.body_model` (SMPL / SMPL-H / SMPL-X).  Joints beyond the 22 body
joints (SMPL's hands, SMPL-X's jaw, eyes and fingers) give their skinning weight to their
nearest ancestor among the 22 (:func:`body_weights`).  :func:`fit_body` poses and stretches
the model's rest mesh onto any rest pose of the 22 joints (the add-on's SMPL-22 armature, in
its own armature space: any up axis, any unit): every joint's segment is turned onto the
target's with :func:`bamm_core.motion.rotation_solver.solve_world_rotations` and moved to the
target joint, the model's weights blend these rigid transforms.  The fitted mesh then follows
a motion with :func:`skin` exactly as an armature with the same rest deforms it.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..motion.rotation_solver import solve_world_rotations
from .body_model import BodyModel, BodyModelError
from .rest_pose import NUM_JOINTS, PARENTS


@dataclass
class Body:
    """A rest mesh matched to a rest pose: vertices (V, 3) and joints (22, 3) in the rest
    pose's space, faces (F, 3), weights (V, 22) (rows sum to 1), the source model's kind."""

    vertices: np.ndarray
    faces: np.ndarray
    joints: np.ndarray
    weights: np.ndarray
    kind: str = "SMPL"


def body_ancestor(parents: np.ndarray) -> np.ndarray:
    """For every model joint the body joint (< 22) it follows: itself or its nearest ancestor."""
    out = np.arange(len(parents))
    for k in range(NUM_JOINTS, len(parents)):
        a = k
        while a >= NUM_JOINTS:
            a = int(parents[a])
        out[k] = a
    return out


def body_weights(weights: np.ndarray, parents: np.ndarray) -> np.ndarray:
    """Model weights (V, K) -> (V, 22): hands, fingers, jaw and eyes added to their body joint;
    rows normalised to sum 1 (a vertex without weight stays all zero)."""
    w = np.asarray(weights, np.float64)
    out = np.zeros((len(w), NUM_JOINTS))
    np.add.at(out.T, body_ancestor(np.asarray(parents)), w.T)
    total = out.sum(axis=1, keepdims=True)
    return np.divide(out, total, out=np.zeros_like(out), where=total > 0)


def bone_length_sum(joints: np.ndarray) -> float:
    j = np.asarray(joints, np.float64)[:NUM_JOINTS]
    return float(np.linalg.norm(j[1:] - j[PARENTS[1:]], axis=1).sum())


def fit_body(model: BodyModel, rest_joints: np.ndarray) -> Body:
    """The model's mesh fitted to ``rest_joints (22, 3)`` (any space, unit and orientation).

    The mesh is scaled by the ratio of the skeletons' total bone lengths, each joint's segment
    turned onto the target's and moved onto the target joint; vertices blend their joints'
    transforms with the model's weights.  Each model joint lands exactly on its target joint.
    """
    x = np.asarray(rest_joints, np.float64)
    if x.shape != (NUM_JOINTS, 3) or not np.all(np.isfinite(x)):
        raise BodyModelError(f"rest joints must be a finite (22, 3) array, got {x.shape}")
    src = np.asarray(model.joints, np.float64)[:NUM_JOINTS]
    scale = bone_length_sum(x) / max(bone_length_sum(src), 1e-9)
    if not np.isfinite(scale) or scale <= 0:
        raise BodyModelError("the rest pose's bones have no length")
    rot = solve_world_rotations(src * scale, x[None])
    d = np.stack([rot[j][0] for j in range(NUM_JOINTS)])  # (22, 3, 3)
    weights = body_weights(model.weights, model.parents)
    vertices = _blend(np.asarray(model.vertices, np.float64) * scale, weights, d, src * scale, x)
    return Body(vertices=vertices, faces=np.asarray(model.faces, np.int64), joints=x.copy(),
                weights=weights, kind=model.kind)


def _blend(v: np.ndarray, weights: np.ndarray, rot: np.ndarray, rest: np.ndarray, posed: np.ndarray) -> np.ndarray:
    """sum_j w_j (R_j (v - rest_j) + posed_j) for one pose: v (V, 3), rot (22, 3, 3)."""
    per_joint = np.einsum("jab,vjb->vja", rot, v[:, None, :] - rest[None]) + posed[None]
    return np.einsum("vj,vja->va", weights, per_joint)


def skin(body: Body, rotations: dict[int, np.ndarray] | np.ndarray, joints: np.ndarray) -> np.ndarray:
    """Linear blend skinning: vertices ``(T, V, 3)`` for world delta rotations ``(T, 22, 3, 3)``
    (or :func:`solve_world_rotations`' dict) and posed joints ``(T, 22, 3)`` in the body's space."""
    if isinstance(rotations, dict):
        rotations = np.stack([rotations[j] for j in range(NUM_JOINTS)], axis=1)
    rot = np.asarray(rotations, np.float64)
    x = np.asarray(joints, np.float64)
    return np.stack([_blend(body.vertices, body.weights, rot[t], body.joints, x[t]) for t in range(len(x))])


def pose_body(body: Body, joints: np.ndarray) -> np.ndarray:
    """Vertices ``(T, V, 3)`` following joint positions ``(T, 22, 3)`` (the body's space):
    rotations from the rotation solver (as the rig pipeline keys them), then :func:`skin`."""
    x = np.asarray(joints, np.float64)
    if x.ndim != 3 or x.shape[1:] != (NUM_JOINTS, 3):
        raise BodyModelError(f"a body follows (T, 22, 3) joints, got {x.shape}")
    return skin(body, solve_world_rotations(body.joints, x), x)


__all__ = ["Body", "body_ancestor", "body_weights", "fit_body", "skin", "pose_body", "bone_length_sum"]
