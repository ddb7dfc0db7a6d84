"""Bodies on the 22-joint skeleton (no Blender): reading SMPL / SMPL-X files through smplx,
weights folded onto the body joints, the rest mesh fitted to a rig's rest pose, skinning,
bad files, and ``bamm preview --body``."""
from __future__ import annotations

import numpy as np
import pytest

from body_files import model_arrays, model_parents, write_model
from bamm_core.motion.rotation_solver import solve_world_rotations
from bamm_core.rigs.body import Body, body_weights, fit_body, pose_body, skin
from bamm_core.rigs.body_model import BodyModelError, find_model_file, load_body_model
from bamm_core.rigs.rest_pose import PARENTS, YUP_TO_ZUP, smpl_rest_joints
from bamm_core.rigs.templates import template_rest_pose



@pytest.fixture
def smplx():
    return pytest.importorskip("smplx")


def test_weights_fold_hands_face_and_fingers_onto_their_body_joint():
    parents = model_parents("smplx")  # 55 joints: jaw/eyes under the head, fingers under the wrists
    w = np.zeros((4, 55))
    w[0, 22] = w[0, 15] = 0.5  # jaw + head -> head
    w[1, 30] = 1.0              # a left-hand finger joint -> left wrist
    w[2, 50], w[2, 19] = 0.25, 0.75  # right finger + right elbow
    out = body_weights(w, parents)
    assert out.shape == (4, 22)
    np.testing.assert_allclose(out[0], np.eye(22)[15])
    np.testing.assert_allclose(out[1], np.eye(22)[20])
    np.testing.assert_allclose(out[2], 0.25 * np.eye(22)[21] + 0.75 * np.eye(22)[19])
    np.testing.assert_array_equal(out[3], 0)  # no weight stays no weight


@pytest.mark.parametrize("kind,ext", [("smpl", "pkl"), ("smpl", "npz"), ("smplh", "npz"), ("smplx", "npz")])
def test_load_shapes_the_body_from_betas(smplx, tmp_path, kind, ext):
    path = write_model(tmp_path, kind, ext)
    d = model_arrays(kind, num_betas=20 if kind == "smplx" else 10)
    m = load_body_model(path, "neutral", [1.5, -0.5])
    assert m.kind == {"smpl": "SMPL", "smplh": "SMPL-H", "smplx": "SMPL-X"}[kind]
    want = d["v_template"] + d["shapedirs"][:, :, :2] @ np.array([1.5, -0.5])
    np.testing.assert_allclose(m.vertices, want, atol=1e-5)
    np.testing.assert_allclose(m.joints, d["J_regressor"] @ want, atol=1e-5)
    assert m.parents[0] == -1 and np.array_equal(m.parents[1:22], PARENTS[1:])
    assert not np.allclose(load_body_model(path).vertices, m.vertices)


def test_a_folder_gives_the_file_of_the_gender(tmp_path):
    for g in ("neutral", "male", "female"):
        write_model(tmp_path / "smplx", "smplx", "npz", gender=g)
    assert find_model_file(tmp_path, "female").name == "SMPLX_FEMALE.npz"
    assert find_model_file(tmp_path, "male").name == "SMPLX_MALE.npz"
    (tmp_path / "smplx" / "SMPLX_NEUTRAL.npz").unlink()
    with pytest.raises(BodyModelError, match="no neutral"):
        find_model_file(tmp_path, "neutral")
    with pytest.raises(BodyModelError, match="gender must be"):
        find_model_file(tmp_path, "other")


def _joint_vertices(model_joints: int) -> np.ndarray:
    """body_files puts two vertices around every joint, the joint at their mean."""
    return np.arange(2 * model_joints).reshape(-1, 2)


