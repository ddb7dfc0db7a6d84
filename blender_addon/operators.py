"""Operators: bamm.generate / inpaint / outpaint / create_armature (+ new_seed, install deps).

Every engine operator is split in three steps so the same code serves scripts and the UI:

1. ``plan`` (main thread): validate the input and read the scene (armature, rest pose, the
   existing animation read back as joints).  Bad input raises :class:`UserError` -> reported,
   nothing changed.
2. ``work(progress)`` (worker thread, no bpy): engine call + retargeting -> numbers.
3. ``apply(context, result)`` (main thread): create/modify the action.

``execute`` (scripts, ``bpy.ops.bamm.generate(prompt=...)``, background mode) runs 2 in the
calling thread.  ``invoke`` (a click in the UI) runs 2 in a :class:`~.jobs.Job` polled by a
modal timer: progress bar + status text, Esc cancels and discards the result (the scene is
untouched until 3).  Operators carry the UNDO flag: one undo step per operation.
"""
from __future__ import annotations

import random

import bpy
import numpy as np
from bpy.props import BoolProperty, EnumProperty, FloatProperty, FloatVectorProperty, IntProperty, StringProperty

from . import dependencies, jobs, keyframes
from .core import submodule
from .rig import UserError, add_edit_bones, armature_from_context, read_joints, retargeter_for

MODEL_FPS = 20

REFINE_ITEMS = [
    ("every_other", "Every other", "Re-predict every other token (paper default)"),
    ("low_confidence", "Low confidence", "Re-predict the least confident tokens"),
    ("confidence_below", "Confidence below", "Re-predict tokens under a confidence threshold"),
    ("suffix", "Suffix", "Re-predict the second half"),
    ("none", "None", "No refinement round (fastest)"),
    ("official", "Official", "The released code's schedule"),
]
PRESET_ITEMS = [
    ("AUTO", "Auto-detect", "Pick the preset that matches most bone names"),
    ("smpl22", "SMPL-22", "The engine's own skeleton"),
    ("mixamo", "Mixamo", "mixamorig: bone names"),
    ("rigify_metarig", "Rigify metarig", "Rigify Human metarig"),
    ("rigify_generated", "Rigify generated (ORG/DEF)", "A generated Rigify rig's ORG/DEF bones"),
    ("ue5_mannequin", "UE5 Mannequin", "Unreal Engine 5 Manny/Quinn"),
    ("CUSTOM", "Custom JSON map", "A bone map loaded from a JSON file"),
]


def prefs(context):
    addon = context.preferences.addons.get(__package__)
    return addon.preferences if addon else None


def settings(context):
    return context.scene.bamm


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


def scene_fps(scene) -> float:
    return scene.render.fps / scene.render.fps_base


def _resample(x: np.ndarray, src: float, dst: float) -> np.ndarray:
    if abs(src - dst) < 1e-9:
        return np.asarray(x, np.float64)
    return submodule("motion.resampling").resample_positions(np.asarray(x, np.float64), src, dst)


def _ramp(n: int, ramp: int, rising: bool) -> np.ndarray:
    """Weights for n new frames next to existing keys: small first, 1 after ``ramp`` frames."""
    u = np.clip((np.arange(n) + 1.0) / (max(ramp, 0) + 1.0), 0.0, 1.0)
    w = u * u * (3 - 2 * u)
    return w if rising else w[::-1]


def _action_range(ob) -> tuple[object, int, int]:
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


class Plan:
    """What an operator will do: ``work`` runs anywhere, ``apply`` on the main thread."""

    def __init__(self, work, apply, label: str):
        self.work, self.apply, self.label = work, apply, label


def _prompt(op) -> str:
    text = op.prompt.strip()
    if not text:
        raise UserError("empty prompt: type what the character should do (e.g. 'a person walks forward')")
    return text


