"""The prompt timeline and the path in headless Blender (PyPI ``bpy``).

Prompt markers ("> <prompt>") -> one action (``bpy.ops.bamm.generate_timeline``) on Mixamo-named
and SMPL-22 rigs with the tiny random model; ``regenerate_segment`` keeps every key outside its
segment bit-identical; other markers are never touched; bad input changes nothing; the scene's
frame range follows new keys; a Bezier curve moves the root along it (real mocap through
``ReferenceMotionEngine`` so the root really travels).
"""
from __future__ import annotations

import math

import numpy as np
import pytest

bpy = pytest.importorskip("bpy")

from test_blender_addon import (  # noqa: E402  (fixtures and rig builders of the add-on tests)
    ReferenceMotionEngine, _assert_outside_identical, addon, fcurve_keys, make_rig, mapped_bones,
    reference_joints, scene, world_joints)

pytestmark = pytest.mark.blender
__all__ = ["addon", "scene", "reference_joints"]  # fixtures used here

WALK, WAVE, BOW = "> a person walks forward", "> a person waves both hands", "> a person bows"


def add_markers(sc, marks):
    for name, frame in marks:
        sc.timeline_markers.new(name, frame=frame)


def script(sc):
    """Three prompt markers at 1, 49, 97 (24 fps) between a camera marker and a note; the
    scene ends at 150, so the segments are 48, 48 and 54 frames (40, 40, 45 model frames)."""
    sc.frame_end = 150
    add_markers(sc, [(WALK, 1), ("F_30 camera", 30), (WAVE, 49), ("note: hold", 70), (BOW, 97)])


def markers_state(sc):
    return sorted((m.name, m.frame, m.select, m.camera.name if m.camera else None) for m in sc.timeline_markers)


def scene_state(addon, sc):
    """Everything a bad input must leave as it was."""
    return (markers_state(sc), sc.frame_start, sc.frame_end, len(bpy.data.actions),
            {o.name: (o.animation_data.action.name if o.animation_data and o.animation_data.action else None,
                      fcurve_keys(addon, o)) for o in sc.objects if o.type == "ARMATURE"})


def same_state(a, b) -> bool:
    if a[:4] != b[:4] or a[4].keys() != b[4].keys():
        return False
    for name, (act, keys) in a[4].items():
        act2, keys2 = b[4][name]
        if act != act2 or keys.keys() != keys2.keys():
            return False
        if any(not all(np.array_equal(x, y) for x, y in zip(keys[k], keys2[k])) for k in keys):
            return False
    return True


# --------------------------------------------------------------------------------------
# markers -> action
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["smpl22", "mixamo"])
def test_prompt_markers_make_one_action_over_their_span(addon, scene, kind):
    ob = make_rig(kind)
    script(scene)
    cam = bpy.data.objects.new("Cam", bpy.data.cameras.new("Cam"))
    scene.collection.objects.link(cam)
    scene.timeline_markers["F_30 camera"].camera = cam
    others = [s for s in markers_state(scene) if not s[0].startswith("> ")]
    n_actions = len(bpy.data.actions)
    assert bpy.ops.bamm.generate_timeline(seed=3) == {"FINISHED"}
    action = ob.animation_data.action
    assert action.name == "Timeline" and len(bpy.data.actions) == n_actions + 1
    _, mapping = mapped_bones(ob)
    keys = fcurve_keys(addon, ob)
    for bone in mapping.values():  # every mapped bone keyed on every frame of the markers' span
        co = keys[(ob.pose.bones[bone].path_from_id("rotation_quaternion"), 0)][0]
        assert len(co) == 150 and co[0, 0] == 1 and co[-1, 0] == 150
    assert [s for s in markers_state(scene) if not s[0].startswith("> ")] == others
    assert scene.timeline_markers["F_30 camera"].camera == cam
    assert (scene.frame_start, scene.frame_end) == (1, 150)
    # the motion is the engine's composition of the three segments, resampled to 24 fps
    from bamm_core.generation.compose import Segment

    eng = addon.engine_loader.load_engine(bpy.context.preferences.addons["bamm_motion"].preferences.model_folder,
                                          "CPU")
    m = eng.compose([Segment("a person walks forward", 40), Segment("a person waves both hands", 40),
                     Segment("a person bows", 45)], seed=3)
    assert [(s["start"], s["end"]) for s in m.info["segments"]] == [(0, 40), (40, 80), (80, 125)]


