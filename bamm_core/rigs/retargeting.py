"""Retargeting: 22-joint HumanML3D positions <-> bone rotations of any armature.

Pure numpy (never imports bpy): the Blender add-on only reads an armature's rest pose and
writes the numbers this module computes.

Conventions
-----------
* Motion side: joints ``(T, 22, 3)`` float, metres, Y-up, HumanML3D/SMPL joint order, the
  character faces +Z at frame 0 (see :mod:`bamm_core.skeleton`).
* Rig side: everything in *armature space* (the armature object's local space, in its units:
  a Mixamo FBX import is often Y-up and in centimetres).  A rest pose is given per bone by its
  head, tail, 3x3 rest rotation (Blender's ``bone.matrix_local``; columns = bone X, Y (along
  the bone) and Z axes) and parent.
* Blender's front view looks along +Y, so a character facing the viewer faces -Y, Z up, with
  its left side at +X.  The rig's own up/forward axes are detected from its rest pose and
  snapped to the nearest principal axes, so Y-up or rotated rigs work unchanged.

Method
------
For every mapped joint ``j`` a *world delta rotation* ``D_j(t)`` turns the rig's rest frame of
the segment into the motion's frame of that segment.  The frame is built from a primary
direction (joint -> next mapped joint down the chain, e.g. knee -> ankle) that is matched
exactly, and a secondary direction that fixes the twist about it (hip/shoulder across-vector,
or the knee/elbow bend-plane normal, blended towards a body-based fallback when the limb is
nearly straight so the twist never flips).  Bones that are not mapped (twist bones, fingers,
extra spine bones) inherit their parent's delta.  Blender's pose ``matrix_basis`` rotation of a
bone whose rest rotation is ``R`` and whose parent's delta is ``D_p`` is then
``R^T D_p^T D_j R`` -- independent of the bone's roll or direction, which is why differing
rolls, A/T-pose rests and odd bone directions need no special cases.  The root (pelvis) bone
also gets a location: the motion's pelvis trajectory scaled by the leg-length ratio.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..motion import skeleton as _skeleton
from ..motion.rotations import matrix_to_quat, quat_to_matrix

# --------------------------------------------------------------------------------------
# SMPL-22 topology (HumanML3D order), taken from bamm_core.skeleton
# --------------------------------------------------------------------------------------
JOINT_NAMES: list[str] = list(_skeleton.JOINT_NAMES)
PARENTS: np.ndarray = np.asarray(_skeleton.PARENTS, dtype=np.int64)
NUM_JOINTS = 22
J = {name: i for i, name in enumerate(JOINT_NAMES)}

# Chains in the order a joint's *primary child* is searched (the next joint down the limb).
_PRIMARY_CHILD = {0: None, 1: 4, 4: 7, 7: 10, 2: 5, 5: 8, 8: 11, 3: 6, 6: 9, 9: 12, 12: 15,
                  13: 16, 16: 18, 18: 20, 14: 17, 17: 19, 19: 21,
                  10: None, 11: None, 15: None, 20: None, 21: None}

#: joints a rig must map (the rest are optional: spine1-3 need at least one, neck/head one).
REQUIRED_JOINTS = (0, 1, 2, 4, 5, 7, 8, 16, 17, 18, 19)
SPINE_JOINTS = (3, 6, 9)
NECK_JOINTS = (12, 15)

#: HumanML3D (Y-up, facing +Z) -> Blender canonical (Z-up, facing -Y): +90 degrees about X.
YUP_TO_ZUP = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])


class RetargetError(ValueError):
    """The armature cannot be retargeted (e.g. no recognisable bones); message says why."""


# --------------------------------------------------------------------------------------
# Small vector / rotation helpers (shapes: (..., 3) and (..., 3, 3))
# --------------------------------------------------------------------------------------
def _normalize(v: np.ndarray, eps: float = 1e-9) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), eps)


def _frame(primary: np.ndarray, secondary: np.ndarray) -> np.ndarray:
    """Orthonormal frame (..., 3, 3) with columns (p, s_perp, p x s_perp)."""
    p = _normalize(primary)
    s = secondary - np.sum(secondary * p, axis=-1, keepdims=True) * p
    s = _normalize(s)
    return np.stack([p, s, np.cross(p, s)], axis=-1)


def _swing(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Smallest rotation (..., 3, 3) taking unit vector(s) a onto b (antiparallel: 180 deg)."""
    a = _normalize(a)
    b = _normalize(b)
    v = np.cross(a, b)
    c = np.sum(a * b, axis=-1)
    k = np.zeros(v.shape[:-1] + (3, 3))
    k[..., 0, 1], k[..., 0, 2], k[..., 1, 2] = -v[..., 2], v[..., 1], -v[..., 0]
    k[..., 1, 0], k[..., 2, 0], k[..., 2, 1] = v[..., 2], -v[..., 1], v[..., 0]
    eye = np.broadcast_to(np.eye(3), k.shape)
    denom = np.where(1.0 + c > 1e-8, 1.0 + c, 1.0)
    r = eye + k + k @ k / denom[..., None, None]
    # antiparallel: rotate 180 degrees about any axis perpendicular to a
    bad = 1.0 + c <= 1e-8
    if np.any(bad):
        ab = np.atleast_2d(a)[np.atleast_1d(bad)]
        axis = np.cross(ab, np.array([1.0, 0.0, 0.0]))
        small = np.linalg.norm(axis, axis=-1) < 1e-6
        axis[small] = np.cross(ab[small], np.array([0.0, 0.0, 1.0]))
        axis = _normalize(axis)
        flip = 2.0 * axis[:, :, None] * axis[:, None, :] - np.eye(3)
        r = np.array(r)
        r.reshape(-1, 3, 3)[np.atleast_1d(bad).reshape(-1)] = flip
    return r