def _engine_loader(context):
    """A callable returning the engine (loaded in the worker); UserError if deps are missing."""
    if jobs._engine_override is None:
        ready, msg = dependencies.status()
        if not ready:
            raise UserError(msg)
    p = prefs(context)
    folder = bpy.path.abspath(p.model_folder) if p and p.model_folder else ""
    device = p.device if p else "AUTO"
    clip = bpy.path.abspath(p.clip_weights) if p and p.clip_weights else ""
    return lambda: jobs.load_engine(folder, device, clip)


# --------------------------------------------------------------------------------------
# Shared operator machinery
# --------------------------------------------------------------------------------------
_SHARED = ("prompt", "seed", "guidance", "refine", "rig_preset", "custom_map", "in_place", "blend_frames")


class _EngineOperator:
    bl_options = {"REGISTER", "UNDO"}

    prompt: StringProperty(name="Prompt", description="What the character does")
    seed: IntProperty(name="Seed", default=0, min=0)
    guidance: FloatVectorProperty(name="Guidance", size=2, default=(4.0, 3.0), min=0.0, max=20.0,
                                  description="Classifier-free guidance: first pass, refinement pass")
    refine: EnumProperty(name="Refinement", items=REFINE_ITEMS, default="every_other")
    armature: StringProperty(name="Armature", description="Target armature object (empty: the active object)")
    rig_preset: EnumProperty(name="Rig preset", items=PRESET_ITEMS, default="AUTO")
    custom_map: StringProperty(name="Custom map", subtype="FILE_PATH")
    in_place: BoolProperty(name="In place", default=False, description="Keep the hips over the origin")
    blend_frames: IntProperty(name="Blend frames", default=4, min=0, max=100,
                              description="Frames over which new motion fades into the existing keys")

    _job = None
    _timer = None
    _running = None  # the Plan of a modal run

    @classmethod
    def poll(cls, context):
        return not jobs.busy()  # one engine run at a time from the UI

    def _fill_from_scene(self, context) -> None:
        s = settings(context)
        for name in _SHARED + getattr(self, "_extra_shared", ()):
            if not self.properties.is_property_set(name) and hasattr(s, name):
                setattr(self, name, getattr(s, name))

    plan_fn = None  # per operator: plan_xxx(op, context) -> Plan (op: anything with its properties)

    def _plan(self, context) -> Plan:
        return type(self).plan_fn(self, context)

    # -- running ------------------------------------------------------------------------
    def execute(self, context):
        self._fill_from_scene(context)
        try:
            plan = self._plan(context)
        except UserError as e:
            self.report({"ERROR"}, str(e))
            return {"CANCELLED"}
        job = jobs.Job(plan.work).run_here()
        return self._finish(context, plan, job)

    def invoke(self, context, event):
        if bpy.app.background or context.window is None:
            return self.execute(context)
        self._fill_from_scene(context)
        try:
            plan = self._plan(context)
        except UserError as e:
            self.report({"ERROR"}, str(e))
            return {"CANCELLED"}
        self._running = plan
        self._job = jobs.Job(plan.work).start()
        jobs.set_busy(self._job)
        wm = context.window_manager
        self._timer = wm.event_timer_add(0.1, window=context.window)
        wm.modal_handler_add(self)
        wm.progress_begin(0, 1000)
        return {"RUNNING_MODAL"}

    def _cleanup(self, context) -> None:
        jobs.set_busy(None)
        wm = context.window_manager
        if self._timer is not None:
            wm.event_timer_remove(self._timer)
            self._timer = None
        wm.progress_end()
        if context.workspace:
            context.workspace.status_text_set(None)

    def modal(self, context, event):
        job = self._job
        if event.type == "ESC":
            job.cancel()
            self._cleanup(context)
            self.report({"WARNING"}, f"{self._running.label}: cancelled, nothing changed")
            return {"CANCELLED"}
        if event.type != "TIMER":
            return {"PASS_THROUGH"}
        if job.state == "running":
            frac = job.done / job.total if job.total else 0.0
            context.window_manager.progress_update(int(1000 * frac))
            if context.workspace:
                context.workspace.status_text_set(
                    f"BAMM: {self._running.label} {job.done}/{job.total or '?'} — Esc to cancel")
            return {"PASS_THROUGH"}
        self._cleanup(context)
        return self._finish(context, self._running, job)

    def _finish(self, context, plan, job):
        if job.state == "cancelled":
            self.report({"WARNING"}, f"{plan.label}: cancelled, nothing changed")
            return {"CANCELLED"}
        if job.state == "error":
            e = job.error
            self.report({"ERROR"}, f"{plan.label} failed: {type(e).__name__}: {e}")
            return {"CANCELLED"}
        try:
            msg = plan.apply(context, job.result)
        except UserError as e:
            self.report({"ERROR"}, str(e))
            return {"CANCELLED"}
        self.report({"INFO"}, msg)
        return {"FINISHED"}