def test_timeline_covers_markers_outside_the_scene_range_and_predicts_the_last(addon, scene):
    ob = make_rig("smpl22")
    scene.frame_start, scene.frame_end = 20, 60
    add_markers(scene, [(WALK, 10), (WAVE, 40)])
    assert bpy.ops.bamm.generate_timeline(predict_last=True) == {"FINISHED"}
    a0, a1 = ob.animation_data.action.frame_range
    assert a0 == 10 and scene.frame_start == 10 and scene.frame_end == a1 >= 40 + 9


def test_add_prompt_marker_at_the_current_frame(addon, scene):
    scene.frame_current = 33
    assert bpy.ops.bamm.add_prompt_marker(prompt="a person jumps") == {"FINISHED"}
    assert [(m.name, m.frame, m.select) for m in scene.timeline_markers] == [("> a person jumps", 33, True)]
    with pytest.raises(RuntimeError, match="already has the prompt marker"):
        bpy.ops.bamm.add_prompt_marker(prompt="a person sits")
    assert len(scene.timeline_markers) == 1


# --------------------------------------------------------------------------------------
# regenerate one segment
# --------------------------------------------------------------------------------------
def test_regenerate_segment_keeps_keys_outside_bit_identical(addon, scene):
    ob = make_rig("mixamo")
    script(scene)
    assert bpy.ops.bamm.generate_timeline(seed=1) == {"FINISHED"}
    before = fcurve_keys(addon, ob)
    scene.timeline_markers[WAVE].name = "> a person jumps"  # an edited prompt
    others = markers_state(scene)
    assert bpy.ops.bamm.regenerate_segment(marker="> a person jumps", seed=7) == {"FINISHED"}
    after = fcurve_keys(addon, ob)
    assert _assert_outside_identical(before, after, 49, 96) > 1000
    changed = sum(int(np.abs(after[k][0][48:96, 1] - before[k][0][48:96, 1]).max() > 1e-4) for k in before)
    assert changed > 10 and markers_state(scene) == others
    # the selected prompt marker is the default; the last segment runs to the action's end
    for m in scene.timeline_markers:
        m.select = m.name == BOW
    before = after
    assert bpy.ops.bamm.regenerate_segment(seed=2) == {"FINISHED"}
    assert _assert_outside_identical(before, fcurve_keys(addon, ob), 97, 150) > 1000


