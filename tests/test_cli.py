"""The `bamm` command: output formats round-trip, edits keep the user's frames, user errors are
one line with a non-zero exit code and no traceback."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bamm_cli import arguments
from bamm_cli.errors import UserError
from bamm_cli.inputs import read_input
from bamm_cli.main import main
from bamm_core.motion.clip import Motion
from bamm_core.formats.motion_file import numbered, write_motion
from bamm_core.motion.timebase import HUMANML3D, Timebase

REPO = Path(__file__).resolve().parents[1]


HAS_BPY = __import__("importlib.util").util.find_spec("bpy") is not None


@pytest.fixture(scope="module")
def real_joints(shared_dir) -> np.ndarray:
    """A real HumanML3D motion: (170, 22, 3) joints at 20 fps."""
    return np.load(shared_dir / "reference/humanml3d/new_joints_012314.npy").astype(np.float32)


@pytest.fixture(scope="module")
def bandai_bvh(extract_bandai, tmp_path_factory) -> Path:
    """One real Bandai Namco take (their own 30 fps, centimetre skeleton)."""
    take = "dataset-1_walk_normal_001"
    return extract_bandai(tmp_path_factory.mktemp("bandai"), [take]) / f"{take}.bvh"


def read_motion(path):
    """A motion file as (T, 22, 3) joints at the HumanML3D rate (any known BVH skeleton)."""
    return read_input(path, HUMANML3D.fps)


def run_main(argv, capsys):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


# --------------------------------------------------------------------------- writers / readers


def test_npy_and_npz_round_trip(tmp_path, real_joints):
    tokens = np.arange(42 * 6, dtype=np.int64).reshape(42, 6) % 512
    features = np.random.default_rng(0).normal(size=(170, 263)).astype(np.float32)
    res = Motion(real_joints, features, tokens, "a person walks", 20.0, info={"seed": 7})
    write_motion(res, tmp_path / "m.npy")
    write_motion(res, tmp_path / "m.npz")
    assert np.array_equal(np.load(tmp_path / "m.npy"), real_joints)
    with np.load(tmp_path / "m.npz", allow_pickle=False) as z:
        assert np.array_equal(z["joints"], real_joints)
        assert np.array_equal(z["features"], features)
        assert np.array_equal(z["tokens"], tokens)
        assert int(z["fps"]) == 20 and str(z["prompt"]) == "a person walks" and int(z["seed"]) == 7
    # the reader gives the same joints back from both
    assert np.array_equal(read_motion(tmp_path / "m.npy"), real_joints)
    assert np.array_equal(read_motion(tmp_path / "m.npz"), real_joints)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temp files left


def test_npy_features_are_read_as_joints(tmp_path, shared_dir, real_joints):
    feats = np.load(shared_dir / "reference/humanml3d/new_joint_vecs_012314.npy")
    np.save(tmp_path / "f.npy", feats)
    joints = read_motion(tmp_path / "f.npy")
    assert joints.shape == (feats.shape[0], 22, 3)
    np.testing.assert_allclose(joints, real_joints[: feats.shape[0]], atol=1e-4)


def test_bvh_round_trip(tmp_path, real_joints):
    res = Motion(real_joints, None, None, "walk", 20.0, info={"seed": 0})
    write_motion(res, tmp_path / "m.bvh")
    back = read_motion(tmp_path / "m.bvh")
    assert back.shape == real_joints.shape
    # rotations are solved from the joints, so positions come back up to bone-length rounding
    err = np.linalg.norm(back - real_joints, axis=-1)
    assert err.max() < 0.02, err.max()


def test_bandai_bvh_is_read_as_smpl22_joints(bandai_bvh):
    from bamm_core.formats.bvh import read_bvh

    src = read_bvh(bandai_bvh)
    joints = read_motion(bandai_bvh)
    # 30 fps -> 20 fps, metres, Y up: a standing adult
    assert abs(joints.shape[0] - round(src.num_frames * 20 / src.fps)) <= 1
    hips_height = joints[:, 0, 1] - joints[:, [10, 11], 1].min(axis=1)
    assert 0.7 < np.median(hips_height) < 1.2, np.median(hips_height)
    head_above_hips = joints[:, 15, 1] - joints[:, 0, 1]
    assert 0.4 < np.median(head_above_hips) < 0.9
    with pytest.raises(UserError, match="unknown skeleton"):
        text = bandai_bvh.read_text().replace("Hips", "Pelvis")
        (bandai_bvh.parent / "renamed.bvh").write_text(text)
        read_motion(bandai_bvh.parent / "renamed.bvh")


def test_preview_command_writes_a_gif(tmp_path, real_joints, capsys):
    PIL = pytest.importorskip("PIL.Image")
    np.save(tmp_path / "m.npy", real_joints[:30])
    code, _, err = run_main(["preview", tmp_path / "m.npy", "--out", tmp_path / "m.gif", "-q"], capsys)
    assert code == 0, err
    with PIL.open(tmp_path / "m.gif") as im:
        assert im.format == "GIF" and im.n_frames == 30


@pytest.mark.skipif(__import__("shutil").which("ffmpeg") is not None, reason="ffmpeg is installed here")
def test_mp4_without_ffmpeg_is_a_user_error(tmp_path, capsys):
    code, _, err = run_main(["generate", "walk", "--out", tmp_path / "w.mp4"], capsys)
    assert code == 1 and "ffmpeg" in err and len(err.strip().splitlines()) == 1


def test_numbered_outputs():
    assert numbered(Path("a/walk.bvh"), 1, 3) == Path("a/walk_1.bvh")
    assert numbered(Path("walk.bvh"), 0, 1) == Path("walk.bvh")


def test_length_and_range_parsing():
    tb = HUMANML3D
    assert arguments.parse_length(tb, "auto") is None
    assert arguments.parse_length(tb, "2.5") == 50
    assert arguments.parse_range("1.5-3") == (1.5, 3.0)
    assert arguments.parse_min_length(tb, 2.0) == 40 and arguments.parse_min_length(tb, 0.2) == 4
    for bad in (0.0, 10.0, float("nan")):
        with pytest.raises(UserError, match="--min-length"):
            arguments.parse_min_length(tb, bad)
    for bad in ("x", "-1", "0"):
        with pytest.raises(UserError):
            arguments.parse_length(tb, bad)
    for bad in ("3-1", "1", "a-b", "1-2-3"):
        with pytest.raises(UserError):
            arguments.parse_range(bad)


# --------------------------------------------------------------------------- user errors


@pytest.mark.parametrize(
    "argv, needle",
    [
        (["generate", "   ", "--out", "{d}/x.npy"], "prompt is empty"),
        (["generate", "walk", "--out", "{d}/x.obj"], "unknown output format '.obj'"),
        (["generate", "walk", "--out", "{d}/nope/x.npy"], "does not exist"),
        (["generate", "walk", "--out", "{d}/x.npy", "--model", "{d}/no_model"], "not found"),
        (["generate", "walk", "--out", "{d}/x.npy", "--model", "{d}"], "cannot load model"),
        (["generate", "walk", "--length", "12", "--out", "{d}/x.npy"], "between 0.2 and 9.8 seconds"),
        (["generate", "walk", "--length", "soon", "--out", "{d}/x.npy"], "--length"),
        (["generate", "walk", "--min-length", "11", "--out", "{d}/x.npy"], "--min-length"),
        (["edit", "{d}/motion.npy", "--inpaint", "8-10", "jump", "--out", "{d}/y.npz"], "outside the motion"),
        (["edit", "{d}/motion.npy", "--inpaint", "3-2", "jump", "--out", "{d}/y.npz"], "END must be after START"),
        (["edit", "{d}/motion.npy", "--inpaint", "6-2", "jump", "--out", "{d}/y.npz"], "'6-2' is reversed"),
        (["edit", "{d}/motion.npy", "--inpaint", "0-8.5", "jump", "--out", "{d}/y.npz"], "use `bamm generate`"),
        (["generate", "walk", "--top-k", "0", "--out", "{d}/x.npy"], "top_k"),
        (["generate", "walk", "--device", "tpu", "--out", "{d}/x.npy"], "--device: unknown device 'tpu'"),
        (["edit", "{d}/missing.npz", "--extend-after", "1", "jump", "--out", "{d}/y.npz"], "not found"),
        (["edit", "{d}/garbage.npz", "--extend-after", "1", "jump", "--out", "{d}/y.npz"], "cannot read"),
        (["edit", "{d}/motion.txt", "--extend-after", "1", "jump", "--out", "{d}/y.npz"], "unknown input format"),
        (["edit", "{d}/motion.npy", "--extend-before", "-2", "jump", "--out", "{d}/y.npz"], "positive"),
        (["preview", "{d}/motion.npy", "--out", "{d}/p.bvh"], "preview writes .gif or .mp4"),
        (["preview", "{d}/wrong_shape.npy", "--out", "{d}/p.gif"], "expected joints of shape"),
    ],
)
def test_user_errors_are_one_line(tmp_path, real_joints, capsys, argv, needle):
    np.save(tmp_path / "motion.npy", real_joints)  # 8.5 s
    np.save(tmp_path / "wrong_shape.npy", np.zeros((10, 21, 3), np.float32))
    (tmp_path / "garbage.npz").write_bytes(b"not a zip file at all")
    (tmp_path / "motion.txt").write_text("1 2 3")
    code, out, err = run_main([a.format(d=tmp_path) for a in argv], capsys)
    assert code == 1
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("bamm ") and needle in lines[0], err
    assert "Traceback" not in err
    assert not any(p.name.startswith(("x", "y", "p")) for p in tmp_path.iterdir())  # nothing written


@pytest.mark.parametrize("command", ["generate", "edit", "info", "preview"])
def test_help(command, capsys):
    from bamm_core.generation.refinement import STRATEGIES

    code, out, err = run_main([command, "--help"], capsys)
    assert code == 0 and err == "", err
    assert ("--out" in out) == (command != "info")
    if command == "generate":
        assert all(name in out for name in STRATEGIES) and "--min-length" in out


def test_command_line_mistake_is_one_line(capsys):
    code, out, err = run_main(["edit", "in.npz", "jump", "--out", "y.npz"], capsys)  # no edit mode
    assert code == 2 and len(err.strip().splitlines()) == 1 and "--inpaint" in err


def _bamm(*args, **kw):
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.run([sys.executable, "-m", "bamm_cli", *map(str, args)], capture_output=True,
                          text=True, env=env, timeout=120, **kw)


def test_subprocess_user_errors_have_no_traceback(tmp_path, real_joints):
    r = _bamm("generate", "", "--out", tmp_path / "x.bvh")
    assert r.returncode == 1 and r.stderr.strip().count("\n") == 0 and "prompt is empty" in r.stderr
    np.save(tmp_path / "m.npy", real_joints)
    r = _bamm("edit", tmp_path / "m.npy", "--inpaint", "1-20", "jump", "--out", tmp_path / "y.npz")
    assert r.returncode == 1 and "Traceback" not in r.stderr and "outside the motion" in r.stderr
    assert r.stderr.strip().count("\n") == 0


# --------------------------------------------------------------------------- with the engine (tiny random model)


def test_generate_writes_every_format(tmp_path, tiny_model_dir, capsys):
    outs = [tmp_path / f"walk{ext}" for ext in (".npy", ".npz", ".bvh", ".gif")]
    argv = ["generate", "a person walks forward", "--length", "2", "--seed", "3", "--model", tiny_model_dir, "-q"]
    for o in outs:
        argv += ["--out", o]
    code, out, err = run_main(argv, capsys)
    assert code == 0, err
    joints = np.load(tmp_path / "walk.npy")
    assert joints.shape == (40, 22, 3) and joints.dtype == np.float32
    with np.load(tmp_path / "walk.npz") as z:
        assert np.array_equal(z["joints"], joints)
        assert z["features"].shape == (40, 263) and z["tokens"].shape[0] == 10
        assert str(z["prompt"]) == "a person walks forward" and int(z["seed"]) == 3 and int(z["fps"]) == 20
    bvh_joints = read_motion(tmp_path / "walk.bvh")
    assert bvh_joints.shape == joints.shape
    assert (tmp_path / "walk.gif").stat().st_size > 1000
    # same seed, same motion
    code, _, err = run_main(["generate", "a person walks forward", "--length", "2", "--seed", "3",
                             "--model", tiny_model_dir, "-q", "--out", tmp_path / "again.npy"], capsys)
    assert code == 0 and np.array_equal(np.load(tmp_path / "again.npy"), joints)


def test_generate_several_samples_are_numbered(tmp_path, tiny_model_dir, capsys):
    code, _, err = run_main(["generate", "a person jumps", "--length", "1", "--num-samples", "2", "--seed", "1",
                             "--model", tiny_model_dir, "-q", "--out", tmp_path / "j.npy"], capsys)
    assert code == 0, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["j_0.npy", "j_1.npy"]


def test_edit_inpaint_keeps_frames_outside_the_range(tmp_path, tiny_model_dir, real_joints, capsys):
    src = real_joints[:120]  # 6 s of a real motion
    np.save(tmp_path / "src.npy", src)
    code, _, err = run_main(["edit", tmp_path / "src.npy", "--inpaint", "2-4", "a person jumps", "--seed", "0",
                             "--model", tiny_model_dir, "-q", "--out", tmp_path / "ed.npz"], capsys)
    assert code == 0, err
    with np.load(tmp_path / "ed.npz") as z:
        out = z["joints"]
    assert out.shape == src.shape
    assert np.array_equal(out[:40], src[:40]) and np.array_equal(out[80:], src[80:])
    assert not np.allclose(out[40:80], src[40:80])  # the range was regenerated


def test_edit_extend_after_keeps_the_start(tmp_path, tiny_model_dir, real_joints, capsys):
    src = real_joints[:80]
    np.save(tmp_path / "src.npy", src)
    code, _, err = run_main(["edit", tmp_path / "src.npy", "--extend-after", "2", "then sits down", "--seed", "0",
                             "--model", tiny_model_dir, "-q", "--out", tmp_path / "long.npy"], capsys)
    assert code == 0, err
    out = np.load(tmp_path / "long.npy")
    assert out.shape[0] == 120


def test_info(tiny_model_dir, capsys):
    code, out, err = run_main(["info", "--model", tiny_model_dir], capsys)
    assert code == 0, err
    assert "license" in out.lower() and len(out.splitlines()) >= 3


def test_edit_a_bandai_bvh(tmp_path, tiny_model_dir, bandai_bvh, capsys):
    src = read_motion(bandai_bvh)
    T = src.shape[0]
    code, _, err = run_main(["edit", bandai_bvh, "--inpaint", f"1-{T / 20 - 1:.2f}", "a person waves", "--seed", "2",
                             "--model", tiny_model_dir, "-q", "--out", tmp_path / "e.npy", "--out", tmp_path / "e.bvh"],
                            capsys)
    assert code == 0, err
    out = np.load(tmp_path / "e.npy")
    end = int(round((T / 20 - 1) * 20))
    assert out.shape == src.shape
    assert np.array_equal(out[:20], src[:20]) and np.array_equal(out[end:], src[end:])
    assert read_motion(tmp_path / "e.bvh").shape == src.shape


BLENDER_BVH_CODE = """
import bpy, json
bpy.ops.wm.read_homefile(use_empty=True)
bpy.context.scene.render.fps = 20
bpy.ops.import_anim.bvh(filepath={path!r}, update_scene_fps=True, update_scene_duration=True)
ob = [o for o in bpy.data.objects if o.type == "ARMATURE"][0]
names = {names!r}
out = {{"bones": len(ob.data.bones), "frames": [], "range": list(ob.animation_data.action.frame_range)}}
for f in (1, 10, 30):
    bpy.context.scene.frame_set(f)
    out["frames"].append([list(ob.matrix_world @ ob.pose.bones[n].head) for n in names])
