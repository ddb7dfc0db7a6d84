"""The settings the panel (``scene.bamm``) and every engine operator share, declared once.

An operator run from the panel copies each of them from the scene unless the caller set it
(``operators_base.SHARED``); a script passes them as operator arguments.
"""
from __future__ import annotations

from bpy.props import BoolProperty, EnumProperty, FloatVectorProperty, IntProperty, StringProperty

from . import enums


def shared_settings() -> dict:
    """Property definitions by name, for a class's ``__annotations__``."""
    return {
        "guidance": FloatVectorProperty(
            name="Guidance", size=2, default=enums.default_guidance(), min=0.0, max=20.0,
            description="Classifier-free guidance: first pass, refinement pass"),
        "refine": EnumProperty(name="Refinement", items=enums.refine_items, default=0),
        "rig_preset": EnumProperty(name="Rig preset", items=enums.preset_items, default=0),
        "custom_map": StringProperty(name="Custom map", subtype="FILE_PATH"),
        "in_place": BoolProperty(name="In place", default=False,
                                 description="Keep the hips over the origin"),
        "plant_feet": BoolProperty(
            name="Plant feet", default=True,
            description="Lock the rig's feet where they land during each foot contact "
                        "(legs solved with the rig's own bone lengths)"),
        "blend_frames": IntProperty(
            name="Blend frames", default=4, min=0, max=100,
            description="Frames over which new motion fades into the existing keys (0: a hard cut)"),
    }


__all__ = ["shared_settings"]
