"""Variations side by side (headless Blender): candidates beside the armature, Keep, Discard.

Uses the add-on fixtures of ``test_blender_addon`` (the add-on enabled from the repository,
the tiny random model) and its mocap stand-in engine for a first, plausible action.
"""
from __future__ import annotations

import numpy as np
import pytest

bpy = pytest.importorskip("bpy")

from test_blender_addon import (  # noqa: E402,F401  (fixtures are used by name)
    MODULE, ReferenceMotionEngine, _FakeLayout, addon, make_rig, reference_joints, scene)

pytestmark = pytest.mark.blender

KINDS = ("actions", "objects", "armatures", "meshes", "collections")


def keys(addon, ob) -> dict:
    return addon.keyframes.snapshot(ob)


def same_keys(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(np.array_equal(x, y) for k in a for x, y in zip(a[k], b[k]))


def scene_state(addon) -> dict:
    """Everything Discard must leave as it was: every object (transform, flags, action and
    its keys, NLA), every data block's name and users."""
    objects = {}
    for ob in bpy.data.objects:
        ad = ob.animation_data
        objects[ob.name] = dict(
            type=ob.type, matrix=np.array(ob.matrix_world).tolist(), delta=tuple(ob.delta_location),
            data=ob.data.name if ob.data else None, hide_render=ob.hide_render, show_name=ob.show_name,
            action=ad.action.name if ad and ad.action else None,
            nla=[[s.action.name for s in t.strips] for t in ad.nla_tracks] if ad else [],
            props=sorted(ob.keys()), keys=keys(addon, ob) if ob.type == "ARMATURE" else {})
    blocks = {k: sorted((b.name, b.users, b.use_fake_user) for b in getattr(bpy.data, k)) for k in KINDS}
    return dict(objects=objects, blocks=blocks)


def assert_same_state(a: dict, b: dict) -> None:
    assert a["blocks"] == b["blocks"]
    assert a["objects"].keys() == b["objects"].keys()
    for name, x in a["objects"].items():
        y = b["objects"][name]
        assert same_keys(x["keys"], y["keys"]), name
        assert {k: v for k, v in x.items() if k != "keys"} == {k: v for k, v in y.items() if k != "keys"}, name


def with_action(addon, kind, reference_joints):
    """A rig with a first action made from mocap (the stand-in engine), then the tiny model."""
    addon.engine_loader.set_engine_override(ReferenceMotionEngine(reference_joints))
    ob = make_rig(kind)
    assert bpy.ops.bamm.generate(prompt="a person walks") == {"FINISHED"}
    addon.engine_loader.set_engine_override(None)
    bpy.context.view_layer.objects.active = ob
    return ob


def candidates(addon):
    from bamm_motion import variations

    return variations.candidates()


def test_variations_show_labelled_candidates_and_leave_the_original_untouched(addon, scene,
                                                                              reference_joints):
    ob = with_action(addon, "mixamo", reference_joints)  # rotated, 0.01-scaled, centimetre rig
    before = scene_state(addon)
    assert bpy.ops.bamm.generate(prompt="a person dances", length=1.0, seed=1, variations=3,
                                 side_by_side=True) == {"FINISHED"}
    cands = candidates(addon)
    assert [c.name for c in cands] == [f"#{k} MixamoRig" for k in (1, 2, 3)]
    assert all(c.show_name and c.hide_render and c.data == ob.data for c in cands)
    assert all(c["bamm_variation_of"] == "MixamoRig" for c in cands)
    # beside the original along its local X, one step apart, the step from the rest pose's size
    from bamm_motion import variations

    x_axis = np.array(ob.matrix_world.to_3x3().col[0])
    step = variations.spacing(ob) * np.linalg.norm(x_axis)
    assert 1.5 < step < 3.0  # a human-sized rig in metres, whatever its units
    for k, c in enumerate(cands, 1):
        d = np.array(c.matrix_world.translation - ob.matrix_world.translation)
        assert np.allclose(d, k * variations.spacing(ob) * x_axis, atol=1e-5)
        assert np.allclose(np.array(c.matrix_world.to_3x3()), np.array(ob.matrix_world.to_3x3()))
    # all play the same frames, with different motions
    ranges = {tuple(c.animation_data.action.frame_range) for c in cands}
    assert len(ranges) == 1 and next(iter(ranges))[0] == scene.frame_start
    k1, k2 = keys(addon, cands[0]), keys(addon, cands[1])
    assert k1.keys() == k2.keys() and not same_keys(k1, k2)
    # the original: same action, same keys, same object state
    after = scene_state(addon)
    assert same_keys(before["objects"]["MixamoRig"]["keys"], after["objects"]["MixamoRig"]["keys"])
    before["objects"]["MixamoRig"].pop("keys"), after["objects"]["MixamoRig"].pop("keys")
    assert after["objects"]["MixamoRig"] == before["objects"]["MixamoRig"]
    # a second set waits for the first to be kept or discarded
    with pytest.raises(RuntimeError, match="variations of 'MixamoRig' are waiting"):
        bpy.ops.bamm.generate(prompt="a person jumps", length=1.0, variations=2, side_by_side=True)
    assert len(candidates(addon)) == 3
    # the panel offers Keep #1..#3 and Discard
    from bamm_motion import panels

    log = []
    panels.BAMM_PT_panel.draw(type("P", (), {"layout": _FakeLayout(log)})(), bpy.context)
    ops = [a[0] for n, a, kw in log if n == "operator"]
    texts = [kw.get("text") for n, a, kw in log if n == "operator" and a[0] == "bamm.keep_variation"]
    assert texts == ["Keep #1", "Keep #2", "Keep #3"] and "bamm.discard_variations" in ops


def test_keep_applies_the_chosen_motion_and_removes_the_others(addon, scene, reference_joints):
    ob = with_action(addon, "smpl22", reference_joints)
    first = ob.animation_data.action
    counts = {k: len(getattr(bpy.data, k)) for k in KINDS}
    assert bpy.ops.bamm.generate(prompt="a person dances", length=1.0, seed=2, variations=3,
                                 side_by_side=True, action_name="Dance take") == {"FINISHED"}
    chosen = keys(addon, candidates(addon)[1])
    state = scene_state(addon)
    # bad input: a clear message and nothing changes
    for index, message in ((7, r"no variation #7 \(left: #1, #2, #3\)"),):
        with pytest.raises(RuntimeError, match=message):
            bpy.ops.bamm.keep_variation(index=index)
    assert_same_state(state, scene_state(addon))
    ob.name = "Renamed"
    with pytest.raises(RuntimeError, match="original armature 'SMPL-22' is gone"):
        bpy.ops.bamm.keep_variation(index=2)
    ob.name = "SMPL-22"
    assert_same_state(state, scene_state(addon))
    bpy.data.objects.remove(candidates(addon)[2], do_unlink=True)  # the user deletes #3
    with pytest.raises(RuntimeError, match=r"no variation #3 \(left: #1, #2\)"):
        bpy.ops.bamm.keep_variation(index=3)
    # keep #2: one operator with the UNDO flag (one undo step); exactly #2's keys on the original
    assert "UNDO" in bpy.types.BAMM_OT_keep_variation.bl_options
    assert bpy.ops.bamm.keep_variation(index=2) == {"FINISHED"}
    assert ob.animation_data.action.name == "Dance take" and ob.animation_data.action != first
    assert same_keys(keys(addon, ob), chosen)
    assert any(s.action == first for t in ob.animation_data.nla_tracks for s in t.strips)  # stashed
    assert not candidates(addon) and not any("bamm_variation" in a for a in bpy.data.actions)
    assert {k: len(getattr(bpy.data, k)) for k in KINDS} == {**counts, "actions": counts["actions"] + 1}
    with pytest.raises(RuntimeError, match="no variations to keep"):
        bpy.ops.bamm.keep_variation(index=1)


def skin(ob):
    """A small mesh skinned to the armature's first bone (the character on the rig)."""
    me = bpy.data.meshes.new("Body")
    me.from_pydata([(0, 0, 0), (0.1, 0, 0), (0, 0.1, 1.0)], [], [(0, 1, 2)])
    body = bpy.data.objects.new("Body", me)
    bpy.context.scene.collection.objects.link(body)
    body.parent = ob
    body.vertex_groups.new(name=ob.data.bones[0].name).add([0, 1, 2], 1.0, "REPLACE")
    body.modifiers.new("Armature", "ARMATURE").object = ob
    return body


def test_discard_leaves_the_scene_as_before(addon, scene, reference_joints):
    ob = with_action(addon, "rigify", reference_joints)
    body = skin(ob)
    before = scene_state(addon)
    assert bpy.ops.bamm.generate(prompt="a person waves", length=1.0, variations=2,
                                 side_by_side=True) == {"FINISHED"}
    assert len(candidates(addon)) == 2 and len(bpy.data.actions) == 3
    # each candidate carries a copy of the character, deformed by the candidate's bones
    for c in candidates(addon):
        (part,) = c.children
        assert part.data == body.data and part.modifiers[0].object == c and part.hide_render
    dg = bpy.context.evaluated_depsgraph_get()
    verts = [np.array([tuple(c.matrix_world @ v.co) for v in c.evaluated_get(dg).data.vertices])
             for c in (body, *(c.children[0] for c in candidates(addon)))]
    assert not np.allclose(verts[1] - verts[1].mean(0), verts[2] - verts[2].mean(0), atol=1e-4)
    assert bpy.ops.bamm.discard_variations() == {"FINISHED"}
    assert_same_state(before, scene_state(addon))
    assert bpy.context.view_layer.objects.active == ob
    # without side_by_side, scripts keep today's behaviour: variations are extra actions
    assert bpy.ops.bamm.generate(prompt="a person waves", length=1.0, variations=2) == {"FINISHED"}
    assert not candidates(addon) and bpy.data.actions.get("a person waves #2") is not None


def test_inpaint_variations_keep_keys_outside_the_range_bit_identical(addon, scene, reference_joints):
    from test_blender_addon import _assert_outside_identical

    ob = with_action(addon, "smpl22", reference_joints)
    action = ob.animation_data.action
    before = scene_state(addon)
    with pytest.raises(RuntimeError, match="side by side: pass side_by_side=True"):
        bpy.ops.bamm.inpaint(prompt="a person kicks", frame_start=60, frame_end=110, variations=2)
    assert bpy.ops.bamm.inpaint(prompt="a person kicks", frame_start=60, frame_end=110, variations=2,
                                side_by_side=True) == {"FINISHED"}
    orig = keys(addon, ob)
    assert same_keys(before["objects"]["SMPL-22"]["keys"], orig)  # untouched until Keep
    cands = candidates(addon)
    assert len(cands) == 2 and all(c["bamm_variation_mode"] == "INPAINT" for c in cands)
    chosen = keys(addon, cands[0])
    assert _assert_outside_identical(orig, chosen, 60, 110) > 1000
    assert not same_keys(chosen, keys(addon, cands[1]))
    assert bpy.ops.bamm.keep_variation(index=1) == {"FINISHED"}
    kept = keys(addon, ob)
    assert ob.animation_data.action == action and same_keys(kept, chosen)
    assert _assert_outside_identical(orig, kept, 60, 110) > 1000
    assert not candidates(addon) and len(bpy.data.actions) == 1


def test_candidates_left_in_a_saved_file_are_removed_by_discard(addon, scene, reference_joints, tmp_path):
    """A crash leaves the candidates in the file (autosave, recovery): they are recognisable
    after reopening, block a new set, and Discard removes them (and their actions)."""
    with_action(addon, "smpl22", reference_joints)
    path = str(tmp_path / "before.blend")
    bpy.ops.wm.save_as_mainfile(filepath=path)
    bpy.ops.wm.open_mainfile(filepath=path)
    before = scene_state(addon)
    assert bpy.ops.bamm.generate(prompt="a person waves", length=1.0, variations=2,
                                 side_by_side=True) == {"FINISHED"}
    crashed = str(tmp_path / "crashed.blend")
    bpy.ops.wm.save_as_mainfile(filepath=crashed)
    bpy.ops.wm.open_mainfile(filepath=crashed)
    assert [c.name for c in candidates(addon)] == ["#1 SMPL-22", "#2 SMPL-22"]
    assert all(c["bamm_variation_of"] == "SMPL-22" for c in candidates(addon))
    with pytest.raises(RuntimeError, match="Keep one or Discard them first"):
        bpy.ops.bamm.generate(prompt="a person waves", length=1.0, variations=2, side_by_side=True)
    bpy.data.objects.remove(candidates(addon)[0], do_unlink=True)  # its action is left over too
    assert bpy.ops.bamm.discard_variations() == {"FINISHED"}
    assert_same_state(before, scene_state(addon))
