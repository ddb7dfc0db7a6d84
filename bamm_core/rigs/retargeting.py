"""Retargeting: 22-joint HumanML3D positions <-> bone rotations of any armature.

Pure numpy (never imports bpy): the Blender add-on only reads an armature's rest pose and
writes the numbers this module computes.

* Motion side: joints ``(T, 22, 3)`` float, metres, Y-up, HumanML3D/SMPL joint order, the
  character faces +Z at frame 0 (see :mod:`bamm_core.motion.skeleton`).
* Rig side: armature space (see :mod:`bamm_core.rigs.rest_pose`).  The rig's own up/forward
  axes are detected from its rest pose and snapped to the nearest principal axes, so Y-up
  or rotated rigs work unchanged.

Every mapped joint ``j`` gets a *world delta rotation* ``D_j(t)`` from the motion layer's one
solver (:func:`bamm_core.motion.rotation_solver.solve_world_rotations`, also behind the BVH
export), with the rig's rest pose as the rest and the joint chains of the mapped bones
(joint -> next mapped joint down the chain, e.g. spine1 -> spine3 without a spine2 bone).
Bones that are not mapped (twist bones, fingers, extra spine bones) inherit their parent's
delta.  Blender's pose ``matrix_basis`` rotation of a bone whose rest rotation is ``R`` and
whose parent's delta is ``D_p`` is then ``R^T D_p^T D_j R`` -- independent of the bone's roll
or direction, which is why differing rolls, A/T-pose rests and odd bone directions need no
special cases.  The root (pelvis) bone also gets a location: the motion's pelvis trajectory
scaled by the leg-length ratio.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..motion.rotation_solver import PRIMARY_CHILD, normalize, segment_frames, solve_world_rotations
from ..motion.rotations import matrix_to_quat, quat_to_matrix
from .rest_pose import (
    J, JOINT_NAMES, NUM_JOINTS, YUP_TO_ZUP, RestPose, RetargetError, check_bone_map,
    fill_missing_joints, resolve_bone_map, smpl_rest_joints,
)


def matrix_to_quaternion(m: np.ndarray) -> np.ndarray:
    """Rotation matrices (..., 3, 3) -> unit quaternions (..., 4) as (w, x, y, z), w >= 0."""
    q = normalize(np.asarray(matrix_to_quat(np.asarray(m, dtype=np.float64)), dtype=np.float64))
    return np.where(q[..., :1] < 0, -q, q)


def quaternion_to_matrix(q: np.ndarray) -> np.ndarray:
    """(..., 4) (w, x, y, z) -> (..., 3, 3)."""
    return np.asarray(quat_to_matrix(np.asarray(q, dtype=np.float64)), dtype=np.float64)


def make_continuous(q: np.ndarray, axis: int = 0) -> np.ndarray:
    """Flip quaternion signs along ``axis`` (time) so consecutive ones have dot >= 0."""
    q = np.moveaxis(np.array(q, dtype=np.float64), axis, 0)
    if q.shape[0] > 1:
        # flipping q[t] also flips its dot with q[t+1]: the signs are a running product
        step = np.where(np.sum(q[1:] * q[:-1], axis=-1) < 0, -1.0, 1.0)
        q[1:] *= np.cumprod(step, axis=0)[..., None]
    return np.moveaxis(q, 0, axis)


def nlerp(q0: np.ndarray, q1: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Normalised lerp between quaternion arrays (..., 4) with weights broadcast on (...)."""
    q1 = np.where(np.sum(q0 * q1, axis=-1, keepdims=True) < 0, -q1, q1)
    w = np.asarray(w, np.float64)[..., None]
    return normalize((1 - w) * q0 + w * q1)


# --------------------------------------------------------------------------------------
# The retargeter
# --------------------------------------------------------------------------------------
@dataclass
class RigPose:
    """Per-bone animation for one armature.

    bone_names: the mapped bones, in the order of the arrays; rotations: (T, K, 4) pose-space
    (``matrix_basis``) quaternions (w, x, y, z), sign-continuous over time; root_bone: name of
    the bone that carries translation; root_location: (T, 3) its pose-space location.
    """

    bone_names: list[str]
    rotations: np.ndarray
    root_bone: str
    root_location: np.ndarray
    joints: np.ndarray = field(default=None)  # (T, 22, 3) target joints in armature space


