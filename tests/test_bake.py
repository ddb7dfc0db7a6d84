"""scripts/bake.py: jobs-file parsing/validation (no Blender) and real batches in headless
Blender (bpy 5.0.1) through the add-on's operators."""
from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import time
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))
import bake  # noqa: E402  (scripts/bake.py: the command line)
import bake_jobs  # noqa: E402  (scripts/bake_jobs.py: the jobs file, no Blender)
from bamm_core.formats.paths import atomic_path  # noqa: E402  (what bake writes through)
from bamm_core.motion.timebase import HUMANML3D, Timebase  # noqa: E402


def write_json(path: Path, jobs) -> Path:
    path.write_text(json.dumps(jobs))
    return path


# --------------------------------------------------------------------------- jobs file


def test_example_jobs_files_parse_the_same():
    a = bake_jobs.load_jobs(REPO / "examples" / "jobs.json")
    b = bake_jobs.load_jobs(REPO / "examples" / "jobs.csv")
    assert a == b and len(a) == 4
    assert a[0].seconds == 4.0 and a[0].seed == 1 and a[0].export == (REPO / "examples" / "walk_wave.fbx")
    assert a[1].seconds is None and a[2].armature == "SMPL-22" and a[3].inpaint == [(30, 50)]


def test_validation_names_every_bad_job_and_field(tmp_path):
    jobs = [
        {"prompt": "a person walks"},  # fine
        {"prompt": ""},
        {"prompt": "x", "seconds": "long"},
        {"prompt": "x", "seed": 1.5, "start_frame": "one"},
        {"prompt": "x", "inpaint": [[10]]},
        {"prompt": "x", "inpaint": [[10, 30]], "seconds": 2},
        {"prompt": "x", "export": "out.obj"},
        {"prompt": "x", "export": "missing_dir/out.fbx"},
        {"prompt": "x", "armture": "Hero"},
        "just a string",
        {"prompt": "x", "start_frame": -5, "inpaint": [[-3, 4]], "armature": "Hero"},
    ]
    with pytest.raises(bake_jobs.JobsFileError) as e:
        bake_jobs.load_jobs(write_json(tmp_path / "jobs.json", jobs))
    errs = e.value.errors
    expect = [
        ("job 1:", "'prompt'"), ("job 2:", "'seconds'"), ("job 3:", "'seed'"), ("job 3:", "'start_frame'"),
        ("job 4:", "'inpaint'"), ("job 5:", "'seconds'"), ("job 6:", "'export'"), ("job 7:", "does not exist"),
        ("job 8:", "'armture'"), ("job 9:", "expected an object"), ("job 10:", "'start_frame': must be >= 0"),
        ("job 10:", "frames must be >= 0"),
    ]
    for job, needle in expect:
        assert any(m.startswith(job) and needle in m for m in errs), (job, needle, errs)
    assert not any(m.startswith("job 0:") for m in errs)


def test_csv_types_and_ranges(tmp_path):
    (tmp_path / "jobs.csv").write_text(
        "prompt,seconds,seed,inpaint,export\n"
        "walk,auto,3,,a.bvh\n"
        "jump,,,\"[[1, 9]]\",\n"
        "spin,,,5-10;20-30,\n"
    )
    jobs = bake_jobs.load_jobs(tmp_path / "jobs.csv")
    assert [j.seconds for j in jobs] == [None, None, None]
    assert jobs[0].seed == 3 and jobs[0].export == (tmp_path / "a.bvh").resolve()
    assert jobs[1].inpaint == [(1, 9)] and jobs[2].inpaint == [(5, 10), (20, 30)]
    (tmp_path / "bad.csv").write_text("prompt,seed\nwalk,seven\n")
    with pytest.raises(bake_jobs.JobsFileError, match=r"job 0: field 'seed'"):
        bake_jobs.load_jobs(tmp_path / "bad.csv")


@pytest.mark.parametrize("content, needle", [("{not json", "not valid JSON"), ("{}", "expected a JSON list"),
                                             ("[]", "no jobs")])