print("@@" + json.dumps(out))
"""


@pytest.mark.blender
@pytest.mark.skipif(not HAS_BPY, reason="bpy (Blender as a module) not installed")
def test_bvh_output_imports_into_blender(tmp_path, real_joints):
    """Our SMPL-22 BVH through Blender's own importer lands on the same joint positions."""
    import json

    from bamm_core.formats.smpl22_bvh import SMPL22_BVH_NAMES, SMPL22_BVH_TO_T2M

    joints = real_joints[:40]
    write_motion(Motion(joints, None, None, "walk", 20.0, info={"seed": 0}), tmp_path / "walk.bvh")
    code = BLENDER_BVH_CODE.format(path=str(tmp_path / "walk.bvh"), names=list(SMPL22_BVH_NAMES))
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    info = json.loads([ln for ln in r.stdout.splitlines() if ln.startswith("@@")][-1][2:])
    assert info["bones"] == 22 and info["range"][1] - info["range"][0] == pytest.approx(39, abs=1)
    # Blender's importer (defaults: forward -Z, up Y) turns our Y-up (x, y, z) into Z-up (x, -z, y)
    for f, pos in zip((1, 10, 30), info["frames"]):
        blender = np.asarray(pos)
        ours = np.stack([blender[:, 0], blender[:, 2], -blender[:, 1]], axis=-1)
        want = joints[f - 1][list(SMPL22_BVH_TO_T2M)]
        assert np.abs(ours - want).max() < 0.02, (f, np.abs(ours - want).max())


