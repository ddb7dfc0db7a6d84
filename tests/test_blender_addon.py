"""The Blender extension, headless (PyPI ``bpy`` = real Blender 5.0).

The add-on is enabled from the repository through ``addon_utils`` (module ``bamm_motion``);
one test installs the built zip as a real extension in a fresh process.  Generation uses the
tiny random model (``tiny_model_dir``), loaded once.  A random model cannot move plausibly, so
the plausibility test swaps in ``ReferenceMotionEngine`` -- a test stand-in returning real
HumanML3D mocap -- to judge the retarget + keying path on its own.
"""
from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

bpy = pytest.importorskip("bpy")
import addon_utils  # noqa: E402  (ships with bpy)

from bamm_core.rigs import presets as rp  # noqa: E402
from bamm_core.rigs.templates import template_rest_pose  # noqa: E402
from bamm_core.motion.resampling import resample_positions  # noqa: E402

pytestmark = pytest.mark.blender

REPO = Path(__file__).resolve().parents[1]
MODULE = "bamm_motion"


# --------------------------------------------------------------------------------------
# fixtures
# --------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def addon(tmp_path_factory, tiny_model_dir):
    """The add-on enabled from the repository, with the tiny model in its preferences."""
    root = tmp_path_factory.mktemp("addons")
    (root / MODULE).symlink_to(REPO / "blender_addon", target_is_directory=True)
    sys.path.insert(0, str(root))
    bpy.ops.wm.read_homefile(use_empty=True)
    mod = addon_utils.enable(MODULE, default_set=True, handle_error=None)
    assert mod is not None, "add-on failed to enable"
    from bamm_motion import engine_loader, jobs, keyframes, operators_base, operators

    yield SimpleNamespace(mod=mod, jobs=jobs, keyframes=keyframes, operators=operators,
                          operators_base=operators_base, engine_loader=engine_loader,
                          model_dir=str(tiny_model_dir))
    engine_loader.set_engine_override(None)
    addon_utils.disable(MODULE, default_set=True)
    sys.path.remove(str(root))


@pytest.fixture()
def scene(addon):
    """A fresh empty file (add-ons stay enabled), 24 fps."""
    bpy.ops.wm.read_homefile(use_empty=True)
    addon.engine_loader.set_engine_override(None)
    prefs = bpy.context.preferences.addons[MODULE].preferences
    prefs.model_folder = addon.model_dir
    prefs.device = "CPU"
    sc = bpy.context.scene
    sc.render.fps, sc.render.fps_base = 24, 1.0
    sc.frame_start = 1
    yield sc
    addon.engine_loader.set_engine_override(None)


class ReferenceMotionEngine:
    """Test stand-in for the engine: every call returns real HumanML3D mocap (170 frames at
    20 fps), so a test can judge retargeting and keying for plausibility."""

    fps = 20

    def __init__(self, joints: np.ndarray):
        self.joints = joints.astype(np.float32)

    def generate(self, text, length=None, seed=0, num_samples=1, progress=None, **kw):
        j = self.joints[:length] if length else self.joints
        if progress is not None and progress(1, 1) is False:
            raise RuntimeError("cancelled")
        m = SimpleNamespace(joints=j)
        return [m] * num_samples if num_samples > 1 else m


@pytest.fixture(scope="module")
def reference_joints(shared_dir):
    return np.load(shared_dir / "reference" / "humanml3d" / "new_joints_012314.npy")


def build_armature(name: str, bones: list[dict], rotation=(0.0, 0.0, 0.0), scale=1.0):
    """An armature object from ``template_rest_pose`` bone dicts (edit bones, given rolls)."""
    data = bpy.data.armatures.new(name)
    ob = bpy.data.objects.new(name, data)
    bpy.context.scene.collection.objects.link(ob)
    ob.rotation_euler = rotation
    ob.scale = (scale,) * 3
    bpy.context.view_layer.objects.active = ob
    ob.select_set(True)
    bpy.ops.object.mode_set(mode="EDIT")
    from blender_addon.rig import add_edit_bones

    add_edit_bones(data, bones)
    bpy.ops.object.mode_set(mode="OBJECT")
    return ob


def make_rig(kind: str):
    """The three rigs of the issue: SMPL-22 (our operator), Mixamo-named (A-pose, random rolls,
    Y-up centimetre armature space under a 90-degree/0.01 object transform like an FBX
    import), Rigify metarig names (T-pose, random rolls, longer legs)."""
    if kind == "smpl22":
        assert bpy.ops.bamm.create_armature() == {"FINISHED"}
        return bpy.context.active_object
    if kind == "mixamo":
        bones = template_rest_pose("mixamo", arms="A", up="Y", unit=100.0, roll="random", seed=4)
        return build_armature("MixamoRig", bones, rotation=(math.pi / 2, 0, 0), scale=0.01)
    if kind == "odd-hierarchy":  # collars under the lower chest, thighs under an offset bone
        bones = template_rest_pose("mixamo", arms="A", roll="random", seed=6)
        by = {b["name"]: b for b in bones}
        for side in ("Left", "Right"):
            by[f"mixamorig:{side}Shoulder"]["parent"] = "mixamorig:Spine1"
            by[f"mixamorig:{side}UpLeg"]["parent"] = "HipsOffset"
        h = by["mixamorig:Hips"]["head"]
        bones.insert(1, {"name": "HipsOffset", "head": h, "tail": [h[0], h[1], h[2] - 0.05], "roll": 0.3,
                         "parent": "mixamorig:Hips"})
        return build_armature("OddRig", bones)
    bones = template_rest_pose("rigify_metarig", arms="T", roll="random", seed=5, leg_scale=1.15)
    return build_armature("metarig", bones)


