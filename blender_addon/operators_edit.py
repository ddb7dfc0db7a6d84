"""bamm.inpaint (regenerate a frame range) and bamm.outpaint (extend before/after).

The engine edits with a hard cut; the operator's *Blend frames* is the one cross-fade,
applied to the keys at the edges of the new frames (0 = a hard cut).  Keys outside the
edited range are never rewritten.
"""
from __future__ import annotations

import bpy
import numpy as np
from bpy.props import BoolProperty, FloatProperty, IntProperty

from . import curve_path, enums, keyframes, motion_io, scene_range
from .core import submodule
from .engine_loader import engine_loader, model_timebase
from .operators_base import (
    EngineOperator, Plan, checked_seconds, contacts_for, feet_lock, lookup_armature, prompt_text, scene_fps,
)
from .operators_variations import inpaint_plan, side_by_side_count
from .rig import UserError, armature_from_context, retargeter_for

_LIMITS = enums.limits()


def timeline_selection(scene) -> tuple[int, int]:
    """The range to regenerate: preview range if on, else between the first two selected
    markers, else a UserError telling how to select."""
    if scene.use_preview_range:
        return scene.frame_preview_start, scene.frame_preview_end
    sel = sorted(m.frame for m in scene.timeline_markers if m.select)
    if len(sel) >= 2:
        return sel[0], sel[1]
    raise UserError("no frame range selected: enable the timeline's preview range (Timeline › View › "
                    "Set Preview Range, or Ctrl+Alt+P) or select two timeline markers around the frames "
                    "to regenerate")


def action_range(ob) -> tuple[object, int, int]:
    """(action, first frame, last frame) of the armature's keyed action; UserError if none."""
    ad = ob.animation_data
    action = ad.action if ad else None
    if action is None:
        raise UserError(f"armature {ob.name!r} has no action to edit: Generate a motion or keyframe it first")
    bag = keyframes.channels(ob, action)
    frames = [kp.co.x for fc in bag.fcurves for kp in (fc.keyframe_points[0], fc.keyframe_points[-1])
              if len(fc.keyframe_points)]
    if not frames:
        raise UserError(f"action {action.name!r} has no keyframes to edit")
    return action, int(np.floor(min(frames))), int(np.ceil(max(frames)))


def _same_action(ob_name: str, action_name: str, what: str):
    ob = lookup_armature(ob_name)
    ad = ob.animation_data
    if ad is None or ad.action is None or ad.action.name != action_name:
        raise UserError(f"the action of {ob.name!r} changed while computing; run {what} again")
    return ob, ad.action


class _EditSource:
    """What an edit reads on the main thread: armature, retargeter, action, model motion."""

    def __init__(self, op, context):
        self.text = prompt_text(op)
        self.ob = armature_from_context(context, op.armature)
        self.retargeter, self.label = retargeter_for(self.ob, op.rig_preset, op.custom_map)
        self.action, self.a0, self.a1 = action_range(self.ob)

    def read(self, context, op):
        self.get_engine = engine_loader(context)
        self.timebase = model_timebase(context)
        self.fps = scene_fps(context.scene)
        self.joints, self.scale = motion_io.read_motion(context, self.ob, self.retargeter, self.a0, self.a1,
                                                        self.timebase)
        self.seed, self.blend, self.cfg = op.seed, op.blend_frames, float(op.guidance[0])
        self.ob_name, self.action_name = self.ob.name, self.action.name
        return self


class BAMM_OT_inpaint(EngineOperator, bpy.types.Operator):
    """Regenerate the selected frame range (preview range or two selected markers) from the
    prompt; keys outside the range are not touched"""

    bl_idname = "bamm.inpaint"
    bl_label = "Inpaint Selection"

    frame_start: IntProperty(name="Start", default=-1, description="-1: use the timeline selection")
    frame_end: IntProperty(name="End", default=-1, description="-1: use the timeline selection")
    variations: IntProperty(name="Variations", default=1, min=1, max=8,
                            description="Versions of the range, shown side by side (needs Side by side)")
    side_by_side: BoolProperty(name="Side by side", default=False,
                               description="Show the versions on temporary copies beside the armature; "
                                           "Keep one (bamm.keep_variation) or Discard them")

    @staticmethod
    def plan_fn(self, context) -> Plan:
        n, side = side_by_side_count(self)
        if n > 1 and not side:
            raise UserError("Inpaint shows its variations side by side: pass side_by_side=True "
                            "(or variations=1)")
        src = _EditSource(self, context)
        a0, a1, name = src.a0, src.a1, src.action.name
        if self.frame_start >= 0 and self.frame_end >= 0:
            f0, f1 = self.frame_start, self.frame_end
        else:
            f0, f1 = timeline_selection(context.scene)
        if f1 < f0:
            raise UserError(f"the selected range {f0}–{f1} is reversed: the end frame comes before the start")
        if f1 - f0 < 2:
            raise UserError(f"the selected range {f0}–{f1} is too short (needs at least 3 frames)")
        if f0 < a0 or f1 > a1:
            raise UserError(f"the selected range {f0}–{f1} lies outside the action '{name}' "
                            f"(frames {a0}–{a1}); use Extend to add frames beyond it")
        if f0 <= a0 and f1 >= a1:
            raise UserError(f"the selected range {f0}–{f1} covers the whole action (frames {a0}–{a1}); "
                            "select a part of it, or use Generate for a new motion")
        src.read(context, self)
        pipe = motion_io.pipeline()
        s, e = pipe.scene_range_to_model(f0, f1, a0, src.fps, src.timebase.fps, len(src.joints))
        lock, feet_note = feet_lock(self, src.retargeter)

        def inpaint_pose(seed, progress):
            eng = src.get_engine()
            m = eng.motion_from_joints(src.joints)
            m2 = eng.inpaint(m, start=s, end=e, text=src.text, seed=seed, blend=0, cfg=src.cfg,
                             progress=progress)
            return pipe.motion_to_rig(src.retargeter, m2.joints, src.timebase.fps, src.fps, scale=src.scale,
                                      n_out=a1 - a0 + 1, frames=slice(f0 - a0, f1 - a0 + 1),
                                      contacts=contacts_for(lock, m2))

        if side:
            return inpaint_plan(src, inpaint_pose, np.arange(f0, f1 + 1), n,
                                lambda: _same_action(src.ob_name, src.action_name, "Inpaint"))

        def work(progress):
            return np.arange(f0, f1 + 1), inpaint_pose(src.seed, progress)

        def apply(context, result):
            frames, pose = result
            ob, action = _same_action(src.ob_name, src.action_name, "Inpaint")
            w = motion_io.pipeline().range_weights(len(frames), src.blend)
            keyframes.write_pose(ob, action, pose, frames, weights=w)
            return f"Inpainted frames {frames[0]}–{frames[-1]} of '{src.action_name}' with '{src.text}'" + feet_note

        return Plan(work, apply, "inpaint")


