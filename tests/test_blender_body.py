"""Add Body (headless Blender): a synthetic SMPL / SMPL-X file skinned onto the SMPL-22
armature; a posed frame moves the vertices with their bones; bad files change nothing."""
from __future__ import annotations

import numpy as np
import pytest

bpy = pytest.importorskip("bpy")
pytest.importorskip("smplx")

from body_files import model_arrays, write_model  # noqa: E402
from test_blender_addon import MODULE, addon, scene  # noqa: E402,F401  (fixtures are used by name)

from bamm_core.rigs.body import fit_body  # noqa: E402
from bamm_core.rigs.body_model import load_body_model  # noqa: E402

pytestmark = pytest.mark.blender


def evaluated_vertices(ob) -> np.ndarray:
    """World-space vertex positions after the modifiers."""
    deps = bpy.context.evaluated_depsgraph_get()
    ev = ob.evaluated_get(deps)
    me = ev.to_mesh()
    co = np.zeros(len(me.vertices) * 3)
    me.vertices.foreach_get("co", co)
    mw = np.array(ev.matrix_world)
    ev.to_mesh_clear()
    return co.reshape(-1, 3) @ mw[:3, :3].T + mw[:3, 3]


def rig_and_file(tmp_path, kind="smplx", ext="npz"):
    assert bpy.ops.bamm.create_armature() == {"FINISHED"}
    arm = bpy.context.active_object
    arm.location = (0.5, -1.0, 0.2)  # the body follows the armature object
    path = write_model(tmp_path, kind, ext)
    bpy.context.preferences.addons[MODULE].preferences.body_model = str(path)
    return arm, path


def world_lbs(arm, ob, rest_local: np.ndarray) -> np.ndarray:
    """The expected skinning: sum_b w_b (pose_b @ rest_b^-1) v, from the evaluated bones."""
    aw = np.array(arm.matrix_world)
    out = np.zeros_like(rest_local)
    weights = np.zeros((len(rest_local), len(ob.vertex_groups)))
    for v in ob.data.vertices:
        for g in v.groups:
            weights[v.index, g.group] = g.weight
    for g in ob.vertex_groups:
        pb = arm.pose.bones[g.name]
        m = aw @ np.array(pb.matrix) @ np.linalg.inv(np.array(pb.bone.matrix_local))
        out += weights[:, g.index, None] * (rest_local @ m[:3, :3].T + m[:3, 3])
    return out / weights.sum(axis=1, keepdims=True)


@pytest.mark.parametrize("kind,ext", [("smplx", "npz"), ("smpl", "pkl")])
def test_add_body_skins_the_mesh_to_the_armature(scene, tmp_path, kind, ext):
    arm, path = rig_and_file(tmp_path, kind, ext)
    assert bpy.ops.bamm.add_body(gender="neutral", betas=(1.0, -0.5, 0.0, 0.0)) == {"FINISHED"}
    ob = bpy.data.objects["Body"]
    assert ob.type == "MESH" and ob.parent is arm
    mods = [m for m in ob.modifiers if m.type == "ARMATURE"]
    assert len(mods) == 1 and mods[0].object is arm
    assert sorted(g.name for g in ob.vertex_groups) == sorted(b.name for b in arm.data.bones)
    # the rest mesh is the engine's fit onto the armature's bone heads, placed with the armature
    heads = np.array([arm.data.bones[b.name].head_local for b in arm.data.bones])
    names = [b.name for b in arm.data.bones]
    from bamm_core.rigs.rest_pose import JOINT_NAMES
    rest = heads[[names.index(n) for n in JOINT_NAMES]]
    want = fit_body(load_body_model(path, "neutral", [1.0, -0.5]), rest)
    local = np.array([v.co for v in ob.data.vertices])
    np.testing.assert_allclose(local, want.vertices, atol=1e-5)
    aw = np.array(arm.matrix_world)
    np.testing.assert_allclose(evaluated_vertices(ob), local + aw[:3, 3], atol=1e-5)
    # a posed frame: the vertices move with their bones, as the armature's LBS says
    rng = np.random.default_rng(0)
    for name in ("pelvis", "spine1", "left_shoulder", "left_elbow", "right_hip", "right_knee", "neck"):
        q = rng.normal(size=4)
        arm.pose.bones[name].rotation_quaternion = q / np.linalg.norm(q)
    arm.pose.bones["pelvis"].location = (0.1, 0.2, -0.05)
    bpy.context.view_layer.update()
    posed = evaluated_vertices(ob)
    np.testing.assert_allclose(posed, world_lbs(arm, ob, local), atol=1e-4)
    assert np.abs(posed - (local + aw[:3, 3])).max() > 0.1
    hand = [i for i, v in enumerate(ob.data.vertices) if any(
        ob.vertex_groups[g.group].name == "left_wrist" and g.weight > 0.99 for g in v.groups)]
    assert hand, "finger/hand weights fold onto the wrist"