def test_unreadable_jobs_files(tmp_path, content, needle):
    (tmp_path / "j.json").write_text(content)
    with pytest.raises(bake_jobs.JobsFileError, match=needle):
        bake_jobs.load_jobs(tmp_path / "j.json")


def test_arguments_after_double_dash_in_blender(monkeypatch):
    """`blender -b scene.blend --python scripts/bake.py -- --jobs j.json` passes what follows `--`."""
    monkeypatch.setattr(sys, "argv", ["blender", "-b", "scene.blend", "--python", "scripts/bake.py", "--",
                                      "--jobs", "j.json", "--out", "baked.blend"])
    args = bake.parse_args()
    assert args.jobs == "j.json" and args.out == "baked.blend" and args.blend is None


def test_bad_jobs_file_exits_2_and_runs_nothing(tmp_path, capsys):
    jobs = write_json(tmp_path / "jobs.json", [{"prompt": "walk"}, {"prompt": "run", "seconds": -3}])
    assert bake.main(["--jobs", str(jobs), "--blend", str(tmp_path / "none.blend")]) == 2
    err = capsys.readouterr().err
    assert "job 1: field 'seconds'" in err and "nothing was run" in err and "Traceback" not in err


def test_lengths_are_checked_with_the_models_timebase(tmp_path):
    """"seconds": 30 and 0.1 fail validation with the Timebase's own message (as the add-on
    and the engine report it), before anything runs; another timebase moves the limits."""
    for seconds in (30, 0.1):
        with pytest.raises(bake_jobs.JobsFileError) as e:
            bake_jobs.validate_jobs([{"prompt": "a person walks", "seconds": seconds}])
        with pytest.raises(ValueError) as tb_error:
            HUMANML3D.check_seconds(seconds, "seconds")
        assert len(e.value.errors) == 1 and str(tb_error.value) in e.value.errors[0]
        assert e.value.errors[0].startswith("job 0: field 'seconds'") and "0.2-9.8 seconds" in e.value.errors[0]
    slow = Timebase(fps=10.0, frames_per_token=4, max_tokens=49)  # 19.6 s at most, 0.4 s at least
    assert bake_jobs.validate_jobs([{"prompt": "x", "seconds": 15}], timebase=slow)[0].seconds == 15.0
    with pytest.raises(bake_jobs.JobsFileError, match=r"0\.4-19\.6 seconds"):
        bake_jobs.validate_jobs([{"prompt": "x", "seconds": 0.3}], timebase=slow)
    assert bake_jobs.check_lengths(bake_jobs.validate_jobs([{"prompt": "x", "seconds": 15}], timebase=slow),
                                   HUMANML3D) == ["job 0: field 'seconds': " + bake_jobs.seconds_error(15.0, HUMANML3D)]


def test_validation_reads_the_models_timebase(tmp_path, tiny_model_dir, capsys):
    """--model's config sets the limits --validate-only checks (a 10 fps model: 0.4-19.6 s)."""
    import shutil

    slow = tmp_path / "slow"
    shutil.copytree(tiny_model_dir, slow)
    config = json.loads((slow / "config.json").read_text())
    (slow / "config.json").write_text(json.dumps({**config, "fps": 10}))
    jobs = write_json(tmp_path / "jobs.json", [{"prompt": "a person walks", "seconds": 15}])
    assert bake.main(["--jobs", str(jobs), "--validate-only"]) == 2  # the bundled model: 9.8 s at most
    assert "0.2-9.8 seconds, got 15" in capsys.readouterr().err
    assert bake.main(["--jobs", str(jobs), "--model", str(slow), "--validate-only"]) == 0
    write_json(jobs, [{"prompt": "a person walks", "seconds": 0.3}])
    assert bake.main(["--jobs", str(jobs), "--model", str(slow), "--validate-only"]) == 2
    assert "0.4-19.6 seconds, got 0.3" in capsys.readouterr().err