@pytest.mark.parametrize("up,unit", [("Z", 1.0), ("Y", 100.0)])
def test_fit_puts_every_joint_on_the_rig_and_skinning_follows_the_bones(smplx, tmp_path, up, unit):
    m = load_body_model(write_model(tmp_path, "smplx"), betas=[0.8])
    bones = template_rest_pose("smpl22", up=up, unit=unit)
    rest = np.array([b["head"] for b in bones])
    body = fit_body(m, rest)
    pairs = _joint_vertices(55)
    np.testing.assert_allclose(body.vertices[pairs[:22]].mean(axis=1), rest, atol=1e-6 * unit)
    height = np.ptp(body.vertices, axis=0).max()
    assert 1.4 * unit < height < 2.2 * unit  # scaled to the rig (metres or centimetres)
    # the rest pose itself: no offsets
    np.testing.assert_allclose(pose_body(body, rest[None])[0], body.vertices, atol=1e-6 * unit)
    # a motion: each body joint's vertices stay on their joint
    motion = smpl_rest_joints("T")[None].repeat(3, axis=0)
    motion[1, [18, 20]] = motion[1, 16] + (motion[1, [18, 20]] - motion[1, 16]) @ np.array(
        [[0, -1, 0], [1, 0, 0], [0, 0, 1.0]]).T  # left arm down
    motion[2] += [0.3, 0.0, 0.5]
    to_rig = (YUP_TO_ZUP if up == "Z" else np.eye(3)) * unit
    x = motion @ to_rig.T
    posed = pose_body(body, x)
    np.testing.assert_allclose(posed[:, pairs[:22]].mean(axis=2), x, atol=1e-5 * unit)
    np.testing.assert_allclose(posed[2] - posed[0], np.broadcast_to(np.array([0.3, 0, 0.5]) @ to_rig.T, posed[0].shape),
                               atol=1e-6 * unit)
    hand = pairs[25:40].ravel()  # left fingers follow the left wrist
    assert np.linalg.norm(posed[1, hand] - posed[0, hand], axis=1).min() > 0.2 * unit


def test_skin_is_linear_blend_skinning():
    rng = np.random.default_rng(1)
    rest = smpl_rest_joints("T")
    w = rng.random((5, 22))
    body = Body(vertices=rng.normal(size=(5, 3)), faces=np.array([[0, 1, 2]]), joints=rest,
                weights=w / w.sum(axis=1, keepdims=True))
    posed = rest + rng.normal(0, 0.05, rest.shape)
    rot = solve_world_rotations(rest, posed[None])
    got = skin(body, rot, posed[None])[0]
    want = sum(body.weights[:, j, None] * ((body.vertices - rest[j]) @ rot[j][0].T + posed[j]) for j in range(22))
    np.testing.assert_allclose(got, want, atol=1e-12)


def _wrong_joint_count(tmp_path):
    d = model_arrays("smpl")
    d.update(weights=d["weights"][:, :23], J_regressor=d["J_regressor"][:23], kintree_table=d["kintree_table"][:, :23])
    np.savez(tmp_path / "wrong.npz", **d)
    return tmp_path / "wrong.npz"


def _bad_hierarchy(tmp_path):
    d = model_arrays("smpl")
    d["kintree_table"][0, 5] = 3
    np.savez(tmp_path / "bad.npz", **d)
    return tmp_path / "bad.npz"


def _code_pickle(tmp_path):
    import pickle

    class Evil:
        def __reduce__(self):
            return (print, ("ran",))

    (tmp_path / "evil.pkl").write_bytes(pickle.dumps({"v_template": Evil()}))
    return tmp_path / "evil.pkl"


@pytest.mark.parametrize("make,message", [
    (lambda p: p / "nothing.npz", "not found"),
    (lambda p: (p / "x.npz").write_bytes(b"garbage") and p / "x.npz", "cannot read"),
    (lambda p: np.savez(p / "f.npz", a=np.ones(3)) or p / "f.npz", "lacks v_template"),
    (lambda p: (p / "m.obj").write_text("v 0 0 0") and p / "m.obj", "not an SMPL/SMPL-X model file"),
    (_wrong_joint_count, "23 joints"),
    (_bad_hierarchy, "hierarchy"),
    (_code_pickle, "refusing to load builtins.print"),
    (lambda p: p, "no neutral"),
    (lambda p: "", "no body model file given"),
])
def test_bad_model_files_say_why(smplx, tmp_path, capsys, make, message):
    with pytest.raises(BodyModelError, match=message):
        load_body_model(make(tmp_path))
    assert "ran" not in capsys.readouterr().out


