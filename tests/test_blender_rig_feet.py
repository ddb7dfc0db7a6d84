"""Plant feet in the add-on (headless Blender): Generate with and without foot locking,
today's keys with ``plant_feet=False``, inpaint keys outside the range bit-identical.

Uses the add-on fixtures of ``test_blender_addon`` (the add-on enabled from the repository,
the tiny random model) and its mocap stand-in engine.
"""
from __future__ import annotations

import numpy as np
import pytest

bpy = pytest.importorskip("bpy")

from test_blender_addon import (  # noqa: E402,F401  (fixtures are used by name)
    MODULE, ReferenceMotionEngine, _assert_outside_identical, addon, build_armature, make_rig,
    reference_joints, scene)

from bamm_core.motion.contacts import foot_contacts  # noqa: E402
from bamm_core.rigs.templates import template_rest_pose  # noqa: E402

pytestmark = pytest.mark.blender


class ContactsEngine(ReferenceMotionEngine):
    """The mocap stand-in with the foot contacts every engine motion carries."""

    def generate(self, *args, **kw):
        out = super().generate(*args, **kw)
        for m in out if isinstance(out, list) else [out]:
            m.contacts = foot_contacts(m.joints, self.fps)
        return out

def _bone_of(path: str) -> str | None:
    return path.split('"')[1] if path.startswith("pose.bones[") else None


def _leg_bones(ob) -> set[str]:
    from bamm_motion.rig import retargeter_for

    r, _ = retargeter_for(ob)
    return {r.rest.names[r.map[j]] for j in (1, 2, 4, 5, 7, 8, 10, 11) if j in r.map}


def _generate(addon, ob, **kw) -> dict:
    bpy.context.view_layer.objects.active = ob
    assert bpy.ops.bamm.generate(prompt="a person walks", **kw) == {"FINISHED"}
    return addon.keyframes.snapshot(ob)


def _same(a, b) -> bool:
    return all(np.array_equal(x, y) for x, y in zip(a, b))


@pytest.mark.parametrize("kind", ["mixamo", "metarig"])
def test_plant_feet_changes_only_the_legs_and_off_reproduces_todays_keys(addon, scene, kind,
                                                                         reference_joints):
    addon.engine_loader.set_engine_override(ContactsEngine(reference_joints))
    ob = make_rig(kind)
    assert scene.bamm.plant_feet is True  # on by default
    off = _generate(addon, ob, plant_feet=False)
    on = _generate(addon, ob)                 # the scene's setting: on
    assert off.keys() == on.keys()
    legs = _leg_bones(ob)
    changed = {_bone_of(k[0]) for k in on if not _same(on[k], off[k])}
    assert changed and changed <= legs, changed - legs
    # plant_feet=False is the pipeline without locking: the keys written before Plant feet
    from bamm_motion import keyframes, motion_io
    from bamm_motion.rig import retargeter_for

    r, _ = retargeter_for(ob)
    pose = motion_io.pipeline().motion_to_rig(r, reference_joints.astype(np.float32), 20, 24)
    action = keyframes.assign_new_action(ob, "today")
    keyframes.write_pose(ob, action, pose, scene.frame_start + np.arange(len(pose.rotations)))
    today = addon.keyframes.snapshot(ob)
    assert today.keys() == off.keys() and all(_same(today[k], off[k]) for k in off)
    # the scene toggle turns it off for every operator
    scene.bamm.plant_feet = False
    assert all(_same(v, off[k]) for k, v in _generate(addon, ob).items())


def test_inpaint_with_plant_feet_keeps_keys_outside_bit_identical(addon, scene, reference_joints):
    addon.engine_loader.set_engine_override(ContactsEngine(reference_joints))
    ob = make_rig("metarig")  # longer legs than the motion's
    _generate(addon, ob)
    addon.engine_loader.set_engine_override(None)  # the real (tiny) engine inpaints
    before = addon.keyframes.snapshot(ob)
    assert bpy.ops.bamm.inpaint(prompt="a person walks", frame_start=50, frame_end=100,
                                plant_feet=True) == {"FINISHED"}
    after = addon.keyframes.snapshot(ob)
    assert _assert_outside_identical(before, after, 50, 100) > 1000


def test_rig_without_recognisable_feet_generates_without_locking(addon, scene, reference_joints):
    addon.engine_loader.set_engine_override(ContactsEngine(reference_joints))
    bones = template_rest_pose("mixamo", extra_bones=False)
    for b in bones:  # detached foot controls: foot bones under the hips, not the shins
        if b["name"] in ("mixamorig:LeftFoot", "mixamorig:RightFoot"):
            b["parent"] = "mixamorig:Hips"
    ob = build_armature("IKFeetRig", bones)
    off = _generate(addon, ob, plant_feet=False)
    on = _generate(addon, ob, plant_feet=True)   # skipped with a message, never an error
    assert all(_same(v, off[k]) for k, v in on.items())
