"""Skeletons of the motion representation: HumanML3D's 22-joint SMPL body and KIT-ML's 21 joints.

Positions are ``(T, J, 3)`` arrays in metres, Y up (frame rates: :mod:`.timebase`); a character
faces +Z at frame 0, so its *left* side is +X.

A :class:`SkeletonDef` holds the constants of one dataset (joint names, kinematic chains, the
unit "raw offset" direction of every joint from its parent, the face joints used to find the
facing direction, the feet and the foot-contact threshold).  :class:`Skeleton` does the
HumanML3D-style chain IK (positions -> per-joint local quaternions) and FK (quaternions +
bone offsets -> positions) that the feature extraction and the bone-length normalisation use.

Quaternion conventions: see :mod:`bamm_core.motion.rotations` (w, x, y, z).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .facing import T2M_FACE_JOINTS, across_vector, facing_direction
from .rotations import qbetween, qinv, qmul, qrot

# --- HumanML3D (SMPL body, first 22 joints) -----------------------------------------------------

T2M_JOINT_NAMES: list[str] = [
    "pelvis", "left_hip", "right_hip", "spine1", "left_knee", "right_knee", "spine2",
    "left_ankle", "right_ankle", "spine3", "left_foot", "right_foot", "neck", "left_collar",
    "right_collar", "head", "left_shoulder", "right_shoulder", "left_elbow", "right_elbow",
    "left_wrist", "right_wrist",
]

T2M_KINEMATIC_CHAIN: list[list[int]] = [
    [0, 2, 5, 8, 11],        # right leg
    [0, 1, 4, 7, 10],        # left leg
    [0, 3, 6, 9, 12, 15],    # spine to head
    [9, 14, 17, 19, 21],     # right arm
    [9, 13, 16, 18, 20],     # left arm
]

# Unit direction of each joint from its parent in the rest pose (HumanML3D's ``t2m_raw_offsets``).
T2M_RAW_OFFSETS = np.array([
    [0, 0, 0], [1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, -1, 0], [0, 1, 0],
    [0, -1, 0], [0, -1, 0], [0, 1, 0], [0, 0, 1], [0, 0, 1], [0, 1, 0], [1, 0, 0],
    [-1, 0, 0], [0, 0, 1], [0, -1, 0], [0, -1, 0], [0, -1, 0], [0, -1, 0], [0, -1, 0],
    [0, -1, 0],
], dtype=np.float64)

# Bone lengths (metres, joint i to its parent) of HumanML3D's target skeleton.  The official
# pipeline takes them from frame 0 of sample 000021, which we do not ship.  Every HumanML3D
# ``new_joints`` file already lies on that uniform skeleton, so we measured them instead on
# frame 0 of the reference sample ``new_joints_012314.npy`` (their std over its 170 frames is
# 2.4e-7 m, i.e. float32 round-off).
T2M_TARGET_BONE_LENGTHS = np.array([
    0.000000, 0.103074, 0.109883, 0.131568, 0.393623, 0.390188, 0.143190, 0.432433, 0.425643,
    0.057365, 0.143382, 0.149419, 0.219360, 0.137487, 0.143383, 0.103039, 0.131614, 0.122984,
    0.256840, 0.263092, 0.266012, 0.269876,
], dtype=np.float64)

# --- KIT-ML (21 joints) -------------------------------------------------------------------------

# Descriptive names (ours); the sides follow KIT's face joints (r_hip 11, l_hip 16,
# r_shoulder 5, l_shoulder 8) and feet (right 14/15, left 19/20).
KIT_JOINT_NAMES: list[str] = [
    "root", "spine_lower", "spine_upper", "neck", "head",
    "right_shoulder", "right_elbow", "right_wrist", "left_shoulder", "left_elbow", "left_wrist",
    "right_hip", "right_knee", "right_ankle", "right_ball", "right_toe",
    "left_hip", "left_knee", "left_ankle", "left_ball", "left_toe",
]
KIT_KINEMATIC_CHAIN: list[list[int]] = [
    [0, 11, 12, 13, 14, 15], [0, 16, 17, 18, 19, 20], [0, 1, 2, 3, 4], [3, 5, 6, 7], [3, 8, 9, 10],
]
KIT_RAW_OFFSETS = np.array([
    [0, 0, 0], [0, 1, 0], [0, 1, 0], [0, 1, 0], [0, 1, 0], [1, 0, 0], [0, -1, 0],
    [0, -1, 0], [-1, 0, 0], [0, -1, 0], [0, -1, 0], [1, 0, 0], [0, -1, 0], [0, -1, 0],
    [0, 0, 1], [0, 0, 1], [-1, 0, 0], [0, -1, 0], [0, -1, 0], [0, 0, 1], [0, 0, 1],
], dtype=np.float64)


def parents_from_chains(chains: list[list[int]], num_joints: int) -> list[int]:
    """Parent index of every joint (-1 for the root) from a list of kinematic chains."""
    parents = [-1] * num_joints
    for chain in chains:
        for a, b in zip(chain[:-1], chain[1:]):
            parents[b] = a
    return parents


@dataclass(frozen=True)
class SkeletonDef:
    """Constants of one dataset's skeleton and feature layout."""

    name: str
    joint_names: list[str]
    kinematic_chain: list[list[int]]
    raw_offsets: np.ndarray                  # (J, 3) unit directions from the parent
    face_joints: tuple[int, int, int, int]   # (r_hip, l_hip, r_shoulder, l_shoulder)
    feet_left: tuple[int, int]               # (ankle, foot)
    feet_right: tuple[int, int]
    leg_joints: tuple[int, int]              # bones whose lengths give the root scale ratio
    foot_contact_threshold: float            # squared displacement per frame, in data units
    target_bone_lengths: np.ndarray | None = None   # (J,) or None when not shipped
    parents: list[int] = field(default_factory=list)

    def __post_init__(self):
        if not self.parents:
            object.__setattr__(self, "parents",
                               parents_from_chains(self.kinematic_chain, len(self.joint_names)))

    @property
    def num_joints(self) -> int:
        return len(self.joint_names)

    @property
    def feature_dim(self) -> int:
        """4 root + 3(J-1) RIC + 6(J-1) rotations + 3J velocities + 4 contacts (263 / 251)."""
        j = self.num_joints
        return 4 + 3 * (j - 1) + 6 * (j - 1) + 3 * j + 4

    def target_offsets(self) -> np.ndarray:
        """(J, 3) offsets of the target skeleton: raw direction x target bone length."""
        if self.target_bone_lengths is None:
            raise ValueError(
                f"no target skeleton is shipped for {self.name!r}; pass target offsets explicitly "
                "(e.g. Skeleton(defn).offsets_from_joints(joints_of_your_reference_frame))")
        return self.raw_offsets * self.target_bone_lengths[:, None]