def test_refine_field_comes_from_the_registry():
    from bamm_core.generation.refinement import STRATEGIES

    for name in STRATEGIES:
        assert bake_jobs.validate_jobs([{"prompt": "x", "refine": name}])[0].refine == name
    with pytest.raises(bake_jobs.JobsFileError) as e:
        bake_jobs.validate_jobs([{"prompt": "x", "refine": "sharpest"},
                                 {"prompt": "x", "refine": "none", "inpaint": [[10, 30]]}])
    assert any(m.startswith("job 0: field 'refine'") and "every_other" in m for m in e.value.errors)
    assert any(m.startswith("job 1: field 'refine'") and "inpaint" in m for m in e.value.errors)


def test_validate_only_checks_the_blend_and_output_folder(tmp_path, capsys):
    jobs = write_json(tmp_path / "jobs.json", [{"prompt": "a person walks"}])
    assert bake.main(["--jobs", str(jobs), "--blend", str(tmp_path / "missing.blend"), "--validate-only"]) == 2
    err = capsys.readouterr().err
    assert "missing.blend" in err and "not found" in err and "all valid" not in err
    assert bake.main(["--jobs", str(jobs), "--out", str(tmp_path / "no_dir" / "x.blend"), "--validate-only"]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert bake.main(["--jobs", str(jobs), "--validate-only"]) == 0
    assert "1 jobs, all valid" in capsys.readouterr().out


def test_model_official_is_the_cached_paper_model(tmp_path, capsys, monkeypatch):
    """--model official names the paper's model in the model cache: not downloaded -> the
    download hint, nothing run."""
    monkeypatch.setenv("BAMM_MODEL_CACHE", str(tmp_path / "cache"))
    jobs = write_json(tmp_path / "jobs.json", [{"prompt": "a person walks"}])
    assert bake.main(["--jobs", str(jobs), "--model", "official", "--validate-only"]) == 2
    err = capsys.readouterr().err
    assert "bamm download official" in err and "nothing was run" in err


def test_atomic_path_removes_the_temporary_file(tmp_path):
    target = tmp_path / "scene.blend"
    target.write_bytes(b"original")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            Path(tmp).write_bytes(b"half written")
            raise RuntimeError("interrupted")
    assert target.read_bytes() == b"original" and [p.name for p in tmp_path.iterdir()] == ["scene.blend"]
    with atomic_path(target) as tmp:
        Path(tmp).write_bytes(b"new")
    assert target.read_bytes() == b"new" and [p.name for p in tmp_path.iterdir()] == ["scene.blend"]


# --------------------------------------------------------------------------- headless Blender

HAS_BPY = importlib.util.find_spec("bpy") is not None


def run_bpy(code: str, timeout: int = 120) -> dict:
    """Run ``code`` in a fresh Python with bpy; it must print one JSON line starting with '@@'."""
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout,
                       env=dict(os.environ, PYTHONPATH=str(REPO)))
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    line = [ln for ln in r.stdout.splitlines() if ln.startswith("@@")][-1]
    return json.loads(line[2:])


def bake_cli(*args: str, timeout: int = 300, quiet: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(REPO / "scripts" / "bake.py"), *args, *(["-q"] if quiet else [])],
                          capture_output=True, text=True, timeout=timeout)


INSPECT_CODE = """
import bpy, json
bpy.ops.wm.open_mainfile(filepath={path!r})
out = {{"actions": {{}}, "objects": {{}}}}
for a in bpy.data.actions:
    if hasattr(a, "layers"):  # 4.4+: slotted actions
        curves = [fc for layer in a.layers for strip in layer.strips for bag in strip.channelbags for fc in bag.fcurves]
    else:  # 4.2/4.3
        curves = list(a.fcurves)
    bones = sorted({{fc.data_path.split('"')[1] for fc in curves if fc.data_path.startswith("pose.bones")}})
    out["actions"][a.name] = {{"range": list(a.frame_range), "bones": len(bones),
                              "keys": sum(len(fc.keyframe_points) for fc in curves)}}
for o in bpy.data.objects:
    ad = o.animation_data
    out["objects"][o.name] = {{"type": o.type, "action": ad.action.name if ad and ad.action else None,
                              "nla": sorted(s.action.name for t in (ad.nla_tracks if ad else []) for s in t.strips)}}
for path in {imports!r}:
    before = set(bpy.data.objects)
    if path.endswith(".fbx"):
        bpy.ops.import_scene.fbx(filepath=path)
    else:
        bpy.ops.import_anim.bvh(filepath=path)
    new = [o for o in bpy.data.objects if o not in before and o.type == "ARMATURE"]
    act = new[0].animation_data.action if new and new[0].animation_data else None
    out[path] = {{"armatures": len(new), "bones": len(new[0].data.bones) if new else 0,
                 "range": list(act.frame_range) if act else None}}
print("@@" + json.dumps(out))
"""


