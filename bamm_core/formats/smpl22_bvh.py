"""SMPL-22 BVH files: our skeleton's export (and reading it back).

:func:`save_smpl22_bvh` writes a ``(T, 22, 3)`` HumanML3D joint motion with the joint names,
hierarchy and channel layout of MoMask's ``smpl22_template.bvh`` and rotations solved from the
positions by the motion layer's one solver (:mod:`bamm_core.motion.rotation_solver`), so that
FK of the file gives the positions back.  :func:`bvh_to_smpl22` reads such a file back; any
other skeleton is read with a rig preset (:mod:`bamm_core.rigs.bvh_joints`).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .bvh import BVH, BVHJoint, write_bvh
from ..motion.rigid_skeleton import rigid_offsets
from ..motion.rotation_solver import solve_world_rotations
from ..motion.rotations import matrix_to_euler
from ..motion.timebase import HUMANML3D as HUMANML3D_TIMEBASE

# Joint names, parents and OFFSETs (metres) of ``smpl22_template.bvh`` (MoMask release, MIT), in
# the file's depth-first order, with the HumanML3D joint index each one stands for.
SMPL22_BVH_NAMES = [
    "Hips", "LeftUpLeg", "LeftLeg", "LeftFoot", "LeftToe", "RightUpLeg", "RightLeg", "RightFoot",
    "RightToe", "Spine", "Spine1", "Spine2", "Neck", "Head", "LeftShoulder", "LeftArm",
    "LeftForeArm", "LeftHand", "RightShoulder", "RightArm", "RightForeArm", "RightHand",
]
SMPL22_BVH_TO_T2M = [0, 1, 4, 7, 10, 2, 5, 8, 11, 3, 6, 9, 12, 15, 13, 16, 18, 20, 14, 17, 19, 21]
SMPL22_BVH_PARENTS = [-1, 0, 1, 2, 3, 0, 5, 6, 7, 0, 9, 10, 11, 12, 11, 14, 15, 16, 11, 18, 19, 20]
SMPL22_BVH_OFFSETS = np.array([
    [-0.001795, -0.223333, 0.028219], [0.069520, -0.091406, -0.006815],
    [0.034277, -0.375199, -0.004496], [-0.013596, -0.397961, -0.043693],
    [0.026358, -0.055791, 0.119288], [-0.067670, -0.090522, -0.004320],
    [-0.038290, -0.382569, -0.008850], [0.015774, -0.398415, -0.042312],
    [-0.025372, -0.048144, 0.123348], [-0.002533, 0.108963, -0.026696],
    [0.005487, 0.135180, 0.001092], [0.001457, 0.052922, 0.025425],
    [-0.002778, 0.213870, -0.042857], [0.005152, 0.064970, 0.051349],
    [0.078845, 0.121749, -0.034090], [0.090977, 0.030469, -0.008868],
    [0.259612, -0.012772, -0.027456], [0.249234, 0.008986, -0.001171],
    [-0.081759, 0.118833, -0.038615], [-0.096012, 0.032551, -0.009143],
    [-0.253742, -0.013329, -0.021401], [-0.255298, 0.007772, -0.005559],
])
_ROOT_CHANNELS = ["Xposition", "Yposition", "Zposition", "Zrotation", "Yrotation", "Xrotation"]
_JOINT_CHANNELS = ["Zrotation", "Yrotation", "Xrotation"]
_LEAVES = {4, 8, 13, 17, 21}  # joints with an End Site (offset 0) in the template


def smpl22_template_bvh(offsets: np.ndarray | None = None, frame_time: float = 0.05) -> BVH:
    """An empty (0-frame) BVH with the template's names, hierarchy and channels."""
    offs = SMPL22_BVH_OFFSETS if offsets is None else np.asarray(offsets, dtype=np.float64)
    joints = []
    for i, (n, p) in enumerate(zip(SMPL22_BVH_NAMES, SMPL22_BVH_PARENTS)):
        joints.append(BVHJoint(n, p, offs[i].copy(), list(_ROOT_CHANNELS if p < 0 else _JOINT_CHANNELS),
                               np.zeros(3) if i in _LEAVES else None))
    return BVH(joints, frame_time, np.zeros((0, 6 + 3 * 21)))


#: template index of each HumanML3D joint (the inverse of SMPL22_BVH_TO_T2M)
T2M_TO_SMPL22_BVH = [SMPL22_BVH_TO_T2M.index(t) for t in range(22)]
SMPL22_NAME_MAP = {t2m: SMPL22_BVH_NAMES[i] for i, t2m in enumerate(SMPL22_BVH_TO_T2M)}


def rest_joints(offsets: np.ndarray) -> np.ndarray:
    """(22, 3) rest positions in HumanML3D order of template-order OFFSETs (root at 0)."""
    pos = np.zeros((22, 3))
    for i, p in enumerate(SMPL22_BVH_PARENTS):
        if p >= 0:
            pos[i] = pos[p] + offsets[i]
    return pos[T2M_TO_SMPL22_BVH]


def _rest_offsets_for(joints: np.ndarray, template: np.ndarray) -> np.ndarray:
    """Rest offsets (template order) with the template's directions, the motion's (median)
    bone lengths, and below the two branching joints (pelvis, spine3) the motion's own
    sibling geometry in the solver's frame of that joint, so one rotation places all its
    children exactly (the rigid skeleton's fit without refinement rounds).  ``joints``:
    ``(F, 22, 3)`` in HumanML3D order."""
    offs = rigid_offsets(joints, iterations=0, directions=template[T2M_TO_SMPL22_BVH])
    offs = offs[SMPL22_BVH_TO_T2M]
    root = SMPL22_BVH_PARENTS.index(-1)
    offs[root] = template[root]  # the hips' offset from the origin is the template's
    return offs


