"""scripts/bake.py: jobs-file parsing/validation (no Blender) and real batches in headless
Blender (bpy 5.0.1) through the add-on's operators."""
from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("bake", REPO / "scripts" / "bake.py")
bake = importlib.util.module_from_spec(_spec)
sys.modules["bake"] = bake  # dataclasses look their module up
_spec.loader.exec_module(bake)


def write_json(path: Path, jobs) -> Path:
    path.write_text(json.dumps(jobs))
    return path


# --------------------------------------------------------------------------- jobs file


def test_example_jobs_files_parse_the_same():
    a = bake.load_jobs(REPO / "examples" / "jobs.json")
    b = bake.load_jobs(REPO / "examples" / "jobs.csv")
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
    ]
    with pytest.raises(bake.JobsFileError) as e:
        bake.load_jobs(write_json(tmp_path / "jobs.json", jobs))
    errs = e.value.errors
    expect = [
        ("job 1:", "'prompt'"), ("job 2:", "'seconds'"), ("job 3:", "'seed'"), ("job 3:", "'start_frame'"),
        ("job 4:", "'inpaint'"), ("job 5:", "'seconds'"), ("job 6:", "'export'"), ("job 7:", "does not exist"),
        ("job 8:", "'armture'"), ("job 9:", "expected an object"),
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
    jobs = bake.load_jobs(tmp_path / "jobs.csv")
    assert [j.seconds for j in jobs] == [None, None, None]
    assert jobs[0].seed == 3 and jobs[0].export == (tmp_path / "a.bvh").resolve()
    assert jobs[1].inpaint == [(1, 9)] and jobs[2].inpaint == [(5, 10), (20, 30)]
    (tmp_path / "bad.csv").write_text("prompt,seed\nwalk,seven\n")
    with pytest.raises(bake.JobsFileError, match=r"job 0: field 'seed'"):
        bake.load_jobs(tmp_path / "bad.csv")


@pytest.mark.parametrize("content, needle", [("{not json", "not valid JSON"), ("{}", "expected a JSON list"),
                                             ("[]", "no jobs")])
def test_unreadable_jobs_files(tmp_path, content, needle):
    (tmp_path / "j.json").write_text(content)
    with pytest.raises(bake.JobsFileError, match=needle):
        bake.load_jobs(tmp_path / "j.json")


def test_bad_jobs_file_exits_2_and_runs_nothing(tmp_path, capsys):
    jobs = write_json(tmp_path / "jobs.json", [{"prompt": "walk"}, {"prompt": "run", "seconds": -3}])
    assert bake.main(["--jobs", str(jobs), "--blend", str(tmp_path / "none.blend")]) == 2
    err = capsys.readouterr().err
    assert "job 1: field 'seconds'" in err and "nothing was run" in err and "Traceback" not in err


def test_atomic_path_removes_the_temporary_file(tmp_path):
    target = tmp_path / "scene.blend"
    target.write_bytes(b"original")
    with pytest.raises(RuntimeError):
        with bake.atomic_path(target) as tmp:
            Path(tmp).write_bytes(b"half written")
            raise RuntimeError("interrupted")
    assert target.read_bytes() == b"original" and [p.name for p in tmp_path.iterdir()] == ["scene.blend"]
    with bake.atomic_path(target) as tmp:
        Path(tmp).write_bytes(b"new")
    assert target.read_bytes() == b"new" and [p.name for p in tmp_path.iterdir()] == ["scene.blend"]
