"""bamm.generate: a new action from a prompt on the armature (variations as extra actions, or
side by side on temporary copies: :mod:`.operators_variations`)."""
from __future__ import annotations

import bpy
import numpy as np
from bpy.props import BoolProperty, FloatProperty, IntProperty, StringProperty

from . import curve_path, enums, keyframes, motion_io, scene_range, understanding, variations
from .core import submodule
from .engine_loader import engine_loader, model_timebase
from .operators_base import (
    EngineOperator, Plan, checked_seconds, contacts_for, feet_lock, lookup_armature, prompt_text, scene_fps, settings,
)
from .operators_variations import side_by_side_count
from .rig import armature_from_context, retargeter_for

_LIMITS = enums.limits()


class BAMM_OT_generate(curve_path.PathOptions, EngineOperator, bpy.types.Operator):
    """Generate a motion from the prompt onto the armature, as a new action (the previous
    action is stashed in the NLA); it walks along the scene's Path curve when one is set, and
    the scene's frame range grows to cover the new keys"""

    bl_idname = "bamm.generate"
    bl_label = "Generate"

    length: FloatProperty(name="Length (s)", default=0.0, min=0.0, soft_max=_LIMITS["max_seconds"],
                          description="Seconds; 0 = let the model predict the length")
    variations: IntProperty(name="Variations", default=1, min=1, max=8,
                            description="Number of motions; extra ones are stashed as actions "
                                        "(side by side: shown on copies of the armature)")
    side_by_side: BoolProperty(name="Side by side", default=False,
                               description="Show the variations on temporary copies beside the armature; "
                                           "Keep one (bamm.keep_variation) or Discard them")
    start_frame: IntProperty(name="Start frame", default=-1, description="-1: the scene's start frame")
    action_name: StringProperty(name="Action name", default="",
                                description="Name of the new action (empty: the prompt); "
                                            "variations get ' #2', ' #3', ...")
    extra_shared = ("variations",)

    def _fill_from_scene(self, context) -> None:
        super()._fill_from_scene(context)
        s = settings(context)
        if not self.properties.is_property_set("length"):
            self.length = s.seconds if s.length_mode == "SECONDS" else 0.0

    @staticmethod
    def plan_fn(self, context) -> Plan:
        text = prompt_text(self)
        ob = armature_from_context(context, self.armature)
        retargeter, label = retargeter_for(ob, self.rig_preset, self.custom_map)
        points = curve_path.rig_points(context, self, ob)
        get_engine = engine_loader(context)
        tb = model_timebase(context)
        length = checked_seconds(tb, self.length, "length") if self.length > 0 else None
        fps = scene_fps(context.scene)
        start = context.scene.frame_start if self.start_frame < 0 else self.start_frame
        n, side = side_by_side_count(self)
        seed, in_place = self.seed, self.in_place
        lock, feet_note = feet_lock(self, retargeter)
        options = dict(cfg=float(self.guidance[0]), refine_cfg=float(self.guidance[1]), refine=self.refine)
        ob_name = ob.name
        name = self.action_name.strip() or text[:60]

        def work(progress):
            engine = get_engine()
            out = engine.generate(text, length=length, seed=seed, num_samples=n, progress=progress, **options)
            motions = out if isinstance(out, list) else [out]
            understanding.remember(engine, text, motions[0])  # "understood as" under the prompt
            pipe = motion_io.pipeline()
            if points is not None:
                follow = submodule("rigs.rig_path").follow_on_rig
                poses = [follow(retargeter, m.joints, tb.fps, fps, points) for m in motions]
                return [pipe.lock_feet(retargeter, p, contacts_for(lock, m), tb.fps, fps)
                        for p, m in zip(poses, motions)]
            return [pipe.motion_to_rig(retargeter, m.joints, tb.fps, fps, in_place=in_place,
                                       contacts=contacts_for(lock, m)) for m in motions]

        def apply(context, poses):
            ob = lookup_armature(ob_name)
            if side:
                return variations.show_generated(ob, poses, start, name) + f" ({label})" + feet_note
            # create the extra variations first so the first one ends up active
            for i in reversed(range(len(poses))):
                action = keyframes.assign_new_action(ob, name if i == 0 else f"{name} #{i + 1}")
                frames = start + np.arange(len(poses[i].rotations))
                keyframes.write_pose(ob, action, poses[i], frames)
            t = len(poses[0].rotations)
            note = scene_range.cover(bpy.context.scene, start, start + max(len(p.rotations) for p in poses) - 1)
            return (f"Generated '{name}' on {ob.name} ({label}): {t} frames from frame {start}"
                    + (f", {len(poses)} variations" if len(poses) > 1 else "") + note + feet_note)

        return Plan(work, apply, "generate")