def roll_to_matrix(head: np.ndarray, tail: np.ndarray, roll: float | np.ndarray) -> np.ndarray:
    """Blender's bone rest rotation from head, tail (..., 3) and roll (radians) -> (..., 3, 3).

    The Y axis points head -> tail; X/Z come from the smallest rotation of +Y onto that
    direction followed by ``roll`` about it (Blender's ``vec_roll_to_mat3``).
    """
    y = _normalize(np.asarray(tail, float) - np.asarray(head, float))
    base = _swing(np.broadcast_to(np.array([0.0, 1.0, 0.0]), y.shape), y)
    roll = np.asarray(roll, float)
    c, s = np.cos(roll), np.sin(roll)
    ry = np.zeros(roll.shape + (3, 3))
    ry[..., 0, 0], ry[..., 0, 2], ry[..., 1, 1], ry[..., 2, 0], ry[..., 2, 2] = c, s, 1.0, -s, c
    return base @ ry


def matrix_to_quaternion(m: np.ndarray) -> np.ndarray:
    """Rotation matrices (..., 3, 3) -> unit quaternions (..., 4) as (w, x, y, z), w >= 0."""
    q = np.asarray(matrix_to_quat(np.asarray(m, dtype=np.float64)), dtype=np.float64)
    q = _normalize(q)
    return np.where(q[..., :1] < 0, -q, q)


def make_continuous(q: np.ndarray, axis: int = 0) -> np.ndarray:
    """Flip quaternion signs along ``axis`` (time) so consecutive ones have dot >= 0."""
    q = np.moveaxis(np.array(q, dtype=np.float64), axis, 0)
    if q.shape[0] > 1:
        # flipping q[t] also flips its dot with q[t+1]: the signs are a running product
        step = np.where(np.sum(q[1:] * q[:-1], axis=-1) < 0, -1.0, 1.0)
        q[1:] *= np.cumprod(step, axis=0)[..., None]
    return np.moveaxis(q, 0, axis)


# --------------------------------------------------------------------------------------
# Rest pose and bone map
# --------------------------------------------------------------------------------------
@dataclass
class RestPose:
    """An armature's rest pose in armature space.

    names: bone names (B,); parents: (B,) index of the parent bone, -1 for roots (a parent
    need not precede their children); heads/tails: (B, 3) in armature
    units; matrices: (B, 3, 3) rest rotations (Blender ``bone.matrix_local.to_3x3()``).
    """

    names: list[str]
    parents: np.ndarray
    heads: np.ndarray
    tails: np.ndarray
    matrices: np.ndarray

    def __post_init__(self) -> None:
        self.parents = np.asarray(self.parents, dtype=np.int64)
        self.heads = np.asarray(self.heads, dtype=np.float64).reshape(-1, 3)
        self.tails = np.asarray(self.tails, dtype=np.float64).reshape(-1, 3)
        self.matrices = np.asarray(self.matrices, dtype=np.float64).reshape(-1, 3, 3)
        self.index = {n: i for i, n in enumerate(self.names)}

    @classmethod
    def from_bones(cls, bones: list[dict]) -> "RestPose":
        """From ``[{"name", "head", "tail", "roll" | "matrix", "parent": name|None}, ...]``."""
        names = [b["name"] for b in bones]
        index = {n: i for i, n in enumerate(names)}
        heads = np.array([b["head"] for b in bones], float)
        tails = np.array([b["tail"] for b in bones], float)
        mats = np.array([np.asarray(b["matrix"], float)[:3, :3] if "matrix" in b
                         else roll_to_matrix(np.asarray(b["head"], float), np.asarray(b["tail"], float),
                                             b.get("roll", 0.0)) for b in bones])
        parents = [index[b["parent"]] if b.get("parent") else -1 for b in bones]
        return cls(names, np.array(parents), heads, tails, mats)