def _mixamo_bvh(folder: Path, joints: np.ndarray) -> Path:
    """Our SMPL-22 BVH of ``joints`` renamed as a Mixamo rig's (mixamorig: names, centimetres)."""
    from bamm_core.formats.bvh import read_bvh, write_bvh

    write_motion(Motion(joints, None, None, "walk", 20.0, info={"seed": 0}), folder / "smpl.bvh")
    bvh = read_bvh(folder / "smpl.bvh")
    for j in bvh.joints:
        j.name = "mixamorig:" + ("LeftToeBase" if j.name == "LeftToe" else
                                 "RightToeBase" if j.name == "RightToe" else j.name)
        j.offset = np.asarray(j.offset) * 100.0
    bvh.motion = np.asarray(bvh.motion).copy()
    bvh.motion[:, :3] *= 100.0  # root position channels
    return write_bvh(bvh, folder / "mixamo.bvh")


def test_bvh_with_mixamo_names_in_centimetres(tmp_path, real_joints):
    """A BVH from a Mixamo-named rig (other joint names, cm) is recognised by the rig presets."""
    path = _mixamo_bvh(tmp_path, real_joints)
    ours = read_motion(tmp_path / "smpl.bvh")
    back = read_motion(path)
    np.testing.assert_allclose(back, ours, atol=1e-3)


