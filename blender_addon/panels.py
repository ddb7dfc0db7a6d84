"""Scene settings and the View3D › Sidebar › BAMM panel."""
from __future__ import annotations

import bpy
from bpy.props import (BoolProperty, EnumProperty, FloatProperty, FloatVectorProperty, IntProperty,
                       PointerProperty, StringProperty)

from . import body, dependencies, enums, operators_variations, understanding
from .settings import shared_settings

_LIMITS = enums.limits()

_detect_cache: dict = {}


class BAMM_Settings(bpy.types.PropertyGroup):
    prompt: StringProperty(name="Prompt", default="a person walks forward",
                           description="What the character does")
    length_mode: EnumProperty(name="Length", default="PREDICTED",
                              items=[("PREDICTED", "Predicted", "Let the model choose the length"),
                                     ("SECONDS", "Seconds", "A fixed length")])
    seconds: FloatProperty(name="Seconds", default=4.0, min=0.0, soft_min=_LIMITS["min_seconds"],
                           soft_max=_LIMITS["max_seconds"])
    seed: IntProperty(name="Seed", default=0, min=0)
    variations: IntProperty(name="Variations", default=1, min=1, max=8)
    extend_seconds: FloatProperty(name="Extend by (s)", default=2.0, min=0.0, soft_min=_LIMITS["min_seconds"],
                                  soft_max=_LIMITS["max_extend_seconds"])
    # the prompt timeline and the path (operators_timeline, curve_path)
    path: PointerProperty(name="Path", type=bpy.types.Object, poll=lambda self, ob: ob.type == "CURVE",
                          description="A curve (Bezier, NURBS, poly) that Generate, Generate Timeline and "
                                      "Extend make the character walk along (its first spline, world space)")
    timeline_predict_last: BoolProperty(name="Predict last length", default=False,
                                        description="The last prompt marker's segment gets the length the "
                                                    "model predicts instead of running to the scene's end")
    timeline_index: IntProperty(name="Active marker", default=-1)
    marker_prompt: StringProperty(name="Marker prompt", default="a person walks forward",
                                  description="Prompt of the marker Add Prompt Marker puts at the current frame")
    # Add Body (blender_addon/body.py)
    body_gender: EnumProperty(name="Gender", items=body.GENDER_ITEMS, default="neutral")
    body_betas: FloatVectorProperty(name="Shape", size=body.NUM_BETAS, default=(0.0,) * body.NUM_BETAS,
                                    min=-5.0, max=5.0, description="The body's first shape coefficients (betas)")


BAMM_Settings.__annotations__.update(shared_settings())  # the operators' shared settings

def _detected(ob) -> str:
    key = (ob.name, len(ob.data.bones))
    if key not in _detect_cache:
        if not dependencies.status()[0]:
            return "(install the dependencies to detect)"
        try:
            from .core import submodule

            p, m = submodule("rigs.presets").detect([b.name for b in ob.data.bones])
            _detect_cache[key] = f"{p.label} ({len(m)}/22 joints)"
        except Exception as e:  # noqa: BLE001 - shown, not raised
            _detect_cache[key] = f"not recognised: {str(e)[:60]}"
    return _detect_cache[key]


class BAMM_PT_panel(bpy.types.Panel):
    bl_label = "BAMM Motion"
    bl_idname = "BAMM_PT_panel"
    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = "BAMM"

    def draw(self, context):
        layout = self.layout
        s = context.scene.bamm
        ready, msg = dependencies.status()
        if not ready:
            box = layout.box()
            box.label(text="Engine not ready", icon="ERROR")
            for line in (msg[i:i + 48] for i in range(0, len(msg), 48)):
                box.label(text=line)
        layout.prop(s, "prompt", text="")
        understanding.draw(layout, s.prompt)
        row = layout.row(align=True)
        row.prop(s, "length_mode", expand=True)
        if s.length_mode == "SECONDS":
            layout.prop(s, "seconds")
        row = layout.row(align=True)
        row.prop(s, "seed")
        row.operator("bamm.new_seed", text="", icon="FILE_REFRESH")
        layout.prop(s, "variations")
        col = layout.column(align=True)
        col.prop(s, "guidance")
        layout.prop(s, "refine")

        box = layout.box()
        ob = context.active_object
        if ob is not None and ob.type == "ARMATURE":
            box.label(text=f"Armature: {ob.name}", icon="ARMATURE_DATA")
            if s.rig_preset == "AUTO":
                box.label(text="Detected: " + _detected(ob))
        else:
            box.label(text="Select an armature", icon="INFO")
        box.prop(s, "rig_preset")
        if s.rig_preset == "CUSTOM":
            box.prop(s, "custom_map")
        box.prop(s, "in_place")
        box.prop(s, "plant_feet")

        col = layout.column(align=True)
        col.enabled = ready
        op = col.operator("bamm.generate", icon="PLAY")
        op.side_by_side = s.variations > 1  # variations from the panel: side by side
        op = col.operator("bamm.inpaint", icon="SEQ_STRIP_DUPLICATE")
        op.variations, op.side_by_side = s.variations, s.variations > 1
        operators_variations.draw_candidates(layout)
        layout.prop(s, "blend_frames")
        row = layout.row(align=True)
        row.enabled = ready
        op = row.operator("bamm.outpaint", text="Extend Before", icon="TRIA_LEFT")
        op.seconds_before = s.extend_seconds
        op = row.operator("bamm.outpaint", text="Extend After", icon="TRIA_RIGHT")
        op.seconds_after = s.extend_seconds
        layout.prop(s, "extend_seconds")
        layout.separator()
        layout.operator("bamm.create_armature", icon="OUTLINER_OB_ARMATURE")
        body.draw_add_body(layout, context)


classes = (BAMM_Settings, BAMM_PT_panel)