def mapped_bones(ob):
    preset, mapping = rp.detect([b.name for b in ob.data.bones])
    return preset, mapping


def fcurve_keys(addon, ob) -> dict:
    return addon.keyframes.snapshot(ob)


def world_joints(addon, ob, frames):
    """Blender-evaluated joints (world space) for the mapped bones, via the add-on's reader."""
    from bamm_motion.rig import read_joints, retargeter_for

    r, _ = retargeter_for(ob)
    x = read_joints(bpy.context, ob, r, frames)
    m = np.array(ob.matrix_world)
    return x @ m[:3, :3].T + m[:3, 3], r


# --------------------------------------------------------------------------------------
# registration and packaging
# --------------------------------------------------------------------------------------
def test_register_unregister_cycle(addon):
    assert hasattr(bpy.types.Scene, "bamm")
    assert "BAMM_PT_panel" in dir(bpy.types)
    addon_utils.disable(MODULE, default_set=True)
    assert not hasattr(bpy.types.Scene, "bamm")
    assert "BAMM_PT_panel" not in dir(bpy.types)
    assert not hasattr(bpy.types, "BAMM_OT_generate")
    addon_utils.enable(MODULE, default_set=True, handle_error=None)
    assert hasattr(bpy.types.Scene, "bamm") and hasattr(bpy.ops.bamm, "generate")
    assert bpy.ops.bamm.generate.poll()


def test_built_zip_installs_as_extension(tmp_path):
    """`scripts/build_addon.py` output installs with package_install_files under a temporary
    BLENDER_USER_RESOURCES, registers as bl_ext.user_default.bamm_motion (using its vendored
    bamm_core), creates an armature and unregisters cleanly."""
    out = subprocess.run([sys.executable, str(REPO / "scripts" / "build_addon.py"), "--out",
                          str(tmp_path / "dist"), "--no-models"], capture_output=True, text=True, check=True)
    zip_path = next((tmp_path / "dist").glob("bamm_motion-*.zip"))
    assert "built" in out.stdout
    script = textwrap.dedent(f"""
        import sys, bpy, addon_utils
        bpy.ops.wm.read_homefile(use_empty=True)
        bpy.ops.extensions.package_install_files(filepath={str(zip_path)!r}, repo="user_default",
                                                 enable_on_install=True)
        name = "bl_ext.user_default.bamm_motion"
        assert name in bpy.context.preferences.addons, list(bpy.context.preferences.addons.keys())
        assert name + ".bamm_core" in sys.modules, "vendored bamm_core not used"
        from bl_ext.user_default.bamm_motion import dependencies
        sp = dependencies.site_packages()
        assert {str(tmp_path)!r} in sp and sp.endswith("site-packages"), sp
        assert bpy.ops.bamm.create_armature() == {{"FINISHED"}}
        assert len(bpy.context.active_object.data.bones) == 22
        addon_utils.disable(name, default_set=True)
        assert not hasattr(bpy.types.Scene, "bamm")
        print("EXTENSION-OK")
    """)
    env = {**os.environ, "BLENDER_USER_RESOURCES": str(tmp_path / "user")}
    res = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env,
                         timeout=120, cwd=str(tmp_path))
    assert "EXTENSION-OK" in res.stdout, res.stdout[-2000:] + res.stderr[-2000:]


def test_enums_list_the_registries_and_registering_needs_no_torch(addon, tmp_path):
    """The refinement and rig-preset menus are the engine's registries; with torch missing the
    add-on still registers and lists both (the registries import no torch)."""
    from bamm_core.generation.options import SamplingOptions
    from bamm_core.generation.refinement import STRATEGIES

    from bamm_motion import enums

    s = bpy.context.scene.bamm
    assert s.refine == SamplingOptions().refine and s.rig_preset == "AUTO"  # the defaults
    refine, presets = enums.refine_items(s, bpy.context), enums.preset_items(s, bpy.context)
    assert [it[0] for it in refine] == list(STRATEGIES)
    assert [it[1] for it in refine] == [st.label for st in STRATEGIES.values()]
    assert [it[0] for it in presets] == ["AUTO", *rp.registry(), "CUSTOM"]
    assert [it[1] for it in presets[1:-1]] == [p.label for p in rp.registry().values()]
    for name in STRATEGIES:  # every registry name is a value of the property
        s.refine = name
        assert s.refine == name
    with pytest.raises(TypeError):
        s.refine = "no_such_strategy"
    s.refine = SamplingOptions().refine
    root = tmp_path / "addons"
    root.mkdir()
    (root / MODULE).symlink_to(REPO / "blender_addon", target_is_directory=True)
    script = textwrap.dedent(f"""
        import sys
        sys.modules["torch"] = None  # `import torch` fails, as before Install Dependencies
        sys.path.insert(0, {str(root)!r})
        import bpy, addon_utils
        bpy.ops.wm.read_homefile(use_empty=True)
        assert addon_utils.enable({MODULE!r}, default_set=True, handle_error=None) is not None
        s = bpy.context.scene.bamm
        enums = sys.modules[{MODULE!r} + ".enums"]
        print("REFINE", [it[0] for it in enums.refine_items(s, bpy.context)], s.refine)
        print("PRESETS", len(enums.preset_items(s, bpy.context)), s.rig_preset)
        assert bpy.ops.bamm.create_armature() == {{"FINISHED"}}
        try:
            bpy.ops.bamm.generate(prompt="a person walks")
        except RuntimeError as e:
            print("GENERATE", str(e).splitlines()[0])
    """)
    res = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                         cwd=str(tmp_path))
    out = res.stdout
    assert f"REFINE {list(STRATEGIES)} {SamplingOptions().refine}" in out and f"PRESETS {len(rp.registry()) + 2} AUTO" in out, out + res.stderr
    assert "GENERATE Error: " in out and "torch" in out.split("GENERATE", 1)[1], out


