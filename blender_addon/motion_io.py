"""The armature's animation <-> model motion, and the weights of edited keys (no keyframing).

The math is the engine's motion -> rig pipeline (:mod:`bamm_core.rigs.pipeline`); this module
only reads the armature (bpy) and says how the operators' *Blend frames* applies to keys.
"""
from __future__ import annotations

import numpy as np

from .core import submodule
from .rig import read_joints


def pipeline():
    return submodule("rigs.pipeline")


def read_motion(context, ob, retargeter, a0: int, a1: int, timebase):
    """The armature's animation over scene frames a0..a1 -> (float32 joints at the model's
    fps in model space, the scale that maps them back onto the rig exactly)."""
    scene = context.scene
    rig = read_joints(context, ob, retargeter, range(a0, a1 + 1))
    return pipeline().rig_to_motion(retargeter, rig, scene.render.fps / scene.render.fps_base, timebase.fps)


def edge_weights(n: int, blend: int, at_start: bool = True, at_end: bool = True) -> np.ndarray:
    """Weights of ``n`` new keys next to kept ones (``blend`` = 0: a hard cut, all ones)."""
    return pipeline().edge_weights(n, blend, at_start, at_end)


def range_weights(n: int, blend: int) -> np.ndarray:
    """Weights of the keys of an inpainted range (its first and last frame included).

    ``blend`` = 0: a hard cut, every key is the new motion's.  ``blend`` >= 1: the range's
    border keys are where the new motion attaches: they keep the existing pose, and the new
    motion fades in over ``blend`` frames from each border."""
    if blend <= 0 or n < 2:
        return edge_weights(n, 0)
    w = np.zeros(n)
    w[1:-1] = edge_weights(n - 2, blend - 1)
    return w