def test_edit_a_mixamo_bvh_with_its_skeleton_map(tmp_path, tiny_model_dir, real_joints, capsys):
    """--skeleton-map mixamo (a name the unknown-skeleton error lists) reads the file."""
    path = _mixamo_bvh(tmp_path, real_joints[:80])
    code, _, err = run_main(["edit", path, "--skeleton-map", "mixamo", "--inpaint", "1-3", "a person waves",
                             "--seed", "0", "--model", tiny_model_dir, "-q", "--out", tmp_path / "e.npy"], capsys)
    assert code == 0, err
    src = read_motion(path)
    out = np.load(tmp_path / "e.npy")
    assert out.shape == (80, 22, 3) and np.array_equal(out[:20], src[:20]) and np.array_equal(out[60:], src[60:])
    code, _, err = run_main(["preview", tmp_path / "smpl.bvh", "--skeleton-map", "nonexistent",
                             "--out", tmp_path / "p.gif"], capsys)
    assert code == 1 and "mixamo" in err and len(err.strip().splitlines()) == 1, err


def test_missing_clip_weights_is_a_user_error(tmp_path, tiny_model_dir, capsys, monkeypatch):
    """A model trained with CLIP text features on a machine without the CLIP weights."""
    import json
    import shutil

    from bamm_core.model.text_encoders import DEFAULT_CLIP_PATH

    if DEFAULT_CLIP_PATH.is_file():
        pytest.skip("this machine has CLIP weights")
    monkeypatch.delenv("BAMM_CLIP_WEIGHTS", raising=False)
    model = tmp_path / "clip_model"
    shutil.copytree(tiny_model_dir, model)
    cfg = json.loads((model / "config.json").read_text())
    cfg["text_encoder"] = {"name": "clip", "dim": 32}
    (model / "config.json").write_text(json.dumps(cfg))
    code, _, err = run_main(["generate", "a person walks", "--model", model, "--out", tmp_path / "w.npy"], capsys)
    assert code == 1 and len(err.strip().splitlines()) == 1 and "clip" in err.lower(), err
    assert not (tmp_path / "w.npy").exists()