def test_lengths_beyond_the_models_timebase_are_refused(addon, scene, reference_joints, tiny_model_dir,
                                                        tmp_path):
    """The model's timebase sets the limits: 20 s and 0.1 s are refused with the Timebase's
    message (not clamped), so is an outpaint beyond one edit; a model whose config says 10 fps
    gets limits twice as long, and its frames are resampled from 10 fps."""
    from bamm_core.motion.timebase import HUMANML3D

    addon.engine_loader.set_engine_override(ReferenceMotionEngine(reference_joints))
    ob = make_rig("smpl22")
    assert bpy.ops.bamm.generate(prompt="a person walks") == {"FINISHED"}
    addon.engine_loader.set_engine_override(None)
    snap = fcurve_keys(addon, ob)
    for seconds in (20.0, 0.1):
        with pytest.raises(ValueError) as want:
            HUMANML3D.check_seconds(seconds, "length")
        with pytest.raises(RuntimeError) as got:
            bpy.ops.bamm.generate(prompt="a person walks", length=seconds)
        assert str(want.value) in str(got.value) and "0.2-9.8 seconds" in str(got.value)
    most = HUMANML3D.frames_to_seconds(HUMANML3D.max_extend_frames)
    with pytest.raises(RuntimeError, match=rf"seconds after must be 0-{most:g} seconds, got 30"):
        bpy.ops.bamm.outpaint(prompt="a person walks", seconds_after=30.0)
    assert fcurve_keys(addon, ob).keys() == snap.keys() and len(bpy.data.actions) == 1
    # a model at 10 fps: 15 s is 150 model frames, 0.3 s is below one token (0.4 s)
    slow = tmp_path / "slow"
    shutil.copytree(tiny_model_dir, slow)
    config = json.loads((slow / "config.json").read_text())
    (slow / "config.json").write_text(json.dumps({**config, "fps": 10}))
    bpy.context.preferences.addons[MODULE].preferences.model_folder = str(slow)
    assert bpy.ops.bamm.generate(prompt="a person walks", length=15.0) == {"FINISHED"}
    assert tuple(ob.animation_data.action.frame_range) == (1, len(resample_positions(np.zeros((150, 1)), 10, 24)))
    with pytest.raises(RuntimeError, match=r"length must be 0\.4-19\.6 seconds"):
        bpy.ops.bamm.generate(prompt="a person walks", length=0.3)


def test_dependency_status_is_explained_not_raised(addon):
    from bamm_motion import dependencies

    ready, msg = dependencies.status()
    assert ready and "installed" in msg  # the test venv has torch/scipy/safetensors
    dependencies.MODULES = dependencies.MODULES + ("bamm_no_such_module",)
    try:
        ready, msg = dependencies.status()
        assert not ready and "bamm_no_such_module" in msg and "Install Dependencies" in msg
        # the pip command lines are tested in tests/test_dependencies.py
    finally:
        dependencies.MODULES = dependencies.MODULES[:-1]


# --------------------------------------------------------------------------------------
# generate
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["smpl22", "mixamo", "rigify"])
def test_generate_keys_every_mapped_bone_over_the_length(addon, scene, kind):
    ob = make_rig(kind)
    preset, mapping = mapped_bones(ob)
    assert len(mapping) == 22
    # asked length: 2 s = 40 model frames -> 47 frames at 24 fps
    assert bpy.ops.bamm.generate(prompt="a person walks forward", length=2.0, seed=1) == {"FINISHED"}
    action = ob.animation_data.action
    assert action.name == "a person walks forward"
    keys = fcurve_keys(addon, ob)
    n = len(resample_positions(np.zeros((40, 1)), 20, 24))
    for bone in mapping.values():
        path = ob.pose.bones[bone].path_from_id("rotation_quaternion")
        for i in range(4):
            co = keys[(path, i)][0]
            assert len(co) == n and co[0, 0] == scene.frame_start and co[-1, 0] == scene.frame_start + n - 1
    root = ob.pose.bones[mapping["pelvis"]].path_from_id("location")
    assert all(len(keys[(root, i)][0]) == n for i in range(3))
    # predicted length: whatever the model predicts, resampled to the scene's fps
    first = action
    assert bpy.ops.bamm.generate(prompt="a person jumps", seed=3) == {"FINISHED"}
    eng = addon.engine_loader.load_engine(bpy.context.preferences.addons[MODULE].preferences.model_folder, "CPU")
    t20 = len(eng.generate("a person jumps", seed=3).joints)
    keys = fcurve_keys(addon, ob)
    path = ob.pose.bones[mapping["left_knee"]].path_from_id("rotation_quaternion")
    assert len(keys[(path, 0)][0]) == len(resample_positions(np.zeros((t20, 1)), 20, 24))
    # the previous action is kept: stashed in a muted NLA track, with a fake user
    tracks = ob.animation_data.nla_tracks
    assert any(s.action == first for t in tracks for s in t.strips) and first.use_fake_user
    # a given action name; variations numbered after it, the first one active
    assert bpy.ops.bamm.generate(prompt="a person waves", length=1.0, variations=2,
                                 action_name="Wave take") == {"FINISHED"}
    assert ob.animation_data.action.name == "Wave take"
    assert bpy.data.actions.get("Wave take #2") is not None


