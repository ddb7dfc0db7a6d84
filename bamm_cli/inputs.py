"""Motion inputs of ``bamm edit`` / ``bamm preview``: a file -> (T, 22, 3) joints at the
model's frame rate.

``.npz``/``.npy`` and our own SMPL-22 BVH are read by
:func:`bamm_core.formats.motion_file.read_motion`; any other BVH skeleton through the rig
layer's reader (:func:`bamm_core.rigs.bvh_joints.read_bvh_joints`) with a rig preset
(Mixamo, Rigify, UE5 Mannequin, Bandai Namco's mocap skeleton, ...), detected from the joint
names or named with ``--skeleton-map NAME|JSON``.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from bamm_core.formats.motion_file import MotionFileError, read_motion
from bamm_core.rigs.bvh_joints import read_bvh_joints

from .errors import UserError


def read_input(path: str | Path, fps: float, skeleton_map: str | None = None) -> np.ndarray:
    """``path`` as (T, 22, 3) float32 joints at ``fps``; UserError when it cannot be read."""
    try:
        return read_motion(path, fps, bvh_reader=lambda p: read_bvh_joints(p, skeleton_map))
    except MotionFileError as e:
        raise UserError(str(e)) from None


__all__ = ["read_input"]
