"""Jobs files: the ``segments`` and ``path`` fields (validation without Blender; one batch in
headless Blender with the tiny model)."""
from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))
import bake_jobs  # noqa: E402
from bamm_core.motion.timebase import HUMANML3D, Timebase  # noqa: E402

HAS_BPY = importlib.util.find_spec("bpy") is not None


def errors_of(raw, timebase=HUMANML3D) -> list[str]:
    with pytest.raises(bake_jobs.JobsFileError) as e:
        bake_jobs.validate_jobs(raw, timebase=timebase)
    return e.value.errors


def test_segments_and_path_are_read():
    job, = bake_jobs.validate_jobs([{"segments": [{"prompt": " a person walks ", "seconds": 2},
                                                  {"prompt": "a person waves", "seconds": "auto"},
                                                  {"prompt": "a person bows"}],
                                     "path": [[0, 0], [1, 2.5]]}])
    assert job.segments == [{"prompt": "a person walks", "seconds": 2.0},
                            {"prompt": "a person waves", "seconds": None}, {"prompt": "a person bows", "seconds": None}]
    assert job.path == [[0.0, 0.0], [1.0, 2.5]] and job.prompt == "a person walks / a person waves / a person bows"
    assert bake_jobs.validate_jobs([{"prompt": "a person walks", "path": "Curve"}])[0].path == "Curve"


def test_bad_segments_and_paths_are_named():
    errs = errors_of([
        {"segments": [{"prompt": "a person walks", "seconds": 0.2}]},  # below 2 tokens (0.4 s)
        {"segments": [{"prompt": "  ", "seconds": 2}]},
        {"segments": []},
        {"segments": [{"prompt": "a person walks", "seconds": 9.8}]},  # more than one outpaint adds
        {"segments": [{"prompt": "a", "seconds": 2}], "prompt": "x"},
        {"prompt": "a person walks", "path": [[0, 0]]},
        {"prompt": "a person walks", "path": [[1, 1], [1, 1]]},
        {"prompt": "a person walks", "path": [[0, "x"], [1, 1]]},
        {"prompt": "a person walks", "inpaint": [[1, 20]], "path": [[0, 0], [1, 1]]},
    ])
    want = ["job 0: field 'segments': segment 1: seconds must be 0.4-9.4 seconds",
            "job 1: field 'segments': segment 1: prompt:", "job 2: field 'segments': must be a non-empty list",
            "job 3: field 'segments': segment 1: seconds must be 0.4-9.4 seconds",
            "job 4: field 'prompt': does not apply with 'segments'", "job 5: field 'path': needs at least 2 points",
            "job 6: field 'path': has zero length", "job 7: field 'path': each point must be [x, z]",
            "job 8: field 'path': does not apply to an inpaint job"]
    for w in want:
        assert any(e.startswith(w) for e in errs), (w, errs)
    # the model's timebase sets the limits (a 10 fps model: segments of 0.8-18.8 s)
    slow = Timebase(fps=10)
    assert bake_jobs.validate_jobs([{"segments": [{"prompt": "a", "seconds": 15}]}], timebase=slow)
    jobs = bake_jobs.validate_jobs([{"segments": [{"prompt": "a", "seconds": 15}]}], timebase=slow)
    assert bake_jobs.check_lengths(jobs, HUMANML3D)[0].startswith("job 0: field 'segments': segment 1:")


def test_csv_segments_and_path(tmp_path):
    path = tmp_path / "jobs.csv"
    path.write_text('prompt,segments,path\n,"[{""prompt"": ""a person walks"", ""seconds"": 2}]",Curve\n'
                    'a person jumps,,"[[0, 0], [2, 0]]"\n')
    a, b = bake_jobs.load_jobs(path)
    assert a.segments == [{"prompt": "a person walks", "seconds": 2.0}] and a.path == "Curve"
    assert b.prompt == "a person jumps" and b.path == [[0.0, 0.0], [2.0, 0.0]] and not b.segments


PELVIS_CODE = """
import bpy, json
from bamm_core.rigs import presets
bpy.ops.wm.open_mainfile(filepath={path!r})
out = {{}}
for name in ("Hero", "Villain"):
    ob = bpy.data.objects[name]
    act = ob.animation_data.action
    _, m = presets.detect([b.name for b in ob.data.bones])
    bpy.context.scene.frame_set(int(act.frame_range[0]))
    head = ob.matrix_world @ ob.pose.bones[m["pelvis"]].head
    out[name] = {{"action": act.name, "range": list(act.frame_range), "pelvis": list(head)[:2]}}
out["scene"] = [bpy.context.scene.frame_start, bpy.context.scene.frame_end]
print("@@" + json.dumps(out))
"""


@pytest.mark.blender
@pytest.mark.skipif(not HAS_BPY, reason="bpy not installed")
def test_a_segments_job_and_a_path_job_bake(tmp_path, tiny_model_dir):
    import os

    blend = tmp_path / "scene.blend"
    r = subprocess.run([sys.executable, str(REPO / "examples" / "make_scene.py"), str(blend)], capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    jobs = tmp_path / "jobs.json"
    jobs.write_text(json.dumps([
        {"segments": [{"prompt": "a person walks forward", "seconds": 2}, {"prompt": "a person waves", "seconds": 1.5}],
         "armature": "Hero", "seed": 1, "action": "take", "start_frame": 5},
        {"prompt": "a person walks forward", "seconds": 2, "armature": "Villain", "path": [[2, 0], [2, 3]],
         "action": "path walk"},
        {"prompt": "a person walks forward", "armature": "Villain", "path": "NoSuchCurve"},
    ]))
    r = subprocess.run([sys.executable, str(REPO / "scripts" / "bake.py"), "--blend", str(blend), "--jobs", str(jobs),
                        "--model", str(tiny_model_dir), "-q"], capture_output=True, text=True, timeout=300)
    assert r.returncode != 0 and "2/3 jobs done" in r.stdout, r.stdout + r.stderr
    assert "no path object named 'NoSuchCurve'" in r.stdout + r.stderr
    code = PELVIS_CODE.format(path=str(blend))
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env=dict(os.environ, PYTHONPATH=str(REPO)))
    out = json.loads([ln for ln in res.stdout.splitlines() if ln.startswith("@@")][-1][2:])
    # 2 s + 1.5 s = 70 model frames at 20 fps -> 24 fps, from frame 5
    assert out["Hero"]["action"] == "take" and out["Hero"]["range"][0] == 5
    assert out["Hero"]["range"][1] - 5 == pytest.approx(3.5 * 24, abs=2)
    # the path's first point [2, 0] is world (2, 0): the pelvis starts there
    assert out["Villain"]["action"] == "path walk"
    assert abs(out["Villain"]["pelvis"][0] - 2) < 0.02 and abs(out["Villain"]["pelvis"][1]) < 0.02
    assert out["scene"][1] >= out["Hero"]["range"][1]