@pytest.mark.parametrize("kind", ["smpl22", "mixamo", "rigify", "odd-hierarchy"])
def test_plausible_motion_on_each_rig_retarget_and_keying_path(addon, scene, kind, reference_joints):
    """Real mocap through retarget + keying: Blender's evaluated pose reproduces the motion's
    bone directions, hips stay within the leg length above the ground, the feet touch it."""
    addon.engine_loader.set_engine_override(ReferenceMotionEngine(reference_joints))
    ob = make_rig(kind)
    assert bpy.ops.bamm.generate(prompt="a person jumps") == {"FINISHED"}
    n = len(resample_positions(reference_joints, 20, 24))
    frames = range(1, n + 1, 3)
    x, r = world_joints(addon, ob, frames)
    ref = resample_positions(reference_joints, 20, 24)[::3]
    ref_world = ref @ np.array([[1, 0, 0], [0, 0, -1], [0, 1, 0]]).T  # Y-up -> Z-up, -Y front
    for a, b in ((1, 4), (4, 7), (2, 5), (5, 8), (16, 18), (18, 20), (17, 19), (19, 21), (3, 6), (12, 15)):
        u, v = x[:, b] - x[:, a], ref_world[:, b] - ref_world[:, a]
        cos = np.sum(u * v, -1) / np.linalg.norm(u, axis=-1) / np.linalg.norm(v, axis=-1)
        assert np.degrees(np.arccos(np.clip(cos, -1, 1))).max() < 2.0, (a, b)
    leg = r.leg_length * ob.scale[0]
    foot_rest = r.rest_foot_height * ob.scale[0]
    hips = x[:, 0, 2] - foot_rest
    assert (hips > 0.5 * leg).all() and (hips < 1.4 * leg).all()
    feet = x[:, [7, 8, 10, 11], 2]
    assert abs(feet.min() - foot_rest) < 0.01 * leg  # touches the ground
    # starts over the rig's rest position, facing the front view (-Y)
    left = x[0, 1] - x[0, 2]
    assert left[0] > 0 and abs(left[1]) < 0.5 * abs(left[0])


# --------------------------------------------------------------------------------------
# inpaint / outpaint
# --------------------------------------------------------------------------------------
def _assert_outside_identical(before: dict, after: dict, lo: float, hi: float) -> int:
    checked = 0
    for key, (co, hl, hr) in before.items():
        co2, hl2, hr2 = after[key]
        out1 = (co[:, 0] < lo) | (co[:, 0] > hi)
        out2 = (co2[:, 0] < lo) | (co2[:, 0] > hi)
        assert out1.sum() == out2.sum(), key
        for a, b in ((co, co2), (hl, hl2), (hr, hr2)):
            assert np.array_equal(a[out1], b[out2]), key  # bit-identical
        checked += int(out1.sum())
    return checked


def test_inpaint_preview_range_keeps_outside_keys_bit_identical(addon, scene, reference_joints):
    addon.engine_loader.set_engine_override(ReferenceMotionEngine(reference_joints))
    ob = make_rig("smpl22")
    assert bpy.ops.bamm.generate(prompt="a person jumps") == {"FINISHED"}
    addon.engine_loader.set_engine_override(None)  # the real (tiny) engine does the inpainting
    scene.use_preview_range = True
    scene.frame_preview_start, scene.frame_preview_end = 60, 110
    before = fcurve_keys(addon, ob)
    n_actions = len(bpy.data.actions)
    assert bpy.ops.bamm.inpaint(prompt="a person kicks") == {"FINISHED"}
    after = fcurve_keys(addon, ob)
    assert _assert_outside_identical(before, after, 60, 110) > 1000
    changed = 0
    for key, (co, _, _) in after.items():
        inside = (co[:, 0] >= 60) & (co[:, 0] <= 110)
        assert inside.sum() == 51, key
        old = before[key][0]
        changed += int(np.abs(co[inside, 1] - old[(old[:, 0] >= 60) & (old[:, 0] <= 110), 1]).max() > 1e-4)
    assert changed > 10 and len(bpy.data.actions) == n_actions