# --------------------------------------------------------------------------------------
# bad input
# --------------------------------------------------------------------------------------
BAD = {
    "no prompt markers": ([("F_01 camera", 1), ("note", 20)], "no prompt markers"),
    "empty prompt": ([(WALK, 1), ("> ", 49)], "empty"),
    "two on one frame": ([(WALK, 1), (WAVE, 49), (BOW, 49)], "both on frame 49"),
    "too short": ([(WALK, 1), (WAVE, 5)], "must be 8..188 frames"),
    "after the end": ([(WALK, 1), (WAVE, 400)], "after the scene's end frame"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_timeline_changes_nothing(addon, scene, case):
    ob = make_rig("smpl22")
    scene.frame_end = 150
    assert bpy.ops.bamm.generate(prompt="a person walks", length=1.0) == {"FINISHED"}
    marks, message = BAD[case]
    add_markers(scene, marks)
    state = scene_state(addon, scene)
    with pytest.raises(RuntimeError, match=message):
        bpy.ops.bamm.generate_timeline()
    assert same_state(state, scene_state(addon, scene))
    assert ob.animation_data.action.name == "a person walks"


def test_bad_regenerate_and_path_change_nothing(addon, scene):
    make_rig("smpl22")
    script(scene)
    assert bpy.ops.bamm.generate_timeline() == {"FINISHED"}
    state = scene_state(addon, scene)
    with pytest.raises(RuntimeError, match="no prompt marker named"):
        bpy.ops.bamm.regenerate_segment(marker="> nobody")
    with pytest.raises(RuntimeError, match="select one prompt marker"):
        bpy.ops.bamm.regenerate_segment()
    empty = bpy.data.objects.new("NotACurve", None)
    scene.collection.objects.link(empty)
    state = scene_state(addon, scene)
    with pytest.raises(RuntimeError, match="'NotACurve' is a empty, not a curve"):
        bpy.ops.bamm.generate_timeline(path="NotACurve")
    with pytest.raises(RuntimeError, match="at least 2 points"):
        bpy.ops.bamm.generate(prompt="a person walks", path_points="[[0, 0]]")
    with pytest.raises(RuntimeError, match="zero length"):
        bpy.ops.bamm.generate(prompt="a person walks", path_points="[[1, 1], [1, 1]]")
    assert same_state(state, scene_state(addon, scene))


# --------------------------------------------------------------------------------------
# the scene range follows the keys
# --------------------------------------------------------------------------------------
def test_scene_range_follows_generate_and_extend(addon, scene, reference_joints):
    addon.engine_loader.set_engine_override(ReferenceMotionEngine(reference_joints[:80]))
    ob = make_rig("smpl22")
    scene.frame_end = 10
    assert bpy.ops.bamm.generate(prompt="a person walks", length=2.0) == {"FINISHED"}
    assert (scene.frame_start, scene.frame_end) == (1, 47)  # 40 model frames -> 47 at 24 fps
    addon.engine_loader.set_engine_override(None)
    assert bpy.ops.bamm.outpaint(prompt="a person sits", seconds_after=1.0) == {"FINISHED"}
    assert scene.frame_end == 71
    before = fcurve_keys(addon, ob)
    # 0.5 s before frame 1 would start at frame -11: the action moves 11 frames later instead
    assert bpy.ops.bamm.outpaint(prompt="a person stands", seconds_before=0.5) == {"FINISHED"}
    assert tuple(ob.animation_data.action.frame_range) == (0, 82) and (scene.frame_start, scene.frame_end) == (0, 82)
    after = fcurve_keys(addon, ob)
    for key, (co, hl, hr) in before.items():  # the kept keys moved by 11 frames, values unchanged
        co2 = after[key][0]
        assert np.array_equal(co2[co2[:, 0] >= 12], co + [11, 0])


# --------------------------------------------------------------------------------------
# the path
# --------------------------------------------------------------------------------------
def quarter_circle(name="Path", radius=4.0, origin=(1.0, 2.0, 0.0)):
    """A Bezier quarter circle in the ground plane, starting at ``origin`` heading -Y."""
    cu = bpy.data.curves.new(name, "CURVE")
    cu.dimensions = "3D"
    sp = cu.splines.new("BEZIER")
    sp.bezier_points.add(1)
    k = 4 / 3 * math.tan(math.pi / 8) * radius
    a, b = sp.bezier_points
    a.co, a.handle_left, a.handle_right = (0, 0, 0), (0, k, 0), (0, -k, 0)
    b.co, b.handle_left, b.handle_right = (radius, -radius, 0), (radius - k, -radius, 0), (radius + k, -radius, 0)
    ob = bpy.data.objects.new(name, cu)
    ob.location = origin
    bpy.context.scene.collection.objects.link(ob)
    return ob


def _distance_to_polyline(p: np.ndarray, line: np.ndarray) -> np.ndarray:
    a, b = line[:-1], line[1:]
    ab = b - a
    t = np.clip(np.einsum("nkd,kd->nk", p[:, None] - a, ab) / np.einsum("kd,kd->k", ab, ab), 0, 1)
    return np.linalg.norm(p[:, None] - (a + t[..., None] * ab), axis=-1).min(1)


@pytest.mark.parametrize("kind", ["smpl22", "mixamo"])
def test_generate_follows_a_bezier_path(addon, scene, reference_joints, kind):
    from bamm_motion import curve_path

    addon.engine_loader.set_engine_override(ReferenceMotionEngine(reference_joints))
    ob = make_rig(kind)
    curve = quarter_circle()
    line = curve_path.world_points(bpy.context, curve)
    assert len(line) == curve.data.splines[0].resolution_u + 1
    assert np.allclose(line[0], (1, 2, 0)) and np.allclose(line[-1], (5, -2, 0), atol=1e-5)
    scene.bamm.path = curve
    assert bpy.ops.bamm.generate(prompt="a person walks") == {"FINISHED"}
    x, _ = world_joints(addon, ob, range(1, 205, 4))
    pelvis = x[:, 0, :2]
    assert np.linalg.norm(pelvis[0] - (1, 2)) < 0.02  # starts on the path's first point
    assert _distance_to_polyline(pelvis, line[:, :2]).max() < 0.05  # stays on the curve
    assert np.linalg.norm(pelvis[-1] - pelvis[0]) > 2.0  # and travels along it


def test_timeline_and_extend_follow_the_path(addon, scene):
    """Generate Timeline starts the pelvis on the path; Extend After goes on along the path's
    shape from where the clip ends (keys before it untouched)."""
    ob = make_rig("smpl22")
    scene.frame_end = 96
    add_markers(scene, [(WALK, 1), (WAVE, 49)])
    curve = quarter_circle(origin=(-1.0, 0.5, 0.0))
    assert bpy.ops.bamm.generate_timeline(path=curve.name) == {"FINISHED"}
    x, _ = world_joints(addon, ob, [1])
    assert np.linalg.norm(x[0, 0, :2] - (-1, 0.5)) < 0.02
    from bamm_motion import curve_path

    line = curve_path.world_points(bpy.context, curve)[:, :2]
    before = fcurve_keys(addon, ob)
    end = world_joints(addon, ob, [96])[0][0, 0, :2]
    assert bpy.ops.bamm.outpaint(prompt="a person walks", seconds_after=2.0, path=curve.name,
                                 blend_frames=0) == {"FINISHED"}
    _assert_outside_identical(before, fcurve_keys(addon, ob), 96.5, 1e9)
    new, _ = world_joints(addon, ob, range(97, 97 + 48, 4))
    assert _distance_to_polyline(new[:, 0, :2], line - line[0] + end).max() < 0.05
    travel = new[-1, 0, :2] - end  # along the path's start tangent (world -Y)
    assert np.linalg.norm(travel) > 0.2 and -travel[1] / np.linalg.norm(travel) > 0.95


def test_esc_during_a_compose_leaves_the_scene_as_it_was(addon, scene):
    """The modal run's Job, cancelled after the compose reported progress (Esc): nothing applied."""
    from types import SimpleNamespace

    ob = make_rig("smpl22")
    script(scene)
    assert bpy.ops.bamm.generate(prompt="a person walks", length=1.0) == {"FINISHED"}
    state = scene_state(addon, scene)
    params = SimpleNamespace(prompt="", seed=0, guidance=(4.0, 3.0), refine="every_other", armature=ob.name,
                             rig_preset="AUTO", custom_map="", in_place=False, blend_frames=4, predict_last=False,
                             action_name="", segments="", start_frame=-1, path="", path_points="")
    from bamm_motion.operators_timeline import BAMM_OT_generate_timeline

    plan = BAMM_OT_generate_timeline.plan_fn(params, bpy.context)
    seen = []

    def work(progress):
        def esc_after_first_step(done, total):
            seen.append((done, total))
            if done >= 1:
                job.cancel()
            return progress(done, total)
        return plan.work(esc_after_first_step)

    job = addon.jobs.Job(work)
    job.start()
    assert job.join(60) == "cancelled"
    assert seen and seen[-1][0] < seen[-1][1]  # stopped part-way through the compose
    assert same_state(state, scene_state(addon, scene))


def test_poly_and_nurbs_paths_are_sampled_in_world_space(addon, scene):
    from bamm_motion import curve_path

    def curve(kind, pts, location=(0.0, 0.0, 0.0), rotation=(0.0, 0.0, 0.0)):
        cu = bpy.data.curves.new(kind, "CURVE")
        cu.dimensions = "3D"
        sp = cu.splines.new(kind)
        sp.points.add(len(pts) - 1)
        for p, co in zip(sp.points, pts):
            p.co = (*co, 1.0)
        if kind == "NURBS":
            sp.use_endpoint_u, sp.order_u, sp.resolution_u = True, 3, 8
        ob = bpy.data.objects.new(kind, cu)
        ob.location, ob.rotation_euler = location, rotation
        scene.collection.objects.link(ob)
        return ob

    square = [(0, 0, 0), (1, 0, 0), (1, 1, 0), (0, 1, 0)]
    poly = curve("POLY", square, location=(2, 3, 0), rotation=(0, 0, math.pi / 2))
    got = curve_path.world_points(bpy.context, poly)
    assert np.allclose(got, [(2, 3, 0), (2, 4, 0), (1, 4, 0), (1, 3, 0)], atol=1e-6)
    nurbs = curve("NURBS", square, location=(0, 0, 1))
    got = curve_path.world_points(bpy.context, nurbs)
    assert len(got) > 8 and np.allclose(got[0], (0, 0, 1), atol=1e-5) and np.allclose(got[-1], (0, 1, 1), atol=1e-5)
    # points given as [x, z] on the engine's ground plane are world (x, -z)
    assert np.allclose(curve_path.parse_points("[[1, 2], [3, -4]]"), [(1, -2, 0), (3, 4, 0)])