def _lookup(name: str):
    ob = bpy.data.objects.get(name)
    if ob is None or ob.type != "ARMATURE":
        raise UserError(f"armature {name!r} was removed while the motion was computed")
    return ob


# --------------------------------------------------------------------------------------
# Generate
# --------------------------------------------------------------------------------------
class BAMM_OT_generate(_EngineOperator, bpy.types.Operator):
    """Generate a motion from the prompt onto the armature, as a new action (the previous
    action is stashed in the NLA)"""

    bl_idname = "bamm.generate"
    bl_label = "Generate"

    length: FloatProperty(name="Length (s)", default=0.0, min=0.0, max=9.8,
                          description="Seconds; 0 = let the model predict the length")
    variations: IntProperty(name="Variations", default=1, min=1, max=8,
                            description="Number of motions; extra ones are stashed as actions")
    start_frame: IntProperty(name="Start frame", default=-1, description="-1: the scene's start frame")
    action_name: StringProperty(name="Action name", default="",
                                description="Name of the new action (empty: the prompt); "
                                            "variations get ' #2', ' #3', ...")
    _extra_shared = ("variations",)

    def _fill_from_scene(self, context) -> None:
        super()._fill_from_scene(context)
        s = settings(context)
        if not self.properties.is_property_set("length"):
            self.length = s.seconds if s.length_mode == "SECONDS" else 0.0

    @staticmethod
    def plan_fn(self, context) -> Plan:
        text = _prompt(self)
        ob = armature_from_context(context, self.armature)
        retargeter, label = retargeter_for(ob, self.rig_preset, self.custom_map)
        get_engine = _engine_loader(context)
        fps = scene_fps(context.scene)
        start = context.scene.frame_start if self.start_frame < 0 else self.start_frame
        length = int(round(self.length * MODEL_FPS)) if self.length > 0 else None
        n, seed, cfg, refine, in_place = self.variations, self.seed, tuple(self.guidance), self.refine, self.in_place
        ob_name = ob.name
        name = self.action_name.strip() or text[:60]

        def work(progress):
            eng = get_engine()
            out = eng.generate(text, length=length, seed=seed, cfg=cfg, refine=refine,
                               num_samples=n, progress=progress)
            motions = out if isinstance(out, list) else [out]
            poses = []
            for m in motions:
                joints = _resample(m.joints, MODEL_FPS, fps)
                poses.append(retargeter.retarget(joints, in_place=in_place))
            return poses

        def apply(context, poses):
            ob = _lookup(ob_name)
            # create the extra variations first so the first one ends up active
            for i in reversed(range(len(poses))):
                action = keyframes.assign_new_action(ob, name if i == 0 else f"{name} #{i + 1}")
                frames = start + np.arange(len(poses[i].rotations))
                keyframes.write_pose(ob, action, poses[i], frames)
            t = len(poses[0].rotations)
            return (f"Generated '{name}' on {ob.name} ({label}): {t} frames from frame {start}"
                    + (f", {len(poses)} variations" if len(poses) > 1 else ""))

        return Plan(work, apply, "generate")