@pytest.mark.parametrize("blend", [0, 4])
def test_inpaint_blend_frames_zero_is_a_hard_cut(addon, scene, reference_joints, blend):
    """Blend frames is the one cross-fade: 0 writes the new motion's pose on the range's first
    and last keys (no mix with the old keys); 4 keeps the old pose there and fades in."""
    addon.engine_loader.set_engine_override(ReferenceMotionEngine(reference_joints))
    ob = make_rig("smpl22")
    assert bpy.ops.bamm.generate(prompt="a person walks") == {"FINISHED"}
    addon.engine_loader.set_engine_override(None)  # the real (tiny) engine
    before = fcurve_keys(addon, ob)
    params = SimpleNamespace(prompt="a person waves", seed=2, guidance=(4.0, 3.0), refine="every_other",
                             armature=ob.name, rig_preset="AUTO", custom_map="", in_place=False,
                             blend_frames=blend, frame_start=60, frame_end=110)
    plan = addon.operators.BAMM_OT_inpaint.plan_fn(params, bpy.context)
    frames, pose = plan.work(lambda done, total: True)
    plan.apply(bpy.context, (frames, pose))
    after = fcurve_keys(addon, ob)
    assert _assert_outside_identical(before, after, 60, 110) > 1000
    assert frames[0] == 60 and frames[-1] == 110
    differs = []
    for k, name in enumerate(pose.bone_names):
        path = ob.pose.bones[name].path_from_id("rotation_quaternion")
        new = pose.rotations[[0, -1], k]
        got = np.stack([after[(path, i)][0] for i in range(4)], -1)  # (keys, 2, 4): frame, value
        got = got[np.isin(got[:, 0, 0], (60, 110)), 1]
        old = np.stack([before[(path, i)][0] for i in range(4)], -1)
        old = old[np.isin(old[:, 0, 0], (60, 110)), 1]
        err_new = np.minimum(np.abs(got - new).max(-1), np.abs(got + new).max(-1))
        if blend == 0:  # the new motion's pose exactly (up to the quaternion's sign)
            assert err_new.max() < 1e-5, name
        else:  # the existing pose (the same rotation)
            assert np.minimum(np.abs(got - old).max(-1), np.abs(got + old).max(-1)).max() < 1e-6, name
        differs.append(np.minimum(np.abs(old - new).max(-1), np.abs(old + new).max(-1)).max())
    assert max(differs) > 0.05  # the new motion is not the old one at the range edges


def test_inpaint_between_markers_on_hand_keyed_euler_rig(addon, scene):
    """A rig keyed by hand (sparse keys, Euler bones, some bones unkeyed): the range between
    two selected markers is regenerated; every key outside stays bit-identical."""
    ob = make_rig("mixamo")
    bpy.context.view_layer.objects.active = ob
    bpy.ops.object.mode_set(mode="POSE")
    for pb in ob.pose.bones:
        pb.rotation_mode = "XYZ" if "Leg" in pb.name else "QUATERNION"
    rng = np.random.default_rng(0)
    for f in range(1, 121, 10):
        for name in ("mixamorig:Hips", "mixamorig:LeftUpLeg", "mixamorig:LeftLeg", "mixamorig:Spine",
                     "mixamorig:RightArm"):
            pb = ob.pose.bones[name]
            if pb.rotation_mode == "XYZ":
                pb.rotation_euler = rng.normal(0, 0.3, 3)
                pb.keyframe_insert("rotation_euler", frame=f)
            else:
                q = np.r_[1.0, rng.normal(0, 0.15, 3)]
                pb.rotation_quaternion = q / np.linalg.norm(q)
                pb.keyframe_insert("rotation_quaternion", frame=f)
        ob.pose.bones["mixamorig:Hips"].location = (0, 0, f * 0.5)
        ob.pose.bones["mixamorig:Hips"].keyframe_insert("location", frame=f)
    bpy.ops.object.mode_set(mode="OBJECT")
    for frame, sel in ((5, False), (35, True), (80, True), (100, True)):
        m = scene.timeline_markers.new(f"F{frame}", frame=frame)
        m.select = sel
    before = fcurve_keys(addon, ob)
    assert bpy.ops.bamm.inpaint(prompt="a person waves") == {"FINISHED"}
    after = fcurve_keys(addon, ob)
    assert _assert_outside_identical(before, after, 35, 80) > 100
    path = ob.pose.bones["mixamorig:LeftLeg"].path_from_id("rotation_euler")
    co = after[(path, 0)][0]
    assert ((co[:, 0] >= 35) & (co[:, 0] <= 80)).sum() == 46  # one key per frame inside
    # unkeyed bones got curves whose border keys hold their previous (rest) value
    path = ob.pose.bones["mixamorig:Neck"].path_from_id("rotation_quaternion")
    co = after[(path, 0)][0]
    assert co[0, 0] == 35 and co[-1, 0] == 80 and co[0, 1] == pytest.approx(1.0)


def test_outpaint_extends_the_action(addon, scene, reference_joints):
    addon.engine_loader.set_engine_override(ReferenceMotionEngine(reference_joints[:80]))
    ob = make_rig("rigify")
    assert bpy.ops.bamm.generate(prompt="a person walks") == {"FINISHED"}
    addon.engine_loader.set_engine_override(None)
    action = ob.animation_data.action
    a0, a1 = action.frame_range
    before = fcurve_keys(addon, ob)
    assert bpy.ops.bamm.outpaint(prompt="then sits down", seconds_after=1.0) == {"FINISHED"}
    b0, b1 = action.frame_range
    assert b0 == a0 and b1 == a1 + 24
    _assert_outside_identical(before, fcurve_keys(addon, ob), a1 + 0.5, 1e9)
    assert bpy.ops.bamm.outpaint(prompt="a person stands up", seconds_before=0.5) == {"FINISHED"}
    shift = max(12 - a0, 0)  # keys before frame 0 cannot be played: the action moves later (scene_range)
    assert tuple(action.frame_range) == (a0 - 12 + shift, a1 + 24 + shift)
    assert ob.animation_data.action == action and len(bpy.data.actions) == 1


