"""Sidebar › BAMM › Timeline: the prompt markers as a list of segments, the Path field.

The list shows the scene's prompt markers (named ``"> <prompt>"``) in frame order: prompt,
start frame and length in frames (to the next prompt marker; the last one to the scene's end,
or "auto" when its length is predicted) and, after a Generate Timeline, what the model
understood each prompt as.  Other markers are not listed.
"""
from __future__ import annotations

import bpy

from . import dependencies, timeline, understanding


class BAMM_UL_prompt_markers(bpy.types.UIList):
    """The scene's timeline markers filtered to prompt markers, sorted by frame"""

    def draw_item(self, context, layout, data, item, icon, active_data, active_propname, index=0):
        scene = context.scene
        markers = timeline.prompt_markers(scene)
        k = next((i for i, m in enumerate(markers) if m.name == item.name and m.frame == item.frame), None)
        if k is None:
            layout.label(text=item.name)
            return
        last = k + 1 == len(markers)
        length = "auto" if last and scene.bamm.timeline_predict_last else \
            str(timeline.segment_end(scene, markers, k) - item.frame)
        prompt = timeline.marker_prompt(item.name)
        row = layout.row(align=True)
        row.label(text=prompt or "(empty prompt)", icon="MARKER_HLT")
        row.label(text=f"{item.frame}  +{length}")
        shown = understanding.understood_text(prompt or "")  # after a Generate Timeline
        if shown is not None:
            row.label(text=shown[0].replace("understood as ", "≈ "), icon="INFO" if shown[1] else "ERROR")

    def filter_items(self, context, data, propname):
        items = getattr(data, propname)
        flags = [self.bitflag_filter_item if timeline.is_prompt_marker(m) else 0 for m in items]
        by_frame = sorted(range(len(items)), key=lambda i: items[i].frame)
        order = [0] * len(items)
        for pos, i in enumerate(by_frame):
            order[i] = pos
        return flags, order


class BAMM_PT_timeline(bpy.types.Panel):
    bl_label = "Timeline"
    bl_idname = "BAMM_PT_timeline"
    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = "BAMM"
    bl_parent_id = "BAMM_PT_panel"

    def draw(self, context):
        layout = self.layout
        scene = context.scene
        s = scene.bamm
        layout.label(text=f"Markers named '{timeline.PREFIX}prompt' start segments")
        layout.template_list("BAMM_UL_prompt_markers", "", scene, "timeline_markers", s, "timeline_index", rows=3)
        row = layout.row(align=True)
        row.prop(s, "marker_prompt", text="")
        row.operator("bamm.add_prompt_marker", text="", icon="ADD")
        layout.prop(s, "timeline_predict_last")
        layout.prop(s, "path")
        ready = dependencies.status()[0]
        col = layout.column(align=True)
        col.enabled = ready
        col.operator("bamm.generate_timeline", icon="SEQ_SEQUENCER")
        markers = scene.timeline_markers
        active = markers[s.timeline_index] if 0 <= s.timeline_index < len(markers) else None
        op = col.operator("bamm.regenerate_segment", icon="FILE_REFRESH")
        op.marker = active.name if active is not None and timeline.is_prompt_marker(active) else ""


classes = (BAMM_UL_prompt_markers, BAMM_PT_timeline)
