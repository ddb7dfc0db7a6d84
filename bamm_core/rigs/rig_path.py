"""A path given in a rig's space (a Blender curve, read in armature space) -> the engine's
ground plane, and a motion that follows it -> a pose on the rig (pure numpy).

The engine's :func:`bamm_core.motion.path.follow_path` works in motion space: Y-up metres,
points ``(N, 2)`` as ``[x, z]``.  A rig's armature space has its own axes and units (the
:class:`~bamm_core.rigs.retargeting.Retargeter`'s linear map), so the path is mapped with the
same scale the motion will be retargeted with; after retargeting (which places the clip on
the rig: feet on its ground) the clip is moved horizontally so the pelvis starts on the path.
"""
from __future__ import annotations

import numpy as np

from .pipeline import to_fps
from .retargeting import Retargeter, RigPose


def path_to_motion(retargeter: Retargeter, rig_points: np.ndarray, scale: float) -> np.ndarray:
    """Points ``(N, 3)`` in armature space -> ``(N, 2)`` ``[x, z]`` on the motion's ground
    plane (the height along the rig's up axis is dropped)."""
    p = retargeter.rig_to_motion(np.asarray(rig_points, np.float64), scale)
    return np.ascontiguousarray(p[:, [0, 2]])


def move_to(retargeter: Retargeter, pose: RigPose, rig_point: np.ndarray) -> RigPose:
    """Shift ``pose`` horizontally (along the rig's ground) so its first pelvis position is
    over ``rig_point`` (armature space); heights are kept."""
    up = retargeter.axes[:, 2]
    d = np.asarray(rig_point, np.float64) - pose.joints[0, 0]
    d = d - np.dot(d, up) * up
    pose.root_location = (pose.root_location + d @ retargeter.rest.matrices[retargeter.map[0]]).astype(np.float32)
    pose.joints = (pose.joints + d).astype(np.float32)
    return pose


def follow_on_rig(retargeter: Retargeter, joints: np.ndarray, model_fps: float, scene_fps: float,
                  rig_points: np.ndarray, *, fit_end: bool = False, n_out: int | None = None) -> RigPose:
    """A new motion (joints at model fps) bent onto the path ``rig_points`` (armature space)
    and retargeted onto the rig at scene fps, its pelvis starting at the path's first point."""
    from ..motion.path import follow_path

    joints = np.asarray(joints, np.float64)
    scale = retargeter.motion_scale(joints)
    points = path_to_motion(retargeter, rig_points, scale)
    moved = follow_path(joints, points, float(model_fps), fit_end=fit_end)
    x = to_fps(moved, model_fps, scene_fps, n_out)
    pose = retargeter.retarget(x, scale=scale)
    return move_to(retargeter, pose, np.asarray(rig_points, np.float64)[0])


def follow_part(joints: np.ndarray, points: np.ndarray, fps: float, start: int, end: int, *,
                at_end: bool = False) -> np.ndarray:
    """Frames ``start:end`` of a motion bent onto the path's shape (motion-space ``[x, z]``
    points), the path moved so that it starts at the root of frame ``start`` (``at_end``: so
    that it ends at the root of frame ``end - 1``, which the bent frames then reach); the
    other frames are returned unchanged.  Extend uses it: the new frames go on along the path
    from (or arrive along it at) the kept ones."""
    from ..motion.path import follow_path

    out = np.array(joints, np.float32)
    part = out[start:end]
    pts = np.asarray(points, np.float64)
    anchor = -1 if at_end else 0
    pts = pts - pts[anchor] + part[anchor, 0, [0, 2]]
    out[start:end] = follow_path(part, pts, float(fps), fit_end=at_end)
    return out


__all__ = ["path_to_motion", "move_to", "follow_on_rig", "follow_part"]