# --------------------------------------------------------------------------------------
# cancelling and bad input
# --------------------------------------------------------------------------------------
def _datablock_counts():
    return {k: len(getattr(bpy.data, k)) for k in ("actions", "objects", "armatures")}


def test_cancel_leaves_no_new_datablock(addon, scene):
    """The UI path (worker thread + modal timer) cannot run headless; this drives the same
    Job/plan objects: a cancelled job's result is never applied."""
    ob = make_rig("smpl22")
    bpy.context.view_layer.objects.active = ob
    counts = _datablock_counts()
    op = addon.operators.BAMM_OT_generate
    params = SimpleNamespace(prompt="a person runs", length=2.0, seed=0, variations=1, guidance=(4.0, 3.0),
                             refine="every_other", armature="", rig_preset="AUTO", custom_map="",
                             in_place=False, blend_frames=4, start_frame=-1, action_name="")
    plan = op.plan_fn(params, bpy.context)
    job = addon.jobs.Job(plan.work)
    job.cancel()  # Esc before the engine reported progress: the engine stops at its first step
    job.start()
    assert job.join(60) == "cancelled"
    calls = []
    job2 = addon.jobs.Job(lambda progress: calls.append(progress(1, 10)) or plan.work(progress))
    job2.start()
    job2.cancel()  # Esc while running: whatever the engine returned is discarded
    assert job2.join(60) == "cancelled"
    assert _datablock_counts() == counts and ob.animation_data is None
    # Ctrl-C in a script's synchronous run: a cancellation, not an error, nothing applied
    def interrupted(progress):
        raise KeyboardInterrupt
    assert addon.jobs.Job(interrupted).run_here().state == "cancelled"


def test_bad_input_reports_clear_errors_and_changes_nothing(addon, scene, reference_joints):
    addon.engine_loader.set_engine_override(ReferenceMotionEngine(reference_joints[:60]))
    ob = make_rig("smpl22")
    assert bpy.ops.bamm.generate(prompt="a person walks") == {"FINISHED"}
    snap, counts = fcurve_keys(addon, ob), _datablock_counts()

    def unchanged():
        assert fcurve_keys(addon, ob).keys() == snap.keys()
        assert all(np.array_equal(a, b) for k in snap for a, b in zip(snap[k], fcurve_keys(addon, ob)[k]))
        assert _datablock_counts() == counts

    with pytest.raises(RuntimeError, match="prompt is empty"):
        bpy.ops.bamm.generate(prompt="   ")
    unchanged()
    with pytest.raises(RuntimeError, match="no frame range selected.*preview range.*markers"):
        bpy.ops.bamm.inpaint(prompt="a person jumps")
    unchanged()
    with pytest.raises(RuntimeError, match="outside the action"):
        bpy.ops.bamm.inpaint(prompt="a person jumps", frame_start=40, frame_end=400)
    unchanged()
    with pytest.raises(RuntimeError, match="30–20 is reversed"):
        bpy.ops.bamm.inpaint(prompt="a person jumps", frame_start=30, frame_end=20)
    unchanged()
    bpy.context.view_layer.objects.active = None
    with pytest.raises(RuntimeError, match="no armature"):
        bpy.ops.bamm.generate(prompt="a person jumps")
    unchanged()
    other = build_armature("Props", [{"name": "Bone", "head": (0, 0, 0), "tail": (0, 0, 1), "roll": 0,
                                      "parent": None},
                                     {"name": "Bone.001", "head": (0, 0, 1), "tail": (0, 0, 2), "roll": 0,
                                      "parent": "Bone"}])
    counts = _datablock_counts()
    with pytest.raises(RuntimeError, match="no recognisable bones"):
        bpy.ops.bamm.generate(prompt="a person jumps")
    assert other.animation_data is None
    unchanged()


def test_default_model_generates_on_smpl_armature(addon, scene):
    """With the bundled default model (once it exists), Generate works end to end."""
    default = REPO / "bamm_core" / "models" / "default"
    if not default.is_dir():
        pytest.skip("bamm_core/models/default not shipped yet")
    prefs = bpy.context.preferences.addons[MODULE].preferences
    old = prefs.model_folder
    prefs.model_folder = ""
    try:
        ob = make_rig("smpl22")
        assert bpy.ops.bamm.generate(prompt="a person walks forward", length=2.0) == {"FINISHED"}
        assert ob.animation_data.action is not None
    finally:
        prefs.model_folder = old


# --------------------------------------------------------------------------------------
# conventions shared by the numpy side and Blender
# --------------------------------------------------------------------------------------
def test_numpy_rest_matrices_match_blender_bones(addon, scene):
    """retargeting.roll_to_matrix (used without Blender) equals Blender's bone.matrix_local."""
    from bamm_core.rigs import rest_pose as rt

    bones = template_rest_pose("ue5_mannequin", arms="A", roll="random", seed=9)
    bones.append({"name": "down", "head": (0, 0, 1), "tail": (0, -1e-5, 0), "roll": 0.7, "parent": None})
    bones.append({"name": "minus_y", "head": (0, 0, 0), "tail": (0, -1, 0), "roll": -0.4, "parent": None})
    ob = build_armature("RollCheck", bones)
    for b in bones:
        m = np.array(ob.data.bones[b["name"]].matrix_local)[:3, :3]
        ours = rt.roll_to_matrix(np.array(b["head"]), np.array(b["tail"]), b["roll"])
        assert np.abs(m - ours).max() < 1e-4, b["name"]