def scene_state() -> dict:
    return {k: sorted(b.name for b in getattr(bpy.data, k)) for k in ("objects", "meshes", "collections")}


def test_bad_body_files_change_nothing(scene, tmp_path):
    arm, good = rig_and_file(tmp_path)
    corrupt = tmp_path / "SMPLX_MALE.npz"
    corrupt.write_bytes(b"PK\x03\x04 not really a zip")
    foreign = tmp_path / "foreign.npz"
    np.savez(foreign, weights=np.zeros((3, 3)), something=np.ones(4))
    d = model_arrays("smpl")
    k = 30  # a joint count no SMPL model has
    d.update(weights=np.pad(d["weights"], ((0, 0), (0, k - 24))), J_regressor=np.pad(d["J_regressor"], ((0, k - 24), (0, 0))),
             kintree_table=np.pad(d["kintree_table"], ((0, 0), (0, k - 24)), constant_values=20))
    (tmp_path / "notes.txt").write_text("hello")
    wrong = tmp_path / "wrong.npz"
    np.savez(wrong, **d)
    cases = [(tmp_path / "missing.npz", "not found"), (corrupt, "cannot read"), (foreign, "lacks"),
             (wrong, "30 joints"), (tmp_path / "notes.txt", "not an SMPL/SMPL-X model file")]
    before = scene_state()
    for path, message in cases:
        with pytest.raises(RuntimeError, match=message):
            bpy.ops.bamm.add_body(model_path=str(path))
        assert scene_state() == before, path
    # not an SMPL-22 armature
    bpy.ops.object.armature_add()
    other = bpy.context.active_object
    before = scene_state()
    with pytest.raises(RuntimeError, match="needs an SMPL-22 armature"):
        bpy.ops.bamm.add_body(model_path=str(good))
    assert scene_state() == before
    bpy.context.view_layer.objects.active = arm
    assert other.name in before["objects"]


def test_panel_shows_add_body_with_gender_and_shape(scene):
    from bamm_motion import panels
    from test_blender_addon import _FakeLayout
    from types import SimpleNamespace

    assert bpy.ops.bamm.create_armature() == {"FINISHED"}
    s = bpy.context.scene.bamm
    s.body_gender, s.body_betas[0] = "female", 1.5
    log = []
    panels.BAMM_PT_panel.draw(SimpleNamespace(layout=_FakeLayout(log)), bpy.context)
    props = [a[1] for n, a, kw in log if n == "prop"]
    assert "body_gender" in props and "body_betas" in props
    assert "bamm.add_body" in [a[0] for n, a, kw in log if n == "operator"]


def test_a_generated_motion_moves_the_body_without_offsets(scene, tmp_path):
    """Each body joint's own vertices (synthetic file: two per joint, weighted to it alone)
    stay centred on their bone's head through a motion generated onto the armature."""
    from bamm_core.rigs.rest_pose import JOINT_NAMES

    arm, _ = rig_and_file(tmp_path)
    assert bpy.ops.bamm.add_body() == {"FINISHED"}
    body = bpy.data.objects["Body"]
    bpy.context.view_layer.objects.active = arm
    assert bpy.ops.bamm.generate(prompt="a person walks forward", length=1.5) == {"FINISHED"}
    aw = np.array(arm.matrix_world)
    for frame in (scene.frame_start + 5, scene.frame_start + 20):
        scene.frame_set(frame)
        v = evaluated_vertices(body)[: 2 * 22].reshape(22, 2, 3).mean(axis=1)
        heads = np.array([aw[:3, :3] @ np.array(arm.pose.bones[n].head) + aw[:3, 3] for n in JOINT_NAMES])
        np.testing.assert_allclose(v, heads, atol=1e-4)
    assert np.abs(v - (np.array([arm.data.bones[n].head_local for n in JOINT_NAMES]) + aw[:3, 3])).max() > 0.05
