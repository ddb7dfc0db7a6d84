"""An armature's rest pose and its bone map onto the 22 HumanML3D joints (pure numpy).

Rig side conventions: everything is in *armature space* (the armature object's local space,
in its units: a Mixamo FBX import is often Y-up and in centimetres).  A rest pose is given per
bone by its head, tail, 3x3 rest rotation (Blender's ``bone.matrix_local``; columns = bone X,
Y (along the bone) and Z axes) and parent.  Blender's front view looks along +Y, so a
character facing the viewer faces -Y, Z up, with its left side at +X.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..motion import skeleton as _skeleton
from ..motion.rotation_solver import PRIMARY_CHILD, normalize, swing

JOINT_NAMES: list[str] = list(_skeleton.JOINT_NAMES)
PARENTS: np.ndarray = np.asarray(_skeleton.PARENTS, dtype=np.int64)
NUM_JOINTS = len(JOINT_NAMES)
J = {name: i for i, name in enumerate(JOINT_NAMES)}

#: joints a rig must map (the rest are optional: spine1-3 need at least one, neck/head one).
REQUIRED_JOINTS = (0, 1, 2, 4, 5, 7, 8, 16, 17, 18, 19)
SPINE_JOINTS = (3, 6, 9)
NECK_JOINTS = (12, 15)

#: HumanML3D (Y-up, facing +Z) -> Blender canonical (Z-up, facing -Y): +90 degrees about X.
YUP_TO_ZUP = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])


class RetargetError(ValueError):
    """The armature cannot be retargeted (e.g. no recognisable bones); message says why."""


def roll_to_matrix(head: np.ndarray, tail: np.ndarray, roll: float | np.ndarray) -> np.ndarray:
    """Blender's bone rest rotation from head, tail (..., 3) and roll (radians) -> (..., 3, 3).

    The Y axis points head -> tail; X/Z come from the smallest rotation of +Y onto that
    direction followed by ``roll`` about it (Blender's ``vec_roll_to_mat3``).
    """
    y = normalize(np.asarray(tail, float) - np.asarray(head, float))
    base = swing(np.broadcast_to(np.array([0.0, 1.0, 0.0]), y.shape), y)
    roll = np.asarray(roll, float)
    c, s = np.cos(roll), np.sin(roll)
    ry = np.zeros(roll.shape + (3, 3))
    ry[..., 0, 0], ry[..., 0, 2], ry[..., 1, 1], ry[..., 2, 0], ry[..., 2, 2] = c, s, 1.0, -s, c
    return base @ ry


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


def fill_missing_joints(x: np.ndarray, tails: dict[int, np.ndarray]) -> np.ndarray:
    """Fill NaN joints of x (..., 22, 3): end joints from their parent bone's tail, inner
    joints by interpolating between the nearest known ancestor and descendant on the chain."""
    x = np.array(x, dtype=np.float64)
    known = ~np.isnan(x[..., 0]).reshape(-1, NUM_JOINTS).any(axis=0)
    for j in range(NUM_JOINTS):
        if known[j]:
            continue
        down, steps_down = PRIMARY_CHILD[j], 1
        while down is not None and not known[down]:
            down, steps_down = PRIMARY_CHILD[down], steps_down + 1
        up, steps_up = int(PARENTS[j]), 1
        while up >= 0 and not known[up] and not np.all(np.isfinite(x[..., up, :])):
            up, steps_up = int(PARENTS[up]), steps_up + 1
        if up < 0:
            raise RetargetError(f"cannot place joint {JOINT_NAMES[j]}: no mapped ancestor")
        if down is None:
            x[..., j, :] = tails[up] if up in tails else x[..., up, :]
        else:
            f = steps_up / (steps_up + steps_down)
            x[..., j, :] = (1 - f) * x[..., up, :] + f * x[..., down, :]
    return x


def smpl_rest_joints(arms: str = "T", arm_angle: float = 45.0) -> np.ndarray:
    """(22, 3) rest pose of the engine's skeleton: Y-up metres, facing +Z, feet on y = 0.

    Bone lengths are HumanML3D's target skeleton (:mod:`bamm_core.motion.skeleton`);
    directions are its raw offsets except: arms straight out (``arms="T"``) or ``arm_angle``
    degrees below horizontal (``"A"``), head above the neck, feet pointing forward and
    slightly down.
    """
    dirs = np.array(_skeleton.RAW_OFFSETS, dtype=np.float64)
    if arms not in ("T", "A"):
        raise ValueError("arms must be 'T' or 'A'")
    a = np.radians(arm_angle if arms == "A" else 0.0)
    for j, side in ((16, 1), (18, 1), (20, 1), (17, -1), (19, -1), (21, -1)):
        dirs[j] = [side * np.cos(a), -np.sin(a), 0.0]
    dirs[15] = [0.0, 1.0, 0.0]
    dirs[10] = dirs[11] = np.array([0.0, -0.35, 1.0]) / np.linalg.norm([0.0, -0.35, 1.0])
    x = np.zeros((22, 3))
    for j in range(1, 22):
        x[j] = x[PARENTS[j]] + dirs[j] * _skeleton.T2M_TARGET_BONE_LENGTHS[j]
    x[:, 1] -= x[[10, 11], 1].min()
    return x


__all__ = ["JOINT_NAMES", "PARENTS", "NUM_JOINTS", "J", "REQUIRED_JOINTS", "YUP_TO_ZUP",
           "RetargetError", "RestPose", "roll_to_matrix", "resolve_bone_map", "check_bone_map",
           "fill_missing_joints", "smpl_rest_joints"]