def test_invoke_in_background_runs_synchronously(addon, scene, reference_joints):
    addon.engine_loader.set_engine_override(ReferenceMotionEngine(reference_joints[:40]))
    ob = make_rig("smpl22")
    assert bpy.ops.bamm.generate("INVOKE_DEFAULT", prompt="a person waves") == {"FINISHED"}
    assert ob.animation_data.action.name == "a person waves"


class _FakeLayout:
    """Records what a draw() function puts in the UI (panels cannot draw headless)."""

    def __init__(self, log):
        self.log, self.enabled = log, True

    def __getattr__(self, name):
        def call(*args, **kw):
            self.log.append((name, args, kw))
            if name in ("operator",):
                return SimpleNamespace()
            return _FakeLayout(self.log) if name in ("row", "column", "box", "split") else None
        return call


def test_panel_and_preferences_draw(addon, scene):
    from bamm_motion import panels, preferences

    ob = make_rig("mixamo")
    bpy.context.view_layer.objects.active = ob
    log = []
    panels.BAMM_PT_panel.draw(SimpleNamespace(layout=_FakeLayout(log)), bpy.context)
    ops = [a[0] for n, a, kw in log if n == "operator"]
    assert ops[:1] == ["bamm.new_seed"] and {"bamm.generate", "bamm.inpaint", "bamm.outpaint",
                                             "bamm.create_armature"} <= set(ops)
    labels = " ".join(kw.get("text", "") for n, a, kw in log if n == "label")
    assert "Mixamo (22/22 joints)" in labels and "MixamoRig" in labels
    log.clear()
    prefs = bpy.context.preferences.addons[MODULE].preferences
    preferences.BAMM_AddonPreferences.draw(SimpleNamespace(layout=_FakeLayout(log)), bpy.context)
    props = [a[1] for n, a, kw in log if n == "prop"]
    assert props == ["model_source", "model_folder", "device", "clip_weights", "body_model"]  # a folder is chosen
    assert prefs.device == "CPU"


def test_legacy_action_fallback_for_blender_4_2():
    """Without slots (Blender 4.2/4.3) F-curves live on the action itself."""
    from bamm_motion import keyframes

    made = []
    legacy = SimpleNamespace(fcurves=SimpleNamespace(
        find=lambda path, index=0: None,
        new=lambda path, index=0, action_group="": made.append((path, index, action_group)) or "fc"))
    assert keyframes.channels(SimpleNamespace(animation_data=None), legacy) is legacy
    assert keyframes.new_fcurve(legacy, 'pose.bones["a"].location', 2, "a") == "fc"
    assert made == [('pose.bones["a"].location', 2, "a")]


def test_modal_ui_path_progress_apply_and_escape(addon, scene, reference_joints):
    """Drive the modal operator's state machine (worker thread + timer events) with stand-in
    window-manager/event objects, since headless Blender has no event loop: progress shows,
    the result is applied on the 'main thread' when done, Esc discards it."""
    import threading
    import types

    ops = addon.operators
    ob = make_rig("smpl22")
    gate = threading.Event()

    class SlowEngine(ReferenceMotionEngine):
        def generate(self, text, progress=None, **kw):
            for i in range(5):
                if progress(i, 5) is False:
                    raise RuntimeError("GenerationCancelled")
                gate.wait(5)
            return super().generate(text, **kw)

    addon.engine_loader.set_engine_override(SlowEngine(reference_joints[:40]))
    log = {"progress": [], "status": [], "reports": []}
    wm = SimpleNamespace(progress_update=log["progress"].append, progress_end=lambda: None,
                         event_timer_remove=lambda t: None)
    ctx = SimpleNamespace(window_manager=wm,
                          workspace=SimpleNamespace(status_text_set=log["status"].append))
    params = dict(prompt="a person bows", length=0.0, seed=0, variations=1, guidance=(4.0, 3.0),
                  refine="every_other", armature=ob.name, rig_preset="AUTO", custom_map="",
                  in_place=False, blend_frames=4, start_frame=-1, action_name="")

    def fake_op():
        op = SimpleNamespace(**params, _timer="timer")
        op.report = lambda kind, msg: log["reports"].append((set(kind), msg))
        for name in ("_cleanup", "_finish"):
            setattr(op, name, types.MethodType(getattr(addon.operators_base.EngineOperator, name), op))
        op._running = ops.BAMM_OT_generate.plan_fn(op, bpy.context)
        op._job = addon.jobs.Job(op._running.work).start()
        return op

    timer, esc = SimpleNamespace(type="TIMER"), SimpleNamespace(type="ESC")
    # 1) run to completion
    op = fake_op()
    addon.jobs.set_busy(op._job)
    assert not bpy.ops.bamm.generate.poll()  # a second run waits for this one
    assert addon.operators_base.EngineOperator.modal(op, ctx, timer) == {"PASS_THROUGH"}
    assert ob.animation_data is None  # nothing applied while the worker runs
    gate.set()
    op._job.join(30)
    assert addon.operators_base.EngineOperator.modal(op, ctx, timer) == {"FINISHED"}
    assert ob.animation_data.action.name == "a person bows" and bpy.ops.bamm.generate.poll()
    assert any("Esc to cancel" in (s or "") for s in log["status"]) and log["status"][-1] is None
    # 2) Esc while running: cancelled, the scene keeps exactly what it had
    gate.clear()
    counts, snap = _datablock_counts(), fcurve_keys(addon, ob)
    op = fake_op()
    assert addon.operators_base.EngineOperator.modal(op, ctx, esc) == {"CANCELLED"}
    gate.set()
    assert op._job.join(30) == "cancelled"
    assert _datablock_counts() == counts and fcurve_keys(addon, ob).keys() == snap.keys()
    assert ob.animation_data.action.name == "a person bows"
    assert any("cancelled" in m for _, m in log["reports"])