def resolve_bone_map(rest: RestPose, joint_to_bone: dict) -> dict[int, int]:
    """{joint name or index: bone name} -> {joint index: bone index}; unknown bones dropped."""
    out: dict[int, int] = {}
    for key, bone in joint_to_bone.items():
        j = J[key] if isinstance(key, str) else int(key)
        if bone and bone in rest.index:
            out[j] = rest.index[bone]
    return out


def check_bone_map(mapping: dict[int, int], rig_name: str = "armature") -> None:
    """Raise :class:`RetargetError` naming what is missing when a map cannot drive a body."""
    if not mapping:
        raise RetargetError(
            f"no recognisable bones on {rig_name}: none of its bone names match a rig preset "
            "(SMPL-22, Mixamo, Rigify, UE5 Mannequin); choose a preset or load a custom JSON map")
    missing = [JOINT_NAMES[j] for j in REQUIRED_JOINTS if j not in mapping]
    if not any(j in mapping for j in SPINE_JOINTS):
        missing.append("spine1|spine2|spine3")
    if not any(j in mapping for j in NECK_JOINTS):
        missing.append("neck|head")
    if missing:
        raise RetargetError(f"{rig_name}: the bone map lacks bones for {', '.join(missing)} "
                            "(choose another rig preset or complete the custom map)")


# --------------------------------------------------------------------------------------
# Secondary (twist) directions, computed from all 22 joints (..., 22, 3)
# --------------------------------------------------------------------------------------
def _blend(n_raw: np.ndarray, fallback: np.ndarray, sin_limit: float = np.sin(np.radians(25))):
    """Bend-plane normal where the limb is bent, fallback where it is nearly straight."""
    w = np.clip(np.linalg.norm(n_raw, axis=-1, keepdims=True) / sin_limit, 0.0, 1.0)
    return w * _normalize(n_raw) + (1.0 - w) * _normalize(fallback)


def secondary_directions(x: np.ndarray) -> dict[int, np.ndarray]:
    """Twist reference vector per joint (..., 3), frame-independent (built from joints only)."""
    hip_across = _normalize(x[..., 1, :] - x[..., 2, :])
    sh_across = _normalize(x[..., 16, :] - x[..., 17, :])
    up = _normalize(x[..., 12, :] - x[..., 9, :] + x[..., 9, :] - x[..., 0, :])
    fwd = _normalize(np.cross(sh_across + hip_across, up))
    sec: dict[int, np.ndarray] = {0: up, 3: hip_across + sh_across, 6: hip_across + 2 * sh_across,
                                  9: sh_across, 12: sh_across, 13: up, 14: up}
    for hip, knee, ankle in ((1, 4, 7), (2, 5, 8)):
        thigh = _normalize(x[..., knee, :] - x[..., hip, :])
        shin = _normalize(x[..., ankle, :] - x[..., knee, :])
        s = _blend(np.cross(thigh, shin), hip_across)
        sec[hip] = sec[knee] = sec[ankle] = s
    fwd_eff = fwd - 0.3 * up
    for sh, el, wr in ((16, 18, 20), (17, 19, 21)):
        upper = _normalize(x[..., el, :] - x[..., sh, :])
        fore = _normalize(x[..., wr, :] - x[..., el, :])
        s = _blend(np.cross(upper, fore), np.cross(upper, fwd_eff))
        sec[sh] = sec[el] = s
    return sec


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
            c = _PRIMARY_CHILD[j]
            while c is not None and c not in self.map:
                c = _PRIMARY_CHILD[c]
            # none mapped further down: aim at the immediate child, whose rest position is
            # this bone's tail (e.g. a foot bone without toe bone, a neck without head bone)
            self.child[j] = c if c is not None else _PRIMARY_CHILD[j]
        # rig axes (snapped): columns = left, back, up in armature space
        self.axes = self._detect_axes()
        self.rest_secondary = secondary_directions(self.rest_joints)
        self.rest_frames = {j: _frame(self._rest_primary(j), self.rest_secondary[j])
                            for j in self.joints if self._has_primary(j)}
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

    def _has_primary(self, j: int) -> bool:
        return j == 0 or self.child[j] is not None

    def _rest_primary(self, j: int) -> np.ndarray:
        if j == 0:
            return self.rest_joints[1] - self.rest_joints[2]
        return self.rest_joints[self.child[j]] - self.rest_joints[j]

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
        sec = secondary_directions(x)
        out: dict[int, np.ndarray] = {}
        for j in self.order:
            if j in self.rest_frames:
                prim = x[:, 1] - x[:, 2] if j == 0 else x[:, self.child[j]] - x[:, j]
                out[j] = _frame(prim, sec[j]) @ self.rest_frames[j].T
            else:  # end joints (head, toes, wrists): follow the parent bone
                p = self.bone_parent[j]
                out[j] = out[p] if p is not None else np.broadcast_to(np.eye(3), (len(x), 3, 3))
        return out

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