# --------------------------------------------------------------------------- timebase, options, seeds, streaming


def test_limits_follow_the_models_timebase(tmp_path, tiny_model_dir, capsys):
    """Seconds become frames on the model's own timebase, read before the model is loaded."""
    import json
    import shutil

    tb30 = Timebase(fps=30.0, frames_per_token=4, max_tokens=49)
    assert arguments.parse_length(tb30, "2") == 60
    with pytest.raises(UserError, match="between 0.133333 and 6.53333 seconds"):
        arguments.parse_length(tb30, "7")
    assert arguments.range_frames(tb30, "1-2", 100) == (30, 60)
    with pytest.raises(UserError, match="outside the motion, which is 3.33 s long"):
        arguments.range_frames(tb30, "1-4", 100)
    most = tb30.max_extend_frames
    assert arguments.parse_extend(tb30, most / 30, "--extend-after") == most
    with pytest.raises(UserError, match="--extend-after must be between"):
        arguments.parse_extend(tb30, (most + 2) / 30, "--extend-after")

    model30 = tmp_path / "model30"
    shutil.copytree(tiny_model_dir, model30)
    cfg = json.loads((model30 / "config.json").read_text())
    cfg["fps"] = 30
    (model30 / "config.json").write_text(json.dumps(cfg))
    argv = ["generate", "walk", "--length", "7", "--out", tmp_path / "no" / "x.npy", "--model"]
    code, _, err = run_main(argv + [model30], capsys)
    assert code == 1 and "--length must be between 0.133333 and 6.53333 seconds" in err, err
    code, _, err = run_main(argv + [tiny_model_dir], capsys)  # 7 s is fine at 20 fps
    assert code == 1 and "does not exist" in err, err


