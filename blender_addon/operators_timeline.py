"""The prompt timeline: bamm.generate_timeline, bamm.regenerate_segment, bamm.add_prompt_marker.

Timeline markers are the script: a marker named ``"> <prompt>"`` starts a segment that runs to
the next such marker (the last one to the scene's end frame, or predicted); other markers are
left alone (:mod:`.timeline`).  *Generate Timeline* composes every segment into ONE action on
the armature (``Engine.compose``), its keys starting at the first prompt marker, and grows the
scene range to cover them; *Regenerate Segment* redoes one segment (``Engine.recompose`` on the
action read back), writing keys only inside that segment's frames with the panel's *Blend
frames*; every key outside stays bit-identical.  Both follow the scene's *Path* when it is set
(Regenerate keeps the path through the kept neighbours).
"""
from __future__ import annotations

import bpy
import numpy as np
from bpy.props import BoolProperty, IntProperty, StringProperty

from . import curve_path, keyframes, motion_io, scene_range, timeline, understanding
from .core import submodule
from .engine_loader import engine_loader, model_timebase
from .operators_base import EngineOperator, Plan, contacts_for, feet_lock, lookup_armature, scene_fps, settings
from .operators_edit import _same_action, action_range
from .rig import UserError, armature_from_context, retargeter_for

_ABOUT = (" Prompt markers are timeline markers named '> <prompt>' (e.g. '> a person waves'); "
          "each starts a segment that runs to the next one, the last to the scene's end frame; "
          "other markers are ignored.")


def _options(op) -> dict:
    return dict(cfg=float(op.guidance[0]), refine_cfg=float(op.guidance[1]), refine=op.refine)


class BAMM_OT_generate_timeline(curve_path.PathOptions, EngineOperator, bpy.types.Operator):
    __doc__ = ("Generate one continuous action over every prompt marker's segment on the armature "
               "(the previous action is stashed)." + _ABOUT)

    bl_idname = "bamm.generate_timeline"
    bl_label = "Generate Timeline"

    predict_last: BoolProperty(name="Predict last length", default=False,
                               description="The last segment's length is predicted by the model")
    action_name: StringProperty(name="Action name", default="", description="Empty: 'Timeline'")
    segments: StringProperty(name="Segments", default="",
                             description="JSON [{\"prompt\": ..., \"seconds\": ... or null}, ...] instead of the "
                                         "markers (scripts, jobs files); keys start at start_frame")
    start_frame: IntProperty(name="Start frame", default=-1, description="With segments: -1 = the scene's start")

    def _fill_from_scene(self, context) -> None:
        super()._fill_from_scene(context)
        if not self.properties.is_property_set("predict_last"):
            self.predict_last = settings(context).timeline_predict_last

    @staticmethod
    def plan_fn(self, context) -> Plan:
        scene = context.scene
        tb, fps = model_timebase(context), scene_fps(scene)
        if self.segments:  # a script's timeline instead of the markers
            prompts, lengths = map(list, zip(*timeline.script_segments(self.segments, tb)))
            start, n_out = scene.frame_start if self.start_frame < 0 else self.start_frame, None
        else:
            segs = timeline.read_segments(scene, self.predict_last)
            lengths = timeline.model_lengths(segs, tb, fps)
            prompts, start = [s.prompt for s in segs], segs[0].start
            n_out = None if segs[-1].end is None else segs[-1].end - start
        ob = armature_from_context(context, self.armature)
        retargeter, label = retargeter_for(ob, self.rig_preset, self.custom_map)
        get_engine = engine_loader(context)
        points = curve_path.rig_points(context, self, ob)
        seed, in_place, options = self.seed, self.in_place, _options(self)
        ob_name, name = ob.name, self.action_name.strip() or "Timeline"
        lock, feet_note = feet_lock(self, retargeter)

        def work(progress):
            seg = submodule("generation.compose").Segment
            eng = get_engine()
            m = eng.compose([seg(p, n) for p, n in zip(prompts, lengths)], seed=seed,
                            progress=progress, **options)
            understanding.remember_segments(eng, m)  # "understood as" in the timeline list
            pipe = motion_io.pipeline()
            if points is not None:
                pose = submodule("rigs.rig_path").follow_on_rig(retargeter, m.joints, tb.fps, fps, points,
                                                                n_out=n_out)
                return pipe.lock_feet(retargeter, pose, contacts_for(lock, m), tb.fps, fps)
            return pipe.motion_to_rig(retargeter, m.joints, tb.fps, fps, in_place=in_place, n_out=n_out,
                                      contacts=contacts_for(lock, m))

        def apply(context, pose):
            ob = lookup_armature(ob_name)
            action = keyframes.assign_new_action(ob, name)
            frames = start + np.arange(len(pose.rotations))
            keyframes.write_pose(ob, action, pose, frames)
            note = scene_range.cover(bpy.context.scene, int(frames[0]), int(frames[-1]))
            return (f"Generated timeline '{action.name}' on {ob.name} ({label}): {len(prompts)} segments, "
                    f"frames {frames[0]}–{frames[-1]}{note}{feet_note}")

        return Plan(work, apply, "timeline")


def _chosen_marker(scene, name: str) -> str:
    """The marker to regenerate: ``name``, else the one selected prompt marker."""
    if name:
        return name
    chosen = [m.name for m in timeline.prompt_markers(scene) if m.select]
    if len(chosen) != 1:
        raise UserError(f"select one prompt marker (selected: {len(chosen)}) or name it: "
                        "bpy.ops.bamm.regenerate_segment(marker='> ...')")
    return chosen[0]


