"""bamm.keep_variation / bamm.discard_variations, and the side-by-side part of Generate and
Inpaint (the candidates themselves: :mod:`.variations`).

``bpy.ops.bamm.generate(variations=N, side_by_side=True)`` (or ``bamm.inpaint``) shows N
candidates beside the armature; ``bpy.ops.bamm.keep_variation(index=K)`` applies candidate K
to it (one undo step) and removes them all; ``bpy.ops.bamm.discard_variations()`` removes them.
"""
from __future__ import annotations

import bpy
import numpy as np
from bpy.props import IntProperty

from . import jobs, motion_io, variations
from .operators_base import Plan
from .rig import UserError


def side_by_side_count(op) -> tuple[int, bool]:
    """(variations, side by side) of an engine operator; UserError for variations without
    side by side on an operator that has no other way to show them, or while candidates wait.
    ``op`` may be a plain namespace without the two properties (one motion, as before)."""
    n, side = int(getattr(op, "variations", 1)), bool(getattr(op, "side_by_side", False))
    if side:
        variations.ensure_none_waiting()
    return n, side


def inpaint_plan(src, inpaint_pose, frames, n: int, same_action) -> Plan:
    """Inpaint's plan for N versions of the range on candidates: ``inpaint_pose(seed,
    progress)`` makes one (seeds seed, seed+1, ...); ``same_action()`` -> (armature, action)
    re-checks on the main thread that the action being edited is still there."""

    def work(progress):
        return [inpaint_pose(src.seed + i, _share(progress, i, n)) for i in range(n)]

    def apply(context, poses):
        ob, action = same_action()
        w = motion_io.pipeline().range_weights(len(frames), src.blend)
        return variations.show_inpainted(ob, action, poses, frames, w)

    return Plan(work, apply, "inpaint variations")


def _share(progress, i: int, n: int):
    """Progress of the i-th of n equal parts as progress of the whole."""
    return lambda done, total: progress(i * total + done, n * total)


class BAMM_OT_keep_variation(bpy.types.Operator):
    """Apply this variation's motion to the original armature and remove all variations"""

    bl_idname = "bamm.keep_variation"
    bl_label = "Keep Variation"
    bl_options = {"REGISTER", "UNDO"}

    index: IntProperty(name="Variation", default=1, min=1, description="The number shown beside it (#K)")

    @classmethod
    def poll(cls, context):
        return not jobs.busy()

    def execute(self, context):
        try:
            msg = variations.keep(self.index)
        except UserError as e:
            self.report({"ERROR"}, str(e))
            return {"CANCELLED"}
        self.report({"INFO"}, msg)
        return {"FINISHED"}


class BAMM_OT_discard_variations(bpy.types.Operator):
    """Remove all variations (also ones left in the file by a crash); nothing else changes"""

    bl_idname = "bamm.discard_variations"
    bl_label = "Discard Variations"
    bl_options = {"REGISTER", "UNDO"}

    @classmethod
    def poll(cls, context):
        return not jobs.busy()

    def execute(self, context):
        n = variations.discard()
        self.report({"INFO"}, f"Discarded {n} variation{'s' * (n != 1)}")
        return {"FINISHED"}


def draw_candidates(layout) -> None:
    """The panel's box while candidates exist: Keep #k buttons and Discard."""
    source = variations.waiting_source()
    if source is None:
        return
    box = layout.box()
    box.label(text=f"Variations of {source}", icon="RENDERLAYERS")
    for i, k in enumerate(np.unique([int(c[variations.MARK]) for c in variations.candidates()])):
        row = box.row(align=True) if i % 4 == 0 else row
        row.operator("bamm.keep_variation", text=f"Keep #{k}").index = int(k)
    box.operator("bamm.discard_variations", icon="TRASH")


classes = (BAMM_OT_keep_variation, BAMM_OT_discard_variations)