def test_sampling_flags_reach_the_engine(tmp_path, tiny_model_dir, capsys):
    """--temperature 0 (argmax) with --refine none makes the seed irrelevant; the default
    (sampling) does not."""
    base = ["generate", "a person walks", "--length", "1", "--model", tiny_model_dir, "-q"]
    for seed in (1, 2):
        code, _, err = run_main(base + ["--seed", seed, "--temperature", "0", "--refine", "none",
                                        "--cfg", "2", "--out", tmp_path / f"argmax{seed}.npy"], capsys)
        assert code == 0, err
        code, _, err = run_main(base + ["--seed", seed, "--out", tmp_path / f"sampled{seed}.npy"], capsys)
        assert code == 0, err
    assert np.array_equal(np.load(tmp_path / "argmax1.npy"), np.load(tmp_path / "argmax2.npy"))
    assert not np.array_equal(np.load(tmp_path / "sampled1.npy"), np.load(tmp_path / "sampled2.npy"))
    code, _, err = run_main(base + ["--refine", "nonsense", "--out", tmp_path / "x.npy"], capsys)
    assert code == 2 and "every_other" in err and len(err.strip().splitlines()) == 1


def test_random_seed_is_printed_and_kept(tmp_path, tiny_model_dir, capsys):
    PIL = pytest.importorskip("PIL.Image")
    outs = [tmp_path / "w.npz", tmp_path / "w.gif", tmp_path / "w.bvh"]  # PNG: test_motion_file
    argv = ["generate", "a person walks", "--length", "0.5", "--model", tiny_model_dir]
    code, _, err = run_main(argv + [a for o in outs for a in ("--out", o)], capsys)
    assert code == 0, err
    seed_lines = [ln for ln in err.splitlines() if ln.startswith("seed: ")]
    assert len(seed_lines) == 1 and "--seed" in seed_lines[0], err
    seed = int(seed_lines[0].split()[1])
    with np.load(tmp_path / "w.npz") as z:
        assert int(z["seed"]) == seed
        joints = z["joints"]
    with PIL.open(tmp_path / "w.gif") as im:
        assert f"seed: {seed}" in im.info["comment"].decode()
    code, _, err = run_main(argv + ["--seed", seed, "--out", tmp_path / "again.npy"], capsys)
    assert code == 0 and "seed:" not in err  # a given seed is not repeated back
    assert np.array_equal(np.load(tmp_path / "again.npy"), joints)