# --------------------------------------------------------------------------------------
# Inpaint (regenerate a frame range) and outpaint (extend)
# --------------------------------------------------------------------------------------
def _read_motion(context, ob, retargeter, a0: int, a1: int):
    """The armature's animation over frames a0..a1 -> (joints at 20 fps Y-up, scale)."""
    fps = scene_fps(context.scene)
    rig = read_joints(context, ob, retargeter, range(a0, a1 + 1))
    scale = retargeter.motion_scale()
    return _resample(retargeter.rig_to_motion(rig, scale), fps, MODEL_FPS).astype(np.float32), scale


def _back_to_rig(retargeter, joints20, reference20, keep_mask, scale, fps, n_out: int | None = None):
    """Engine output (20 fps, Y-up) -> rig space at scene fps, aligned on the kept frames and
    padded/trimmed to ``n_out`` frames."""
    rt = submodule("rigs.retargeting")
    new = np.asarray(joints20, np.float64)
    if keep_mask.any():
        new = rt.align_to_reference(new, reference20, keep_mask)
    x = _resample(retargeter.motion_to_rig(new, scale), MODEL_FPS, fps)
    if n_out is not None and len(x) != n_out:
        x = x[:n_out] if len(x) > n_out else np.concatenate([x, np.repeat(x[-1:], n_out - len(x), 0)])
    return x


class BAMM_OT_inpaint(_EngineOperator, bpy.types.Operator):
    """Regenerate the selected frame range (preview range or two selected markers) from the
    prompt; keys outside the range are not touched"""

    bl_idname = "bamm.inpaint"
    bl_label = "Inpaint Selection"

    frame_start: IntProperty(name="Start", default=-1, description="-1: use the timeline selection")
    frame_end: IntProperty(name="End", default=-1, description="-1: use the timeline selection")

    @staticmethod
    def plan_fn(self, context) -> Plan:
        text = _prompt(self)
        ob = armature_from_context(context, self.armature)
        retargeter, label = retargeter_for(ob, self.rig_preset, self.custom_map)
        action, a0, a1 = _action_range(ob)
        if self.frame_start >= 0 and self.frame_end >= 0:
            f0, f1 = self.frame_start, self.frame_end
        else:
            f0, f1 = timeline_selection(context.scene)
        if f1 - f0 < 2:
            raise UserError(f"the selected range {f0}–{f1} is too short (needs at least 3 frames)")
        if f0 < a0 or f1 > a1:
            raise UserError(f"the selected range {f0}–{f1} lies outside the action '{action.name}' "
                            f"(frames {a0}–{a1}); use Extend to add frames beyond it")
        if f0 <= a0 and f1 >= a1:
            raise UserError(f"the selected range {f0}–{f1} covers the whole action (frames {a0}–{a1}); "
                            "select a part of it, or use Generate for a new motion")
        get_engine = _engine_loader(context)
        fps = scene_fps(context.scene)
        joints20, scale = _read_motion(context, ob, retargeter, a0, a1)
        t20 = len(joints20)
        s20 = max(int(np.floor((f0 - a0) * MODEL_FPS / fps)), 0)
        e20 = min(int(np.ceil((f1 - a0) * MODEL_FPS / fps)) + 1, t20)
        seed, ob_name, action_name, ramp = self.seed, ob.name, action.name, self.blend_frames
        cfg = float(self.guidance[0])

        def work(progress):
            eng = get_engine()
            m = eng.motion_from_joints(joints20)
            m2 = eng.inpaint(m, start=s20, end=e20, text=text, seed=seed, cfg=cfg, progress=progress)
            new = np.asarray(m2.joints)
            keep = np.ones(len(new), bool)
            keep[s20:e20] = False
            if len(new) != t20:
                keep[:] = False
            x = _back_to_rig(retargeter, new, joints20 if len(new) == t20 else None, keep, scale, fps,
                             n_out=a1 - a0 + 1)
            sel = slice(f0 - a0, f1 - a0 + 1)
            frames = np.arange(a0, a0 + len(x))[sel]
            pose = retargeter.solve(x[sel])
            return frames, pose

        def apply(context, result):
            frames, pose = result
            ob = _lookup(ob_name)
            if ob.animation_data is None or ob.animation_data.action is None \
                    or ob.animation_data.action.name != action_name:
                raise UserError(f"the action of {ob.name!r} changed while computing; run Inpaint again")
            w = submodule("rigs.retargeting").blend_weights(len(frames), ramp)
            keyframes.write_pose(ob, ob.animation_data.action, pose, frames, weights=w)
            return f"Inpainted frames {frames[0]}–{frames[-1]} of '{action_name}' with '{text}'"

        return Plan(work, apply, "inpaint")