@pytest.fixture(scope="module")
def two_armature_blend(tmp_path_factory) -> Path:
    """A .blend with two SMPL-22 armatures, Hero and Villain, made by the add-on's operator."""
    if not HAS_BPY:
        pytest.skip("bpy not installed")
    path = tmp_path_factory.mktemp("scene") / "scene.blend"
    r = subprocess.run([sys.executable, str(REPO / "examples" / "make_scene.py"), str(path)], capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0 and path.is_file(), r.stdout[-2000:] + r.stderr[-2000:]
    return path


@pytest.fixture
def scene_blend(tmp_path, two_armature_blend) -> Path:
    """A fresh copy of :func:`two_armature_blend` in this test's folder (bake.py saves in place)."""
    blend = tmp_path / "scene.blend"
    blend.write_bytes(two_armature_blend.read_bytes())
    return blend


@pytest.mark.blender
@pytest.mark.skipif(not HAS_BPY, reason="bpy not installed")
def test_three_job_batch_makes_named_actions_and_exports(tmp_path, two_armature_blend, tiny_model_dir):
    jobs = write_json(tmp_path / "jobs.json", [
        {"prompt": "a person walks forward", "armature": "Hero", "seconds": 3, "seed": 1, "action": "walk",
         "export": "walk.fbx"},
        {"prompt": "a person jumps", "armature": "Villain", "seconds": 2, "seed": 2, "action": "jump", "refine": "none",
         "export": "jump.bvh"},
        {"prompt": "a person waves", "armature": "Hero", "seconds": 2, "seed": 3, "start_frame": 10,
         "action": "wave"},
    ])
    original = two_armature_blend.read_bytes()
    r = bake_cli("--blend", str(two_armature_blend), "--jobs", str(jobs), "--out", str(tmp_path / "baked.blend"),
                 "--model", str(tiny_model_dir))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "3/3 jobs done" in r.stdout
    assert two_armature_blend.read_bytes() == original  # --out: the input is not touched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["baked.blend", "jobs.json", "jump.bvh", "walk.fbx"]

    fbx, bvh = str(tmp_path / "walk.fbx"), str(tmp_path / "jump.bvh")
    info = run_bpy(INSPECT_CODE.format(path=str(tmp_path / "baked.blend"), imports=[fbx, bvh]))
    acts = info["actions"]
    assert {"walk", "jump", "wave"} <= set(acts)
    for name in ("walk", "jump", "wave"):
        assert acts[name]["bones"] == 22 and acts[name]["keys"] > 0, acts[name]
    fps = 24  # the scene's frame rate
    assert acts["walk"]["range"][1] - acts["walk"]["range"][0] == pytest.approx(3 * fps, abs=2)
    assert acts["wave"]["range"][0] == 10
    assert info["objects"]["Hero"]["action"] == "wave" and "walk" in info["objects"]["Hero"]["nla"]
    assert info["objects"]["Villain"]["action"] == "jump"
    # the exports hold only that armature, over the action's frames
    assert info[fbx]["armatures"] == 1 and info[fbx]["bones"] >= 22
    assert info[fbx]["range"][1] - info[fbx]["range"][0] == pytest.approx(3 * fps, abs=2)
    assert info[bvh]["armatures"] == 1 and info[bvh]["bones"] == 22
    assert info[bvh]["range"][1] - info[bvh]["range"][0] == pytest.approx(2 * fps, abs=2)


@pytest.mark.blender
@pytest.mark.skipif(not HAS_BPY, reason="bpy not installed")
def test_a_bad_job_fails_alone_and_the_exit_code_says_so(tmp_path, scene_blend, tiny_model_dir):
    blend = scene_blend
    jobs = write_json(tmp_path / "jobs.json", [
        {"prompt": "a person walks forward", "armature": "Hero", "seconds": 2, "seed": 1, "action": "walk"},
        {"prompt": "a person spins", "armature": "Villain", "inpaint": [[10, 30]], "export": "spin.fbx"},  # no action
        {"prompt": "a person kicks", "armature": "Ghost", "seconds": 2},  # no such armature
        {"prompt": "a person jumps", "armature": "Villain", "seconds": 2, "seed": 2, "action": "jump",
         "export": "jump.fbx"},
        {"prompt": "a person bows"},  # no armature named, and the scene has two
    ])
    r = bake_cli("--blend", str(blend), "--jobs", str(jobs), "--model", str(tiny_model_dir),  # saved in place
                 quiet=False)
    assert r.returncode == 1, r.stdout + r.stderr
    # not a terminal: no progress-bar redraws between the messages, one message a line
    assert "\r" not in r.stderr and "baking" not in r.stderr and "job/s" not in r.stderr, r.stderr
    assert "engine loaded" in r.stderr and sum("FAILED" in ln for ln in r.stderr.splitlines()) == 3, r.stderr
    assert "2/5 jobs done, 3 failed" in r.stdout and "Traceback" not in r.stderr
    lines = r.stdout.splitlines()
    assert any("FAILED job 1" in ln and "no action" in ln for ln in lines), r.stdout
    assert any("FAILED job 2" in ln and "'Ghost' not found" in ln for ln in lines), r.stdout
    assert any(ln.strip().startswith("ok") and "job 3" in ln for ln in lines)
    assert any("FAILED job 4" in ln and "2 armatures" in ln for ln in lines), r.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["jobs.json", "jump.fbx", "scene.blend"]  # no temp files
    info = run_bpy(INSPECT_CODE.format(path=str(blend), imports=[]))
    assert {"walk", "jump"} <= set(info["actions"]) and len(info["actions"]) == 2


@pytest.mark.blender
@pytest.mark.skipif(not HAS_BPY, reason="bpy not installed")
def test_a_model_that_cannot_load_stops_the_batch_before_any_job(tmp_path, scene_blend, two_armature_blend):
    blend = scene_blend
    (tmp_path / "not_a_model").mkdir()
    jobs = write_json(tmp_path / "jobs.json", [{"prompt": "a person walks", "armature": "Hero"}])
    r = bake_cli("--blend", str(blend), "--jobs", str(jobs), "--model", str(tmp_path / "not_a_model"))
    assert r.returncode == 2 and "cannot load the model" in r.stderr and "nothing was run" in r.stderr
    assert "Traceback" not in r.stderr
    assert blend.read_bytes() == two_armature_blend.read_bytes()


@pytest.mark.blender
@pytest.mark.skipif(not HAS_BPY, reason="bpy not installed")
def test_ctrl_c_leaves_the_blend_untouched_and_no_temporary_files(tmp_path, scene_blend, two_armature_blend,
                                                                  tiny_model_dir):
    import signal

    blend = scene_blend
    jobs = write_json(tmp_path / "jobs.json", [
        {"prompt": "a person walks", "armature": "Hero" if i % 2 else "Villain", "seconds": 9, "seed": i,
         "action": f"a{i}", "export": f"a{i}.fbx"} for i in range(40)])
    p = subprocess.Popen([sys.executable, str(REPO / "scripts" / "bake.py"), "--blend", str(blend), "--jobs",
                          str(jobs), "--model", str(tiny_model_dir)], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True,
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))  # not ignored
    for line in p.stderr:  # wait until the jobs are running
        if "engine loaded" in line:
            break
    time.sleep(1.5)
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=120)
    assert p.returncode == 130, out[-2000:] + err[-2000:]
    assert "nothing saved" in out
    assert blend.read_bytes() == two_armature_blend.read_bytes()
    leftovers = [q.name for q in tmp_path.iterdir() if q.name.startswith(".")]
    assert leftovers == []
    for fbx in tmp_path.glob("*.fbx"):  # finished exports are whole files
        assert fbx.read_bytes()[:18] == b"Kaydara FBX Binary"