def _model_segments(segs, a0: int, a1: int, ratio: float, n_model: int) -> list[dict]:
    """The segments as the engine records them: model frames [start, end) of the read-back action."""
    out = []
    for k, s in enumerate(segs):
        end = segs[k + 1].start if k + 1 < len(segs) else a1 + 1
        out.append({"start": min(round((s.start - a0) * ratio), n_model),
                    "end": min(round((end - a0) * ratio), n_model), "prompt": s.prompt})
    return out


class BAMM_OT_regenerate_segment(EngineOperator, bpy.types.Operator):
    __doc__ = ("Regenerate one prompt marker's segment of the armature's action (its edited prompt, "
               "the current seed); keys outside the segment are not touched." + _ABOUT)

    bl_idname = "bamm.regenerate_segment"
    bl_label = "Regenerate Segment"

    marker: StringProperty(name="Marker", description="Name of the prompt marker (empty: the selected one)")

    @staticmethod
    def plan_fn(self, context) -> Plan:
        scene = context.scene
        segs = timeline.read_segments(scene, predict_last=True)
        k = timeline.find_segment(segs, _chosen_marker(scene, self.marker))
        if len(segs) == 1:
            raise UserError("the timeline has a single prompt marker: use Generate Timeline to redo it")
        ob = armature_from_context(context, self.armature)
        retargeter, label = retargeter_for(ob, self.rig_preset, self.custom_map)
        action, a0, a1 = action_range(ob)
        f0 = segs[k].start
        f1 = (segs[k + 1].start if k + 1 < len(segs) else a1 + 1) - 1
        if f0 < a0 or f1 > a1 or segs[0].start < a0:
            raise UserError(f"the segment of {segs[k].marker!r} (frames {f0}–{f1}) or an earlier marker lies "
                            f"outside the action '{action.name}' (frames {a0}–{a1}): Generate Timeline first")
        get_engine, tb, fps = engine_loader(context), model_timebase(context), scene_fps(scene)
        clipped = [timeline.SceneSegment(s.marker, s.prompt, s.start,
                                         segs[i + 1].start if i + 1 < len(segs) else a1 + 1)
                   for i, s in enumerate(segs)]
        timeline.model_lengths([clipped[k]], tb, fps)  # the segment itself must be long enough
        joints, scale = motion_io.read_motion(context, ob, retargeter, a0, a1, tb)
        info = _model_segments(segs, a0, a1, tb.fps / fps, len(joints))
        seed, blend, text, cfg = self.seed, self.blend_frames, segs[k].prompt, float(self.guidance[0])
        ob_name, action_name = ob.name, action.name
        pipe = motion_io.pipeline()
        lock, feet_note = feet_lock(self, retargeter)

        def work(progress):
            eng = get_engine()
            m = eng.motion_from_joints(joints)
            m.info["segments"] = info
            m2 = eng.recompose(m, k, prompt=text, seed=seed, progress=progress, cfg=cfg,
                               blend=0)  # the panel's Blend frames is applied to the keys
            understanding.remember_segments(eng, m2)
            pose = pipe.motion_to_rig(retargeter, m2.joints, tb.fps, fps, scale=scale, n_out=a1 - a0 + 1,
                                      frames=slice(f0 - a0, f1 - a0 + 1), contacts=contacts_for(lock, m2))
            return np.arange(f0, f1 + 1), pose

        def apply(context, result):
            frames, pose = result
            ob, action = _same_action(ob_name, action_name, "Regenerate Segment")
            keyframes.write_pose(ob, action, pose, frames, weights=pipe.range_weights(len(frames), blend))
            return f"Regenerated frames {f0}–{f1} of '{action_name}' with '{text}' (seed {seed})" + feet_note

        return Plan(work, apply, "regenerate segment")


class BAMM_OT_add_prompt_marker(bpy.types.Operator):
    """Add a prompt marker ('> <prompt>') at the current frame: a segment of the timeline starts there"""

    bl_idname = "bamm.add_prompt_marker"
    bl_label = "Add Prompt Marker"
    bl_options = {"REGISTER", "UNDO"}

    prompt: StringProperty(name="Prompt", description="Empty: the panel's marker prompt")
    frame: IntProperty(name="Frame", default=-1, description="-1: the current frame")

    def execute(self, context):
        scene = context.scene
        try:
            text = submodule("generation.prompt").check_prompt(self.prompt or settings(context).marker_prompt)
        except ValueError as e:
            self.report({"ERROR"}, str(e))
            return {"CANCELLED"}
        frame = scene.frame_current if self.frame < 0 else self.frame
        taken = [m.name for m in timeline.prompt_markers(scene) if m.frame == frame]
        if taken:
            self.report({"ERROR"}, f"frame {frame} already has the prompt marker {taken[0]!r}: edit it instead")
            return {"CANCELLED"}
        for m in scene.timeline_markers:
            m.select = False
        m = scene.timeline_markers.new(timeline.PREFIX + text, frame=frame)
        m.select = True
        self.report({"INFO"}, f"Added prompt marker {m.name!r} at frame {frame}")
        return {"FINISHED"}


classes = (BAMM_OT_generate_timeline, BAMM_OT_regenerate_segment, BAMM_OT_add_prompt_marker)