class BAMM_OT_outpaint(_EngineOperator, bpy.types.Operator):
    """Extend the armature's action before and/or after with motion following the prompt"""

    bl_idname = "bamm.outpaint"
    bl_label = "Extend"

    seconds_before: FloatProperty(name="Before (s)", default=0.0, min=0.0, max=9.0)
    seconds_after: FloatProperty(name="After (s)", default=0.0, min=0.0, max=9.0)

    @staticmethod
    def plan_fn(self, context) -> Plan:
        text = _prompt(self)
        if self.seconds_before <= 0 and self.seconds_after <= 0:
            raise UserError("nothing to extend: set seconds before and/or after")
        ob = armature_from_context(context, self.armature)
        retargeter, label = retargeter_for(ob, self.rig_preset, self.custom_map)
        action, a0, a1 = _action_range(ob)
        get_engine = _engine_loader(context)
        fps = scene_fps(context.scene)
        joints20, scale = _read_motion(context, ob, retargeter, a0, a1)
        nb = int(round(self.seconds_before * MODEL_FPS))
        na = int(round(self.seconds_after * MODEL_FPS))
        seed, ob_name, action_name, ramp = self.seed, ob.name, action.name, self.blend_frames
        cfg = float(self.guidance[0])

        def work(progress):
            eng = get_engine()
            m = eng.motion_from_joints(joints20)
            m2 = eng.outpaint(m, extend_after=na, extend_before=nb, text=text, seed=seed, cfg=cfg,
                              progress=progress)
            new = np.asarray(m2.joints)
            t20 = len(joints20)
            keep = np.zeros(len(new), bool)
            ref = np.zeros_like(new)
            if len(new) == nb + t20 + na:
                keep[nb:nb + t20] = True
                ref[nb:nb + t20] = joints20
            before = int(round(nb * fps / MODEL_FPS))
            after = int(round(na * fps / MODEL_FPS))
            x = _back_to_rig(retargeter, new, ref, keep, scale, fps, n_out=before + (a1 - a0 + 1) + after)
            first = a0 - before
            frames = first + np.arange(len(x))
            parts = []
            if nb:
                sel = frames < a0
                parts.append((frames[sel], retargeter.solve(x[sel]), _ramp(int(sel.sum()), ramp, False)))
            if na:
                sel = frames > a1
                parts.append((frames[sel], retargeter.solve(x[sel]), _ramp(int(sel.sum()), ramp, True)))
            return parts

        def apply(context, parts):
            ob = _lookup(ob_name)
            if ob.animation_data is None or ob.animation_data.action is None \
                    or ob.animation_data.action.name != action_name:
                raise UserError(f"the action of {ob.name!r} changed while computing; run Extend again")
            for frames, pose, w in parts:
                if len(frames):
                    keyframes.write_pose(ob, ob.animation_data.action, pose, frames, weights=w)
            lo = min(p[0][0] for p in parts if len(p[0])) if nb else a0
            hi = max(p[0][-1] for p in parts if len(p[0])) if na else a1
            return f"Extended '{action_name}' to frames {lo}–{hi} with '{text}'"

        return Plan(work, apply, "extend")


