"""Writing a bake's results: one armature's action as .fbx/.bvh, the .blend itself.

Every file is written to a temporary file in the same folder and renamed at the end
(:func:`bamm_core.formats.paths.atomic_path`), so an interrupted bake never leaves a corrupt
file.
"""
from __future__ import annotations

from pathlib import Path

import bpy

from bamm_core.formats.paths import atomic_path


class ExportFailed(Exception):
    """An export did not write its file."""


def activate(obj) -> None:
    """Make ``obj`` the only selected object and the active one (Object Mode)."""
    if bpy.context.object is not None and bpy.context.object.mode != "OBJECT":
        bpy.ops.object.mode_set(mode="OBJECT")
    for o in bpy.context.view_layer.objects:
        o.select_set(False)
    obj.hide_set(False)
    obj.select_set(True)
    bpy.context.view_layer.objects.active = obj


def export_armature(arm, action, path: Path) -> None:
    """Export only ``arm`` with ``action`` over the action's frame range (.fbx or .bvh),
    through a temporary file renamed at the end."""
    scene = bpy.context.scene
    f0, f1 = (int(round(x)) for x in action.frame_range)
    saved = (scene.frame_start, scene.frame_end, scene.frame_current)
    activate(arm)
    try:
        scene.frame_start, scene.frame_end = f0, f1
        with atomic_path(path) as tmp:
            if path.suffix.lower() == ".fbx":
                result = bpy.ops.export_scene.fbx(
                    filepath=tmp, check_existing=False, use_selection=True, object_types={"ARMATURE"},
                    add_leaf_bones=False, bake_anim=True, bake_anim_use_all_actions=False,
                    bake_anim_use_nla_strips=False, bake_anim_force_startend_keying=True,
                )
            else:
                result = bpy.ops.export_anim.bvh(
                    filepath=tmp, check_existing=False, frame_start=f0, frame_end=f1, root_transform_only=False,
                )
            if "FINISHED" not in result:
                raise ExportFailed(f"export to {path.name} failed")
    except RuntimeError as e:
        raise ExportFailed(f"export to {path.name} failed: {e}") from None
    finally:
        scene.frame_start, scene.frame_end = saved[0], saved[1]
        scene.frame_set(saved[2])


def save_blend(path: Path) -> None:
    """Save the open file to ``path`` via a temporary file in the same folder."""
    with atomic_path(path) as tmp:
        bpy.ops.wm.save_as_mainfile(filepath=tmp, check_existing=False, copy=True)