class Retargeter:
    """Bake 22-joint motions onto one armature, and read its animation back.

    >>> r = Retargeter(rest, {"pelvis": "Hips", "left_hip": "LeftUpLeg", ...})
    >>> pose = r.retarget(joints_yup)          # RigPose: quaternions + root location
    >>> back = r.rig_to_motion(r.fk(pose))     # ~ joints_yup (proportions of the rig)
    """

    def __init__(self, rest: RestPose, joint_to_bone: dict, rig_name: str = "armature"):
        self.rest = rest
        self.map = resolve_bone_map(rest, joint_to_bone)
        check_bone_map(self.map, rig_name)
        self.joints = sorted(self.map)  # mapped joints, parents before children (SMPL order)
        # the joint whose bone is the nearest mapped ancestor of each joint's bone in the rig's
        # own hierarchy (None: only unmapped bones above it); bones are posed relative to it
        bone_joint = {b: j for j, b in self.map.items()}
        self.bone_parent: dict[int, int | None] = {}
        depth: dict[int, int] = {}
        for j, b in self.map.items():
            p, n = int(rest.parents[b]), 0
            while p >= 0 and p not in bone_joint:
                p, n = int(rest.parents[p]), n + 1
            self.bone_parent[j] = bone_joint[p] if p >= 0 else None
            while p >= 0:
                p, n = int(rest.parents[p]), n + 1
            depth[j] = n
        if self.bone_parent[0] is not None:
            raise RetargetError(
                f"{rig_name}: the pelvis bone {rest.names[self.map[0]]!r} is parented under the "
                f"mapped bone {rest.names[self.map[self.bone_parent[0]]]!r}; the pelvis must be the "
                "top of the mapped bones")
        self.order = sorted(self.joints, key=lambda j: (depth[j], j))  # parents first
        self.rest_joints = self._rest_joints()
        # primary child of each mapped joint: next mapped joint down the chain, else bone tail
        self.child: dict[int, int | None] = {}
        for j in self.joints:
            c = PRIMARY_CHILD[j]
            while c is not None and c not in self.map:
                c = PRIMARY_CHILD[c]
            # none mapped further down: aim at the immediate child, whose rest position is
            # this bone's tail (e.g. a foot bone without toe bone, a neck without head bone)
            self.child[j] = c if c is not None else PRIMARY_CHILD[j]
        # rig axes (snapped): columns = left, back, up in armature space
        self.axes = self._detect_axes()
        self.rest_frames = segment_frames(self.rest_joints, self.child)
        self.leg_length = _leg_length(self.rest_joints)
        up = self.axes[:, 2]
        # ground level: the lowest foot joint at rest (toes without bones: the foot bone's tail)
        self.rest_foot_height = float(np.min(self.rest_joints[[7, 8, 10, 11]] @ up))
        # bones written: every mapped bone (rotation); location on the root's bone only
        self.bone_names = [rest.names[self.map[j]] for j in self.joints]

    # -- rest-pose analysis --------------------------------------------------------------
    def _rest_joints(self) -> np.ndarray:
        """Rest position (22, 3) of every joint on the rig; unmapped ones interpolated."""
        rest = self.rest
        x = np.full((NUM_JOINTS, 3), np.nan)
        for j, b in self.map.items():
            x[j] = rest.heads[b]
        return fill_missing_joints(x, {j: rest.tails[b] for j, b in self.map.items()})

    def _detect_axes(self) -> np.ndarray:
        x = self.rest_joints
        up = _snap(x[12] - x[0] if 12 in self.map else x[15] - x[0])
        left = x[1] - x[2] + x[16] - x[17]
        left = _snap(left - np.dot(left, up) * up)
        if abs(np.dot(left, up)) > 0.5:
            raise RetargetError("cannot tell the rig's left from its up axis (hips/shoulders)")
        back = np.cross(up, left)  # left x back = up  <=>  back = up x left
        return np.stack([left, back, up], axis=-1)

    # -- motion space <-> armature space -------------------------------------------------
    def motion_scale(self, joints_yup: np.ndarray | None = None) -> float:
        """Armature units per motion metre: rig leg length / motion leg length."""
        ref = _leg_length(joints_yup) if joints_yup is not None else _reference_leg_length()
        return self.leg_length / max(ref, 1e-6)

    def motion_to_rig(self, joints_yup: np.ndarray, scale: float | None = None) -> np.ndarray:
        """(T, 22, 3) Y-up metres -> armature space, scaled; no placement (pure linear map)."""
        s = self.motion_scale() if scale is None else scale
        m = self.axes @ YUP_TO_ZUP
        return s * np.asarray(joints_yup, np.float64) @ m.T

    def rig_to_motion(self, rig_joints: np.ndarray, scale: float | None = None) -> np.ndarray:
        """Inverse of :meth:`motion_to_rig` (armature space -> Y-up metres)."""
        s = self.motion_scale() if scale is None else scale
        m = self.axes @ YUP_TO_ZUP
        return (np.asarray(rig_joints, np.float64) @ m) / s

    def place(self, rig_joints: np.ndarray, in_place: bool = False) -> np.ndarray:
        """Put a motion (armature space) on the rig: frame-0 pelvis over the rest pelvis
        (horizontally; the whole pelvis path if ``in_place``) and the lowest foot joint of the
        clip at the rig's rest foot height (feet reach the ground, never sink below it)."""
        x = np.array(rig_joints, np.float64)
        up = self.axes[:, 2]
        horiz = np.eye(3) - np.outer(up, up)
        ref = x[:, :1, :] if in_place else x[:1, :1, :]
        x += (self.rest_joints[0] - ref) @ horiz.T
        feet = x[:, [7, 8, 10, 11], :] @ up
        x += (self.rest_foot_height - feet.min()) * up  # refined on the posed rig by retarget()
        return x

    # -- solve -------------------------------------------------------------------------
    def deltas(self, x: np.ndarray) -> dict[int, np.ndarray]:
        """World delta rotation (T, 3, 3) of every mapped joint for rig-space joints x."""
        return solve_world_rotations(self.rest_joints, x, child=self.child, follow=self.bone_parent,
                                     order=self.order, rest_frames=self.rest_frames)

    def solve(self, rig_joints: np.ndarray) -> RigPose:
        """Rig-space joints (T, 22, 3) -> :class:`RigPose` (basis quaternions + root location)."""
        x = np.asarray(rig_joints, np.float64)
        t = x.shape[0]
        d = self.deltas(x)
        rots = np.empty((t, len(self.joints), 3, 3))
        eye = np.broadcast_to(np.eye(3), (t, 3, 3))
        for k, j in enumerate(self.joints):
            r = self.rest.matrices[self.map[j]]
            p = self.bone_parent[j]
            dp = d[p] if p is not None else eye
            rots[:, k] = r.T @ np.swapaxes(dp, -1, -2) @ d[j] @ r
        quats = make_continuous(matrix_to_quaternion(rots), axis=0)
        root_b = self.map[0]
        r0 = self.rest.matrices[root_b]
        # root bone's head = target pelvis; pose location is expressed in its rest frame
        # (the unmapped bones above it, e.g. a UE "root", are assumed to stay at rest)
        loc = (x[:, 0] - self.rest.heads[root_b]) @ r0
        return RigPose(self.bone_names, quats.astype(np.float32), self.rest.names[root_b],
                       loc.astype(np.float32), x.astype(np.float32))

    def retarget(self, joints_yup: np.ndarray, in_place: bool = False,
                 place: bool = True, scale: float | None = None) -> RigPose:
        """Motion (T, 22, 3) Y-up metres -> :class:`RigPose` on this rig.

        ``scale`` defaults to rig leg length / the motion's leg length; ``place`` moves the
        clip onto the rig (see :meth:`place`); without it the pure linear map is used (for
        edits read back with :meth:`rig_to_motion` and the same scale).
        """
        joints_yup = np.asarray(joints_yup, np.float64)
        if joints_yup.ndim != 3 or joints_yup.shape[1:] != (22, 3):
            raise ValueError(f"expected joints (T, 22, 3), got {joints_yup.shape}")
        if not np.all(np.isfinite(joints_yup)):
            raise ValueError("joints contain NaN or inf")
        s = self.motion_scale(joints_yup) if scale is None else scale
        x = self.motion_to_rig(joints_yup, s)
        if not place:
            return self.solve(x)
        x = self.place(x, in_place=in_place)
        pose = self.solve(x)
        # the rig's proportions differ from the motion's: ground on the rig's own posed feet
        up = self.axes[:, 2]
        feet = self.fk(pose)[:, [7, 8, 10, 11]] @ up
        shift = (self.rest_foot_height - float(feet.min())) * up
        pose.root_location = (pose.root_location + shift @ self.rest.matrices[self.map[0]]).astype(np.float32)
        pose.joints = (pose.joints + shift).astype(np.float32)
        return pose

    # -- forward kinematics ------------------------------------------------------------
    def fk(self, pose: RigPose) -> np.ndarray:
        """Posed head positions of the mapped bones as joints (T, 22, 3), armature space.

        Follows Blender: a bone's posed matrix is parent_pose @ parent_rest^-1 @ rest @ basis;
        unmapped bones stay at rest.  Unmapped joints are filled like the rest pose.
        """
        rest = self.rest
        t = pose.rotations.shape[0]
        rot = quaternion_to_matrix(np.asarray(pose.rotations, np.float64))
        k_of = {j: k for k, j in enumerate(self.joints)}
        world_r: dict[int, np.ndarray] = {}  # posed world rotation per mapped joint's bone
        heads: dict[int, np.ndarray] = {}
        x = np.full((t, NUM_JOINTS, 3), np.nan)
        for j in self.order:
            b = self.map[j]
            r = rest.matrices[b]
            p = self.bone_parent[j]
            if p is None:
                heads[j] = rest.heads[b] + np.asarray(pose.root_location, np.float64) @ r.T
                parent_d = np.broadcast_to(np.eye(3), (t, 3, 3))
            else:
                pb = self.map[p]
                parent_d = world_r[p] @ rest.matrices[pb].T  # delta of the parent's bone
                heads[j] = heads[p] + (rest.heads[b] - rest.heads[pb]) @ np.swapaxes(parent_d, -1, -2)
            world_r[j] = parent_d @ r @ rot[:, k_of[j]]
            x[:, j] = heads[j]
        tails = {j: heads[j] + (rest.tails[self.map[j]] - rest.heads[self.map[j]])
                 @ np.swapaxes(world_r[j] @ rest.matrices[self.map[j]].T, -1, -2) for j in self.joints}
        return fill_missing_joints(x, tails)


def _snap(v: np.ndarray) -> np.ndarray:
    """Nearest signed principal axis of v."""
    out = np.zeros(3)
    i = int(np.argmax(np.abs(v)))
    out[i] = np.sign(v[i]) or 1.0
    return out


def _leg_length(x: np.ndarray) -> float:
    """Mean hip-knee-ankle chain length of joints (..., 22, 3), both legs."""
    x = np.asarray(x, np.float64)
    seg = (np.linalg.norm(x[..., 4, :] - x[..., 1, :], axis=-1)
           + np.linalg.norm(x[..., 7, :] - x[..., 4, :], axis=-1)
           + np.linalg.norm(x[..., 5, :] - x[..., 2, :], axis=-1)
           + np.linalg.norm(x[..., 8, :] - x[..., 5, :], axis=-1)) / 2
    return float(np.mean(seg))


def _reference_leg_length() -> float:
    """Leg length (m) of the engine's skeleton (HumanML3D target proportions)."""
    return _leg_length(smpl_rest_joints())


__all__ = ["Retargeter", "RigPose", "RestPose", "RetargetError", "fill_missing_joints", "make_continuous",
           "nlerp", "matrix_to_quaternion", "quaternion_to_matrix", "J", "JOINT_NAMES"]