def solve_smpl22_rotations(joints: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """World rotations ``(F, 22, 3, 3)`` (template joint order) whose FK with ``offsets`` puts
    every joint on ``joints`` (template order, ``(F, 22, 3)``) where the bone geometry allows:
    the motion layer's solver (:func:`~bamm_core.motion.rotation_solver.solve_world_rotations`)
    with the template skeleton as the rest pose (whose rotations are all identity)."""
    joints_t2m = np.asarray(joints, np.float64)[:, T2M_TO_SMPL22_BVH]
    world = solve_world_rotations(rest_joints(np.asarray(offsets, np.float64)), joints_t2m)
    return np.stack([world[t] for t in SMPL22_BVH_TO_T2M], axis=1)


def smpl22_bvh_from_joints(joints: np.ndarray, fps: float = HUMANML3D_TIMEBASE.fps, offsets: str | np.ndarray = "motion") -> BVH:
    """Build the SMPL-22 :class:`BVH` of a ``(T, 22, 3)`` HumanML3D-order joint motion (metres).

    ``offsets``: ``"motion"`` (default) = template directions with the motion's bone lengths and
    sibling geometry, so FK reproduces the positions; ``"template"`` = the template's OFFSETs
    exactly (positions then differ by the bone-length mismatch); or an explicit ``(22, 3)``
    array in template order.
    """
    joints = np.asarray(joints, dtype=np.float64)
    if joints.ndim != 3 or joints.shape[1:] != (22, 3):
        raise ValueError(f"expected joints of shape (T, 22, 3), got {joints.shape}")
    if joints.shape[0] < 1 or not np.isfinite(joints).all():
        raise ValueError("joints must have at least one frame and finite values")
    if fps <= 0:
        raise ValueError(f"fps must be positive, got {fps}")
    if isinstance(offsets, str):
        if offsets == "motion":
            offs = _rest_offsets_for(joints, SMPL22_BVH_OFFSETS)
        elif offsets == "template":
            offs = SMPL22_BVH_OFFSETS.copy()
        else:
            raise ValueError(f"offsets must be 'motion', 'template' or an array, got {offsets!r}")
    else:
        offs = np.asarray(offsets, dtype=np.float64)
        if offs.shape != (22, 3):
            raise ValueError(f"offsets must be (22, 3), got {offs.shape}")
    jb = joints[:, SMPL22_BVH_TO_T2M]
    W = solve_smpl22_rotations(jb, offs)
    local = np.empty_like(W)
    for j, p in enumerate(SMPL22_BVH_PARENTS):
        local[:, j] = W[:, j] if p < 0 else np.swapaxes(W[:, p], -1, -2) @ W[:, j]
    motion = np.zeros((jb.shape[0], 6 + 3 * 21))
    motion[:, 0:3] = jb[:, 0]
    motion[:, 3:6] = matrix_to_euler(local[:, 0], "ZYX")
    for j in range(1, 22):
        motion[:, 6 + 3 * (j - 1):9 + 3 * (j - 1)] = matrix_to_euler(local[:, j], "ZYX")
    bvh = smpl22_template_bvh(offs, 1.0 / fps)
    bvh.motion = motion
    return bvh


def save_smpl22_bvh(joints: np.ndarray, path: str | Path, fps: float = HUMANML3D_TIMEBASE.fps,
                    offsets: str | np.ndarray = "motion") -> Path:
    """Write a ``(T, 22, 3)`` joint motion (metres, Y up) as a SMPL-22 BVH (template names).

    See :func:`smpl22_bvh_from_joints` for ``offsets``.  Returns the written path.
    """
    return write_bvh(smpl22_bvh_from_joints(joints, fps, offsets), path)


def is_smpl22_bvh(bvh: BVH) -> bool:
    """Whether a BVH has every joint name of the SMPL-22 template (our own export)."""
    names = set(bvh.names)
    return all(n in names for n in SMPL22_BVH_NAMES)


def bvh_to_smpl22(bvh: BVH) -> np.ndarray:
    """World positions of the 22 HumanML3D joints ``(F, 22, 3)`` of a BVH that uses the
    SMPL-22 template names (file units, normally metres; Y up; the file's fps).  Other
    skeletons: :func:`bamm_core.rigs.bvh_joints.bvh_joints` with a rig preset."""
    if not is_smpl22_bvh(bvh):
        raise ValueError("this BVH does not use the SMPL-22 joint names; read it with a rig preset "
                         f"(bamm_core.rigs.bvh_joints) (joints: {', '.join(bvh.names)})")
    pos = bvh.forward_kinematics()
    return pos[:, [bvh.index(SMPL22_NAME_MAP[t]) for t in range(22)]].astype(np.float64)


__all__ = [
    "save_smpl22_bvh", "smpl22_bvh_from_joints", "smpl22_template_bvh", "solve_smpl22_rotations",
    "bvh_to_smpl22", "is_smpl22_bvh", "rest_joints", "SMPL22_BVH_NAMES", "SMPL22_BVH_TO_T2M",
    "T2M_TO_SMPL22_BVH", "SMPL22_BVH_OFFSETS", "SMPL22_BVH_PARENTS", "SMPL22_NAME_MAP",
]
