"""What the engine hands over: the prediction kept raw, on a rigid skeleton, feet planted.

:func:`deliver` finishes a :class:`~bamm_core.motion.clip.Motion` the engine has just made:
``raw_joints`` keeps the per-joint prediction as decoded; ``joints`` become that prediction
on a rigid skeleton (:func:`~bamm_core.motion.rigid_skeleton.rigid_joints`: fixed bone
lengths, so the joints, the BVH export and a retargeted rig show the same motion) with, unless
turned off, the feet planted (:func:`~bamm_core.motion.foot_planting.plant_feet`: bone
lengths kept); ``contacts`` gets the (T, 2) foot contacts
(:func:`~bamm_core.motion.contacts.motion_contacts`).  For an
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
from .rigid_skeleton import rigid_joints


def deliver(motion: Motion, *, plant_feet: bool = True, rigid: bool = True,
            frames: tuple[int, int] | None = None, blend: int = 4) -> Motion:
    """Finish ``motion`` in place and return it: ``raw_joints`` = the joints as given,
    ``joints`` = them on a rigid skeleton (``rigid``) with the feet planted (``plant_feet``),
    for all frames or only ``frames = (start, end)``; ``contacts`` from the rigid joints."""
    raw = motion.joints
    t = raw.shape[0]
    start, end = (0, t) if frames is None else (int(frames[0]), int(frames[1]))
    out = rigid_joints(raw) if rigid else raw
    contacts = motion_contacts(out, motion.fps, motion.features)
    motion.raw_joints, motion.contacts = raw, contacts
    if plant_feet:
        inside = np.zeros(t, dtype=bool)
        inside[start:end] = True
        out = plant(out, contacts & inside[:, None], motion.fps)
    if out is not raw and (start, end) != (0, t):
        w = edge_weights(end - start, blend, at_start=start > 0, at_end=end < t)
        edited = raw.copy()
        edited[start:end] = raw[start:end] + (w[:, None, None] * (out[start:end] - raw[start:end])
                                              ).astype(raw.dtype)
        out = edited
    motion.joints = out.astype(raw.dtype)
    motion.info.update(rigid=bool(rigid), feet_planted=bool(plant_feet))
    return motion


__all__ = ["deliver"]