def test_missing_smplx_names_the_extra(tmp_path, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "smplx", None)
    with pytest.raises(BodyModelError, match=r"bamm-motion\[smplx\]"):
        load_body_model(write_model(tmp_path, "smpl", "npz"))


def test_preview_body_writes_a_mesh_gif_and_sheet(smplx, tmp_path):
    from PIL import Image

    from bamm_cli.main import main

    motion = smpl_rest_joints("T")[None].repeat(12, axis=0)
    motion[:, :, 2] += np.linspace(0, 0.6, 12)[:, None]
    np.save(tmp_path / "walk.npy", motion)
    model = write_model(tmp_path, "smplx")
    gif, png = tmp_path / "out.gif", tmp_path / "out.png"
    assert main(["preview", str(tmp_path / "walk.npy"), "--body", str(model), "--betas", "1,0",
                 "--out", str(gif), "--out", str(png), "--quiet"]) == 0
    with Image.open(gif) as im:
        assert im.n_frames == 12
        im.seek(6)
        body_px = (np.asarray(im.convert("RGB")).astype(int).std(axis=2) > 15).sum()
        assert body_px > 500  # the bluish body, not just the grey grid
    with Image.open(png) as im:
        assert im.size[0] > im.size[1] > 200
    assert main(["preview", str(tmp_path / "walk.npy"), "--body", str(model), "--out", str(tmp_path / "x.mp4"),
                 "--quiet"]) == 1
    assert main(["preview", str(tmp_path / "walk.npy"), "--body", str(tmp_path / "none.npz"),
                 "--out", str(tmp_path / "y.gif"), "--quiet"]) == 1
    assert not (tmp_path / "y.gif").exists()


def test_smpl_1_0_pkl_with_chumpy_arrays_reads_their_values(smplx, tmp_path, monkeypatch):
    """SMPL 1.0 files pickle some arrays as chumpy ``Ch`` objects (state ``{"x": array}``);
    they are read as their values without chumpy installed."""
    import pickle
    import sys
    import types

    mod = types.ModuleType("chumpy.ch")

    class Ch:
        def __init__(self, x):
            self.x = x

    Ch.__module__, Ch.__qualname__ = "chumpy.ch", "Ch"
    mod.Ch = Ch
    monkeypatch.setitem(sys.modules, "chumpy", types.ModuleType("chumpy"))
    monkeypatch.setitem(sys.modules, "chumpy.ch", mod)
    d = model_arrays("smpl")
    want = d["shapedirs"].copy()
    d["shapedirs"] = Ch(d["shapedirs"])
    (tmp_path / "basicmodel_m_lbs_10_207_0_v1.0.0.pkl").write_bytes(pickle.dumps(d, protocol=2))
    monkeypatch.delitem(sys.modules, "chumpy.ch")
    monkeypatch.delitem(sys.modules, "chumpy")
    m = load_body_model(tmp_path, "male", [1.0])
    np.testing.assert_allclose(m.vertices, d["v_template"] + want[:, :, 0], atol=1e-5)


def test_front_faces_of_closed_meshes_only():
    from bamm_core.formats.mesh_preview import front_sign

    v = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1.0]])
    f = np.array([[0, 2, 1], [0, 1, 3], [0, 3, 2], [1, 2, 3]])  # outward
    assert front_sign(v, f) == 1 and front_sign(v, f[:, ::-1]) == -1
    assert front_sign(v, f[:3]) == 0  # open: every face drawn
    assert front_sign(v, np.array([[0, 2, 1], [0, 1, 3], [0, 3, 2], [1, 3, 2]])) == 0  # inconsistent
