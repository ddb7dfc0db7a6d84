"""What the engine hands over: the prediction kept raw, foot contacts labelled, feet planted.

:func:`deliver` finishes a :class:`~bamm_core.motion.clip.Motion` the engine has just made:
``raw_joints`` keeps the per-joint prediction as decoded, ``contacts`` gets the (T, 2)
foot contacts (:func:`~bamm_core.motion.contacts.motion_contacts`) and, unless turned off,
``joints`` gets the feet planted (:func:`~bamm_core.motion.foot_planting.plant_feet`).  For an
edit (``frames=(start, end)``) only frames inside the range are planted, faded in and out over
``blend`` frames at each edge that touches kept frames, and every frame outside the range is
returned exactly as it was.
"""
from __future__ import annotations

import numpy as np

from .blending import edge_weights
from .clip import Motion
from .contacts import motion_contacts
from .foot_planting import plant_feet as plant


def deliver(motion: Motion, *, plant_feet: bool = True, frames: tuple[int, int] | None = None,
            blend: int = 4) -> Motion:
    """Set ``motion.raw_joints`` and ``motion.contacts``; plant the feet of ``motion.joints``
    (all frames, or only ``frames = (start, end)``); returns the same motion."""
    raw = motion.joints
    contacts = motion_contacts(raw, motion.fps, motion.features)
    motion.raw_joints, motion.contacts = raw, contacts
    if not plant_feet:
        return motion
    t = raw.shape[0]
    start, end = (0, t) if frames is None else (int(frames[0]), int(frames[1]))
    inside = np.zeros(t, dtype=bool)
    inside[start:end] = True
    planted = plant(raw, contacts & inside[:, None], motion.fps)
    if (start, end) != (0, t):
        w = edge_weights(end - start, blend, at_start=start > 0, at_end=end < t)
        out = raw.copy()
        out[start:end] = raw[start:end] + (w[:, None, None] * (planted[start:end] - raw[start:end])
                                           ).astype(raw.dtype)
        planted = out
    motion.joints = planted.astype(raw.dtype)
    motion.info["feet_planted"] = True
    return motion


__all__ = ["deliver"]
