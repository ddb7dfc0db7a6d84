"""BAMM Motion: text-to-motion for Blender animators (extension package).

Sidebar › BAMM: type a prompt, Generate a motion onto the active armature; Inpaint a selected
frame range; Extend a clip; Generate Timeline from prompt markers ("> <prompt>") and
Regenerate one segment; walk along a Path curve.  Operators: ``bpy.ops.bamm.generate/inpaint/
outpaint/generate_timeline/regenerate_segment/add_prompt_marker/create_armature`` (callable
from scripts, synchronous there).  The engine (``bamm_core``) is
bundled; its Python dependencies (torch, ...) are installed from the preferences.
"""
from __future__ import annotations

import bpy

from . import dependencies, operators, panels, panels_timeline, preferences

_classes = (*preferences.classes, *operators.classes, *panels.classes, *panels_timeline.classes)


def register() -> None:
    dependencies.add_to_path()
    for cls in _classes:
        bpy.utils.register_class(cls)
    bpy.types.Scene.bamm = bpy.props.PointerProperty(type=panels.BAMM_Settings)


def unregister() -> None:
    del bpy.types.Scene.bamm
    for cls in reversed(_classes):
        bpy.utils.unregister_class(cls)