# --------------------------------------------------------------------------------------
# Helpers shared with the add-on (reading animation back)
# --------------------------------------------------------------------------------------
def fill_missing_joints(x: np.ndarray, tails: dict[int, np.ndarray]) -> np.ndarray:
    """Fill NaN joints of x (..., 22, 3): end joints from their parent bone's tail, inner
    joints by interpolating between the nearest known ancestor and descendant on the chain."""
    x = np.array(x, dtype=np.float64)
    known = ~np.isnan(x[..., 0]).reshape(-1, NUM_JOINTS).any(axis=0)
    for j in range(NUM_JOINTS):
        if known[j]:
            continue
        # walk down the chain to the next known joint
        down, steps_down = _PRIMARY_CHILD[j], 1
        while down is not None and not known[down]:
            down, steps_down = _PRIMARY_CHILD[down], steps_down + 1
        up, steps_up = int(PARENTS[j]), 1
        while up >= 0 and not known[up] and not np.all(np.isfinite(x[..., up, :])):
            up, steps_up = int(PARENTS[up]), steps_up + 1
        if up < 0:
            raise RetargetError(f"cannot place joint {JOINT_NAMES[j]}: no mapped ancestor")
        if down is None:
            if up in tails:
                x[..., j, :] = tails[up]
            else:
                x[..., j, :] = x[..., up, :]
        else:
            f = steps_up / (steps_up + steps_down)
            x[..., j, :] = (1 - f) * x[..., up, :] + f * x[..., down, :]
    return x


def quaternion_to_matrix(q: np.ndarray) -> np.ndarray:
    """(..., 4) (w, x, y, z) -> (..., 3, 3)."""
    return np.asarray(quat_to_matrix(np.asarray(q, dtype=np.float64)), dtype=np.float64)


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
    return _leg_length(_skeleton_rest_joints())


def _skeleton_rest_joints() -> np.ndarray:
    from .presets import smpl_rest_joints

    return smpl_rest_joints()


def blend_weights(n: int, ramp: int) -> np.ndarray:
    """(n,) weights for frames of an inpainted range: 0 at both borders, smoothstep up to 1
    ``ramp`` frames inside (the new motion fades in and out of the untouched keys)."""
    if n <= 0:
        return np.zeros(0)
    i = np.arange(n, dtype=np.float64)
    d = np.minimum(i, n - 1 - i)
    u = np.clip(d / max(ramp, 1), 0.0, 1.0)
    return u * u * (3 - 2 * u)


def nlerp(q0: np.ndarray, q1: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Normalised lerp between quaternion arrays (..., 4) with weights broadcast on (...)."""
    q1 = np.where(np.sum(q0 * q1, axis=-1, keepdims=True) < 0, -q1, q1)
    w = np.asarray(w, np.float64)[..., None]
    return _normalize((1 - w) * q0 + w * q1)


def align_to_reference(joints: np.ndarray, reference: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Rigidly move ``joints`` (T, 22, 3, Y-up) about the vertical axis (yaw + horizontal shift)
    so that the frames where ``mask`` is true best match ``reference`` (least squares).

    Used after an engine edit: whatever frame the engine returns its motion in, the kept frames
    then coincide with what the rig already has."""
    a = np.asarray(joints, np.float64)[mask].reshape(-1, 3)
    b = np.asarray(reference, np.float64)[mask].reshape(-1, 3)
    ca, cb = a.mean(0), b.mean(0)
    a0, b0 = a - ca, b - cb
    # yaw about +Y: maximise sum b . R a in the xz plane
    s = np.sum(a0[:, 2] * b0[:, 0] - a0[:, 0] * b0[:, 2])
    c = np.sum(a0[:, 0] * b0[:, 0] + a0[:, 2] * b0[:, 2])
    th = np.arctan2(s, c)
    r = np.array([[np.cos(th), 0, np.sin(th)], [0, 1, 0], [-np.sin(th), 0, np.cos(th)]])
    out = (np.asarray(joints, np.float64) - ca) @ r.T + cb
    return out