class BAMM_OT_outpaint(curve_path.PathOptions, EngineOperator, bpy.types.Operator):
    """Extend the armature's action before and/or after with motion following the prompt; the
    scene's frame range grows to cover the new keys (new keys that would fall before frame 0
    move the whole action later instead, so they can be played).  With a Path set, the new
    frames follow its shape from where the clip ends (before: arriving where it starts)"""

    bl_idname = "bamm.outpaint"
    bl_label = "Extend"

    seconds_before: FloatProperty(name="Before (s)", default=0.0, min=0.0,
                                  soft_max=_LIMITS["max_extend_seconds"])
    seconds_after: FloatProperty(name="After (s)", default=0.0, min=0.0,
                                 soft_max=_LIMITS["max_extend_seconds"])

    @staticmethod
    def plan_fn(self, context) -> Plan:
        if self.seconds_before <= 0 and self.seconds_after <= 0:
            prompt_text(self)
            raise UserError("nothing to extend: set seconds before and/or after")
        src = _EditSource(self, context)
        tb = model_timebase(context)
        most = tb.frames_to_seconds(tb.max_extend_frames)
        nb = checked_seconds(tb, self.seconds_before, "seconds before", lo=0.0, hi=most)
        na = checked_seconds(tb, self.seconds_after, "seconds after", lo=0.0, hi=most)
        points = curve_path.rig_points(context, self, src.ob)
        src.read(context, self)
        a0, a1 = src.a0, src.a1
        pipe = motion_io.pipeline()
        before = pipe.scene_frames_for(nb, tb.fps, src.fps)
        after = pipe.scene_frames_for(na, tb.fps, src.fps)
        frames = a0 - before + np.arange(before + (a1 - a0 + 1) + after)
        lock, feet_note = feet_lock(self, src.retargeter)

        def work(progress):
            eng = src.get_engine()
            m = eng.motion_from_joints(src.joints)
            m2 = eng.outpaint(m, extend_after=na, extend_before=nb, text=src.text, seed=src.seed,
                              blend=0, cfg=src.cfg, progress=progress)
            joints = m2.joints
            if points is not None:  # the new frames along the path's shape (kept keys untouched)
                rp = submodule("rigs.rig_path")
                pts, kept_end = rp.path_to_motion(src.retargeter, points, src.scale), nb + len(src.joints)
                if na:
                    joints = rp.follow_part(joints, pts, tb.fps, kept_end - 1, len(joints))
                if nb:
                    joints = rp.follow_part(joints, pts, tb.fps, 0, nb + 1, at_end=True)
            parts = []
            for wanted, sel, kept_after in ((nb, frames < a0, True), (na, frames > a1, False)):
                if wanted:  # the new keys next to the kept ones fade in from them
                    pose = pipe.motion_to_rig(src.retargeter, joints, tb.fps, src.fps, scale=src.scale,
                                              n_out=len(frames), frames=sel, contacts=contacts_for(lock, m2))
                    w = motion_io.pipeline().edge_weights(int(sel.sum()), src.blend, at_start=not kept_after,
                                               at_end=kept_after)
                    parts.append((frames[sel], pose, w))
            return parts

        def apply(context, parts):
            ob, action = _same_action(src.ob_name, src.action_name, "Extend")
            lo = min(p[0][0] for p in parts if len(p[0])) if nb else a0
            hi = max(p[0][-1] for p in parts if len(p[0])) if na else a1
            shift = scene_range.shift_for(lo)  # keys before frame 0 could not be played: move later
            scene_range.shift_action(ob, action, shift)
            for frames, pose, w in parts:
                if len(frames):
                    keyframes.write_pose(ob, action, pose, frames + shift, weights=w)
            note = scene_range.cover(bpy.context.scene, lo + shift, hi + shift)
            note += f"; the action moved {shift} frames later" if shift else ""
            return (f"Extended '{src.action_name}' to frames {lo + shift}–{hi + shift} with '{src.text}'{note}"
                    + feet_note)

        return Plan(work, apply, "extend")