# --------------------------------------------------------------------------------------
# Utilities
# --------------------------------------------------------------------------------------
class BAMM_OT_create_armature(bpy.types.Operator):
    """Add a clean armature matching the engine's 22-joint skeleton (T-pose, metres)"""

    bl_idname = "bamm.create_armature"
    bl_label = "Create SMPL-22 Armature"
    bl_options = {"REGISTER", "UNDO"}

    name: StringProperty(name="Name", default="SMPL-22")
    arms: EnumProperty(name="Rest pose", items=[("T", "T-pose", ""), ("A", "A-pose", "")], default="T")

    def execute(self, context):
        try:
            rp = submodule("rigs.presets")
        except ImportError as e:
            self.report({"ERROR"}, f"the engine's dependencies are missing ({e}); "
                                   "install them in the add-on preferences")
            return {"CANCELLED"}
        bones = rp.template_rest_pose("smpl22", arms=self.arms)
        if context.object and context.object.mode != "OBJECT":
            bpy.ops.object.mode_set(mode="OBJECT")
        data = bpy.data.armatures.new(self.name)
        ob = bpy.data.objects.new(self.name, data)
        (context.collection or context.scene.collection).objects.link(ob)
        ob.location = context.scene.cursor.location
        for o in context.view_layer.objects:
            o.select_set(False)
        context.view_layer.objects.active = ob
        ob.select_set(True)
        bpy.ops.object.mode_set(mode="EDIT")
        try:
            add_edit_bones(data, bones)
        finally:
            bpy.ops.object.mode_set(mode="OBJECT")
        for pb in ob.pose.bones:
            pb.rotation_mode = "QUATERNION"
        data.display_type = "STICK" if hasattr(data, "display_type") else data.display_type
        self.report({"INFO"}, f"Created armature {ob.name!r} with {len(bones)} bones")
        return {"FINISHED"}


class BAMM_OT_new_seed(bpy.types.Operator):
    """Pick a new random seed"""

    bl_idname = "bamm.new_seed"
    bl_label = "New Seed"
    bl_options = {"REGISTER", "UNDO"}

    def execute(self, context):
        settings(context).seed = random.randint(0, 2**31 - 1)
        return {"FINISHED"}


class BAMM_OT_install_dependencies(bpy.types.Operator):
    """pip-install torch, scipy, safetensors and tqdm into this extension's user folder
    (needs internet; can take minutes; Blender stays usable meanwhile)"""

    bl_idname = "bamm.install_dependencies"
    bl_label = "Install Dependencies"

    @classmethod
    def poll(cls, context):
        return not dependencies.is_installing()

    def execute(self, context):
        if not bpy.app.online_access:
            self.report({"ERROR"}, "Blender's online access is disabled (Preferences › System › Network); "
                                   "enable it to download the dependencies")
            return {"CANCELLED"}
        p = prefs(context)
        cpu_only = bool(p and p.torch_variant == "CPU")
        if bpy.app.background:  # scripts: wait for pip
            ok = dependencies.install(report=lambda m: self.report({"WARNING"}, m), cpu_only=cpu_only)
            ready, msg = dependencies.status()
            self.report({"INFO"} if ok and ready else {"ERROR"}, msg)
            return {"FINISHED"} if ok and ready else {"CANCELLED"}
        dependencies.install_in_background(cpu_only=cpu_only)
        self.report({"INFO"}, "Installing dependencies in the background; the preferences show progress")
        return {"FINISHED"}


classes = (BAMM_OT_generate, BAMM_OT_inpaint, BAMM_OT_outpaint, BAMM_OT_create_armature,
           BAMM_OT_new_seed, BAMM_OT_install_dependencies)