@pytest.mark.parametrize("fps", [25, 30, 60])
def test_scene_frame_rates_resample_both_ways(addon, scene, fps, reference_joints):
    """20 fps motion -> keys at the scene's fps -> read back at 20 fps: same motion."""
    scene.render.fps = fps
    addon.engine_loader.set_engine_override(ReferenceMotionEngine(reference_joints))
    ob = make_rig("smpl22")
    assert bpy.ops.bamm.generate(prompt="a person jumps", length=3.0) == {"FINISHED"}
    n = int(np.floor(59 * fps / 20 + 1e-9)) + 1
    assert tuple(ob.animation_data.action.frame_range) == (1, n)
    from bamm_motion.motion_io import read_motion
    from bamm_motion.rig import retargeter_for

    r, _ = retargeter_for(ob)
    back, scale = read_motion(bpy.context, ob, r, 1, n, addon.engine_loader.ui_timebase())
    ref = reference_joints[: len(back)].astype(np.float64)
    assert len(back) >= 59
    # model frames that fall on a scene frame survive exactly; the others are interpolated twice
    exact = (np.arange(len(back)) * fps) % 20 == 0
    for a, b in ((1, 4), (4, 7), (16, 18), (18, 20)):
        u, v = back[:, b] - back[:, a], ref[:, b] - ref[:, a]
        cos = np.sum(u * v, -1) / np.linalg.norm(u, axis=-1) / np.linalg.norm(v, axis=-1)
        err = np.degrees(np.arccos(np.clip(cos, -1, 1)))
        assert err[exact].max() < 0.5 and np.median(err) < 1.0, (a, b, err.max())


def test_custom_json_map_and_wrong_preset(addon, scene, tmp_path, reference_joints):
    addon.engine_loader.set_engine_override(ReferenceMotionEngine(reference_joints[:40]))
    bones = template_rest_pose("smpl22", arms="A", roll="random", seed=11)
    rename = {b["name"]: f"Bone_{i:02d}" for i, b in enumerate(bones)}
    for b in bones:
        b["name"], b["parent"] = rename[b["name"]], b["parent"] and rename[b["parent"]]
    ob = build_armature("Custom", bones)
    path = tmp_path / "custom_rig.json"
    path.write_text(__import__("json").dumps({"name": "my rig", "joints": rename}))
    with pytest.raises(RuntimeError, match="no recognisable bones"):
        bpy.ops.bamm.generate(prompt="a person waves")
    assert bpy.ops.bamm.generate(prompt="a person waves", rig_preset="CUSTOM",
                                 custom_map=str(path)) == {"FINISHED"}
    assert len(fcurve_keys(addon, ob)) == 22 * 4 + 3
    smpl = make_rig("smpl22")
    with pytest.raises(RuntimeError, match="lacks bones for"):
        bpy.ops.bamm.generate(prompt="a person waves", rig_preset="ue5_mannequin")
    assert smpl.animation_data is None


def test_variations_become_separate_actions_and_euler_bones_get_euler_keys(addon, scene):
    ob = make_rig("smpl22")
    ob.pose.bones["left_knee"].rotation_mode = "ZXY"
    assert bpy.ops.bamm.generate(prompt="a person dances", length=1.0, variations=2) == {"FINISHED"}
    assert ob.animation_data.action.name == "a person dances"
    second = bpy.data.actions["a person dances #2"]
    assert second.use_fake_user and any(s.action == second for t in ob.animation_data.nla_tracks
                                        for s in t.strips)
    keys = fcurve_keys(addon, ob)
    knee = ob.pose.bones["left_knee"]
    assert (knee.path_from_id("rotation_euler"), 2) in keys
    assert (knee.path_from_id("rotation_quaternion"), 0) not in keys
    # the Euler keys pose the bone exactly like quaternion keys of the same motion would
    scene.frame_set(10)
    m_euler = np.array(knee.matrix_basis)
    knee.rotation_mode = "QUATERNION"
    assert bpy.ops.bamm.generate(prompt="a person dances", length=1.0, variations=2) == {"FINISHED"}
    scene.frame_set(11)
    scene.frame_set(10)
    assert np.abs(np.array(knee.matrix_basis) - m_euler).max() < 1e-4


def test_euler_conversions_match_blender_for_every_order(addon):
    import mathutils
    from bamm_motion import keyframes

    rng = np.random.default_rng(3)
    q = rng.normal(size=(20, 4))
    q /= np.linalg.norm(q, axis=-1, keepdims=True)
    for mode in keyframes.EULER_MODES:
        vals = keyframes.quats_to_mode(q, mode)
        for qi, v in zip(q, vals):
            qb = np.array(mathutils.Euler(v, mode).to_quaternion())
            assert min(np.abs(qb - qi).max(), np.abs(qb + qi).max()) < 1e-6, mode
        back = keyframes.mode_to_quats(vals, mode)
        assert np.allclose(np.abs(np.sum(back * q, -1)), 1.0, atol=1e-9), mode