HUMANML3D = SkeletonDef(
    name="t2m",
    joint_names=T2M_JOINT_NAMES,
    kinematic_chain=T2M_KINEMATIC_CHAIN,
    raw_offsets=T2M_RAW_OFFSETS,
    face_joints=T2M_FACE_JOINTS,
    feet_left=(7, 10),
    feet_right=(8, 11),
    leg_joints=(5, 8),
    foot_contact_threshold=0.002,
    target_bone_lengths=T2M_TARGET_BONE_LENGTHS,
)

# KIT-ML works in millimetres (foot threshold 0.05 in its own units); its target skeleton
# (sample 03950) is not shipped: supply target offsets yourself or skip bone normalisation.
KIT = SkeletonDef(
    name="kit",
    joint_names=KIT_JOINT_NAMES,
    kinematic_chain=KIT_KINEMATIC_CHAIN,
    raw_offsets=KIT_RAW_OFFSETS,
    face_joints=(11, 16, 5, 8),
    feet_left=(19, 20),
    feet_right=(14, 15),
    leg_joints=(17, 18),
    foot_contact_threshold=0.05,
    target_bone_lengths=None,
)

# handy module-level aliases for the HumanML3D skeleton
JOINT_NAMES = T2M_JOINT_NAMES
PARENTS = HUMANML3D.parents
KINEMATIC_CHAIN = T2M_KINEMATIC_CHAIN
RAW_OFFSETS = T2M_RAW_OFFSETS
NUM_JOINTS = 22
FEATURE_DIM = 263
LEFT_RIGHT_PAIRS = [(1, 2), (4, 5), (7, 8), (10, 11), (13, 14), (16, 17), (18, 19), (20, 21)]