def test_many_samples_are_streamed_in_bounded_batches(tmp_path, tiny_model_dir, capsys, monkeypatch):
    """40 samples in batches of 16: every file is written, and the CLI never holds more
    motions than the engine's current batches (a list of all 40 would)."""
    import weakref

    from bamm_core.generation.engine import Engine

    alive: set[int] = set()
    most = [0]
    original = Engine.generate_iter

    def counting(self, *args, **kw):
        assert kw["num_samples"] == 40 and kw["batch_size"] == 16
        for k, motion in enumerate(original(self, *args, **kw)):
            alive.add(k)
            weakref.finalize(motion, alive.discard, k)
            most[0] = max(most[0], len(alive))
            yield motion
            del motion

    monkeypatch.setattr(Engine, "generate_iter", counting)
    code, _, err = run_main(["generate", "a person walks", "--length", "0.4", "--num-samples", 40,
                             "--batch-size", 16, "--seed", 5, "--model", tiny_model_dir,
                             "--out", tmp_path / "s.npy"], capsys)
    assert code == 0, err
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(f"s_{i}.npy" for i in range(40))
    assert 1 <= most[0] <= 2 * 16, most[0]
    assert "wrote 40 samples: s_0.npy .. s_39.npy" in err
    samples = [np.load(tmp_path / f"s_{i}.npy") for i in (0, 1, 16, 39)]
    assert all(s.shape == (8, 22, 3) for s in samples)
    assert not any(np.array_equal(a, b) for i, a in enumerate(samples) for b in samples[i + 1:])


def test_corrupt_model_config_is_one_line(tmp_path, tiny_model_dir, capsys):
    import shutil

    model = tmp_path / "broken"
    shutil.copytree(tiny_model_dir, model)
    (model / "config.json").write_text('{"format": ')
    for argv in (["info"], ["generate", "walk", "--out", tmp_path / "x.npy"]):
        code, _, err = run_main(argv + ["--model", model], capsys)
        lines = err.strip().splitlines()
        assert code == 1 and len(lines) == 1 and "config.json" in lines[0] and "not valid JSON" in lines[0], err
    assert not (tmp_path / "x.npy").exists()
