"""Foot locking on the rig: the armature's own feet stay where they land (pure numpy).

Retargeting matches the motion's bone *directions*, so on a rig with other proportions (legs,
shins, A-pose rests, centimetre rests) the rig's feet slide a little even when the motion's
are planted.  :func:`plant_rig_feet` fixes that on the rig itself:

1. forward kinematics of the solved :class:`~bamm_core.rigs.retargeting.RigPose` gives where
   the rig's hips, knees, ankles (foot bones) and toes really are (armature space);
2. during each contact span of a foot (the motion's contacts, resampled to the scene's frame
   rate) its ankle and toe are pinned where they rest on the rig's own ground, and the pin is
   blended in and released smoothly (:func:`~bamm_core.motion.foot_planting.pin_offsets`,
   smoothstep ramps of :mod:`~bamm_core.motion.blending`), computed in the rig's up-aligned
   frame so Y-up or Z-up rigs, metres or centimetres, need no special case;
3. the leg reaches the pin with two-bone IK (:func:`~bamm_core.motion.leg_ik.two_bone_ik`)
   with the RIG's own thigh and shin lengths, the knee kept in the pose's bending plane;
4. the leg bones' rotations are solved again for the new positions (the retargeter's solver);
   every other bone, and the root location, are left exactly as they were.

A rig whose legs are not recognisable chains (e.g. foot bones not parented under the shins,
as with detached IK foot controls) is left unchanged: :func:`feet_problem` says why.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from ..motion.foot_planting import LEGS, default_release_frames, pin_offsets
from ..motion.leg_ik import two_bone_ik
from .rest_pose import YUP_TO_ZUP
from .retargeting import Retargeter, RigPose

#: the joints whose bones foot locking re-solves: hips (thighs), knees (shins), ankles, toes.
LEG_JOINTS = tuple(sorted({j for leg in LEGS for j in leg}))
#: how far (motion metres) in front of the posed knee the knee's pole is (see planted_leg_joints)
POLE_LEAD = 0.1


def feet_problem(retargeter: Retargeter) -> str | None:
    """None when the rig's legs can be foot-locked, else a message saying why not: each leg
    needs its thigh, shin and foot bones mapped, each parented under the previous one, with
    non-zero lengths."""
    names = retargeter.rest.names
    for side, (hip, knee, ankle, _toe) in zip(("left", "right"), LEGS):
        missing = [j for j in (hip, knee, ankle) if j not in retargeter.map]
        if missing:
            return f"the {side} leg has no recognisable thigh/shin/foot bones"
        for child, parent in ((knee, hip), (ankle, knee)):
            if retargeter.bone_parent.get(child) != parent:
                return (f"the {side} foot is not a chain: bone {names[retargeter.map[child]]!r} is not "
                        f"parented under {names[retargeter.map[parent]]!r}")
        x = retargeter.rest_joints
        if min(np.linalg.norm(x[knee] - x[hip]), np.linalg.norm(x[ankle] - x[knee])) < 1e-6:
            return f"the {side} leg has a zero-length thigh or shin bone"
    return None


def contacts_at(contacts, n_out: int, src_fps: float, dst_fps: float) -> np.ndarray:
    """(T, 2) bool contacts at ``src_fps`` -> (n_out, 2) at ``dst_fps`` (nearest in time)."""
    c = np.asarray(contacts, dtype=bool)
    if c.ndim != 2 or c.shape[1] != 2:
        raise ValueError(f"contacts must be (T, 2) (left, right foot), got {c.shape}")
    src = np.round(np.arange(int(n_out)) * float(src_fps) / float(dst_fps)).astype(int)
    return c[np.clip(src, 0, len(c) - 1)]


def planted_leg_joints(x: np.ndarray, contacts: np.ndarray, release: int, lead: float = 0.0) -> np.ndarray:
    """Joints ``x (T, 22, 3)`` (up = +Y, any unit) with knees, ankles and toes moved so each
    foot is pinned during its contacts; hips and thigh/shin/foot lengths are kept.  The knee
    bends towards a point ``lead`` (x's unit) in front of the posed knee: the pose's own bending
    plane when the leg is bent, forward when it is nearly straight (whose plane is noise)."""
    out = x.copy()
    forward = np.cross(x[:, 1] - x[:, 2], [0.0, 1.0, 0.0])     # right hip -> left hip, x up
    forward /= np.maximum(np.linalg.norm(forward, axis=-1, keepdims=True), 1e-12)
    for side, (hip, knee, ankle, toe) in enumerate(LEGS):
        if not contacts[:, side].any():
            continue
        target = x[:, ankle] + pin_offsets(x[:, ankle], contacts[:, side], release)
        target_toe = x[:, toe] + pin_offsets(x[:, toe], contacts[:, side], release)
        lengths = (np.linalg.norm(x[:, knee] - x[:, hip], axis=-1),
                   np.linalg.norm(x[:, ankle] - x[:, knee], axis=-1))
        new_knee, new_ankle = two_bone_ik(x[:, hip], x[:, knee], x[:, ankle], target, lengths=lengths,
                                          pole=x[:, knee] + lead * forward)
        foot = np.linalg.norm(x[:, toe] - x[:, ankle], axis=-1, keepdims=True)
        d = target_toe - new_ankle
        new_toe = new_ankle + d / np.maximum(np.linalg.norm(d, axis=-1, keepdims=True), 1e-12) * foot
        moved = (np.linalg.norm(target - x[:, ankle], axis=-1) > 0)[:, None]
        out[:, knee] = np.where(moved, new_knee, x[:, knee])
        out[:, ankle] = np.where(moved, new_ankle, x[:, ankle])
        out[:, toe] = np.where(moved, new_toe, x[:, toe])
    return out


def plant_rig_feet(retargeter: Retargeter, pose: RigPose, contacts, fps: float, *,
                   release_frames: int | None = None) -> tuple[RigPose, str | None]:
    """``pose`` with the rig's feet locked during ``contacts`` ((T, 2) bool, left/right foot,
    at the pose's frame rate ``fps``) -> ``(new pose, message)``.

    message is None when the feet were locked, else why the pose is returned unchanged (a rig
    without recognisable feet; never an error).  Only the thigh, shin, foot and toe bones'
    rotations change; ``pose.joints`` holds the new targets."""
    problem = feet_problem(retargeter)
    if problem is not None:
        return pose, f"Plant feet skipped: {problem}"
    t = pose.rotations.shape[0]
    c = np.asarray(contacts, dtype=bool)
    if c.shape != (t, 2):
        raise ValueError(f"contacts must be ({t}, 2) (left, right foot), got {c.shape}")
    if not c.any():
        return pose, None
    r = default_release_frames(fps) if release_frames is None else int(release_frames)
    m = retargeter.axes @ YUP_TO_ZUP                # Y-up frame <-> armature space
    fk = retargeter.fk(pose)
    lead = POLE_LEAD * retargeter.motion_scale()     # metres of the motion -> rig units
    planted = planted_leg_joints(fk @ m, c, r, lead) @ m.T
    target = np.array(pose.joints if pose.joints is not None else fk, dtype=np.float64)
    legs = list(LEG_JOINTS)
    target[:, legs] = planted[:, legs]
    solved = retargeter.solve(target)
    rots = np.array(pose.rotations, copy=True)
    for k, j in enumerate(retargeter.joints):
        if j in LEG_JOINTS:
            rots[:, k] = solved.rotations[:, k]
    return replace(pose, rotations=rots, joints=target.astype(np.float32)), None


__all__ = ["plant_rig_feet", "feet_problem", "contacts_at", "planted_leg_joints", "LEG_JOINTS"]
