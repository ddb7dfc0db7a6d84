"""The armature's animation -> model motion (no keyframing).

The math is the engine's motion -> rig pipeline (:mod:`bamm_core.rigs.pipeline`); this module
only reads the armature (bpy).
"""
from __future__ import annotations

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