def mirror_permutation(defn: SkeletonDef = HUMANML3D) -> list[int]:
    """Joint permutation that swaps left and right (by the 'left'/'right' in the names)."""
    names = defn.joint_names
    perm = list(range(len(names)))
    for i, n in enumerate(names):
        for a, b in (("left", "right"), ("right", "left")):
            if n.startswith(a + "_"):
                perm[i] = names.index(b + n[len(a):])
    return perm


def get_skeleton_def(kind: str | SkeletonDef = "t2m") -> SkeletonDef:
    """``"t2m"``/``"humanml3d"``/``"humanml"`` -> :data:`HUMANML3D`; ``"kit"`` -> :data:`KIT`."""
    if isinstance(kind, SkeletonDef):
        return kind
    k = kind.lower()
    if k in ("t2m", "humanml3d", "humanml", "h3d"):
        return HUMANML3D
    if k in ("kit", "kit-ml", "kitml"):
        return KIT
    raise ValueError(f"unknown skeleton kind {kind!r} (use 't2m' or 'kit')")


def _normalize(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


class Skeleton:
    """Chain FK/IK on one :class:`SkeletonDef` with a set of bone offsets.

    ``offsets`` ``(J, 3)`` are the rest-pose vectors from each joint's parent (raw direction x
    bone length); default: the definition's target skeleton (if it has one).
    Local rotations are per joint: ``quats[:, j]`` rotates the bone *ending* at ``j``
    relative to the accumulated rotation of its chain; every chain starts from the root's
    rotation ``quats[:, 0]`` (HumanML3D's convention, also for the arm chains that start at
    spine3).
    """

    def __init__(self, defn: SkeletonDef | str = HUMANML3D, offsets: np.ndarray | None = None):
        self.defn = get_skeleton_def(defn)
        if offsets is None and self.defn.target_bone_lengths is not None:
            offsets = self.defn.target_offsets()
        self.offsets = None if offsets is None else np.asarray(offsets, dtype=np.float64)

    # -- offsets -------------------------------------------------------------------------------
    def offsets_from_joints(self, joints: np.ndarray) -> np.ndarray:
        """(J, 3) offsets = raw direction x bone length measured on one ``(J, 3)`` pose."""
        joints = np.asarray(joints, dtype=np.float64)
        parents = self.defn.parents
        lengths = np.zeros(len(parents))
        for j, p in enumerate(parents):
            if p >= 0:
                lengths[j] = np.linalg.norm(joints[j] - joints[p])
        return self.defn.raw_offsets * lengths[:, None]

    # -- IK / FK -------------------------------------------------------------------------------
    def root_rotation(self, joints: np.ndarray, smooth_forward: bool = False) -> np.ndarray:
        """(T, 4) root quaternions turning each frame's facing direction onto +Z.

        Uses HumanML3D's IK conventions: the face-joint order bug, optional gaussian smoothing
        (sigma 20 frames, 'nearest' edges) of the forward vector, identity at frame 0.
        """
        forward = np.cross(np.array([0.0, 1.0, 0.0]),
                           across_vector(joints, self.defn.face_joints, buggy_order=True))
        if smooth_forward:
            from scipy.ndimage import gaussian_filter1d  # lazy: Blender's Python has no scipy

            forward = gaussian_filter1d(forward, 20, axis=0, mode="nearest")
        forward = _normalize(forward)
        target = np.broadcast_to(np.array([0.0, 0.0, 1.0]), forward.shape)
        root_quat = qbetween(forward, target)
        root_quat[0] = np.array([1.0, 0.0, 0.0, 0.0])
        return root_quat

    def inverse_kinematics(self, joints: np.ndarray, smooth_forward: bool = False) -> np.ndarray:
        """Positions ``(T, J, 3)`` -> local quaternions ``(T, J, 4)`` (HumanML3D chain IK)."""
        joints = np.asarray(joints, dtype=np.float64)
        T = joints.shape[0]
        quats = np.zeros(joints.shape[:-1] + (4,))
        root_quat = self.root_rotation(joints, smooth_forward)
        quats[:, 0] = root_quat
        raw = self.defn.raw_offsets
        for chain in self.defn.kinematic_chain:
            R = root_quat
            for a, b in zip(chain[:-1], chain[1:]):
                u = np.broadcast_to(raw[b], (T, 3))
                v = _normalize(joints[:, b] - joints[:, a])
                R_loc = qmul(qinv(R), qbetween(u, v))
                quats[:, b] = R_loc
                R = qmul(R, R_loc)
        return quats

    def forward_kinematics(self, quats: np.ndarray, root_pos: np.ndarray,
                           offsets: np.ndarray | None = None, do_root_rotation: bool = True) -> np.ndarray:
        """Local quaternions ``(T, J, 4)`` + root positions ``(T, 3)`` -> positions ``(T, J, 3)``."""
        offsets = self.offsets if offsets is None else np.asarray(offsets, dtype=np.float64)
        if offsets is None:
            raise ValueError("this Skeleton has no offsets; pass offsets=")
        quats = np.asarray(quats, dtype=np.float64)
        T = quats.shape[0]
        joints = np.zeros(quats.shape[:-1] + (3,))
        joints[:, 0] = root_pos
        for chain in self.defn.kinematic_chain:
            R = quats[:, 0] if do_root_rotation else np.tile([1.0, 0.0, 0.0, 0.0], (T, 1))
            for a, b in zip(chain[:-1], chain[1:]):
                R = qmul(R, quats[:, b])
                joints[:, b] = qrot(R, np.broadcast_to(offsets[b], (T, 3))) + joints[:, a]
        return joints


def uniform_skeleton(joints: np.ndarray, defn: SkeletonDef | str = HUMANML3D,
                     target_offsets: np.ndarray | None = None) -> np.ndarray:
    """Retarget positions ``(T, J, 3)`` onto the target bone lengths (HumanML3D step 1).

    IK on the source (bone directions), swap in the target offsets, FK; the root trajectory is
    scaled by the ratio of the two leg bones (``defn.leg_joints``) target / source, measured
    on frame 0.  Returns float64 ``(T, J, 3)``.
    """
    defn = get_skeleton_def(defn)
    joints = np.asarray(joints, dtype=np.float64)
    tgt = defn.target_offsets() if target_offsets is None else np.asarray(target_offsets, np.float64)
    src_skel = Skeleton(defn, offsets=None)
    src = src_skel.offsets_from_joints(joints[0])
    l1, l2 = defn.leg_joints
    src_leg = np.abs(src[l1]).max() + np.abs(src[l2]).max()
    tgt_leg = np.abs(tgt[l1]).max() + np.abs(tgt[l2]).max()
    scale = tgt_leg / src_leg
    quats = src_skel.inverse_kinematics(joints)
    return src_skel.forward_kinematics(quats, joints[:, 0] * scale, offsets=tgt)


def bone_lengths(joints: np.ndarray, parents: list[int] = PARENTS) -> np.ndarray:
    """Lengths ``(..., J)`` of the bone ending at each joint (0 for the root)."""
    joints = np.asarray(joints)
    par = np.array([max(p, 0) for p in parents])
    return np.linalg.norm(joints - joints[..., par, :], axis=-1)


__all__ = [
    "SkeletonDef", "Skeleton", "HUMANML3D", "KIT", "get_skeleton_def", "uniform_skeleton",
    "facing_direction", "mirror_permutation", "parents_from_chains", "bone_lengths",
    "JOINT_NAMES", "PARENTS", "KINEMATIC_CHAIN", "RAW_OFFSETS", "NUM_JOINTS",
    "FEATURE_DIM", "LEFT_RIGHT_PAIRS", "T2M_TARGET_BONE_LENGTHS",
]
