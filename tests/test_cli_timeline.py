"""`bamm generate` with several prompts, --timeline and --path: one continuous motion whose
.npz records its segments; bad timelines and paths are one line, exit 1, nothing written."""
from __future__ import annotations

import json

import numpy as np
import pytest

from bamm_cli.main import main

pytestmark = pytest.mark.usefixtures("one_torch_thread")

PROMPTS = ["a person walks forward", "a person waves both hands", "a person bows"]


def run(argv, capsys):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def write_json(path, data) -> str:
    path.write_text(json.dumps(data) if not isinstance(data, str) else data)
    return str(path)


def test_several_prompts_make_one_motion_with_its_segments(tmp_path, tiny_model_dir, capsys):
    out = tmp_path / "take.npz"
    code, _, err = run(["generate", *PROMPTS, "--length", "4,3,auto", "--seed", "5",
                        "--model", tiny_model_dir, "-q", "--out", out, "--out", tmp_path / "take.npy"],
                       capsys)
    assert code == 0, err
    with np.load(out) as z:
        seg, prompts, joints = z["segments"], list(z["prompts"]), z["joints"]
        assert seg.dtype.kind == "i" and seg.shape == (3, 2)
        assert int(z["seed"]) == 5 and "then" in str(z["prompt"])
    assert seg[:2].tolist() == [[0, 80], [80, 140]] and seg[2, 0] == 140
    assert seg[2, 1] == joints.shape[0] and seg[2, 1] - seg[2, 0] >= 8
    assert prompts == PROMPTS
    np.testing.assert_array_equal(np.load(tmp_path / "take.npy"), joints)


def test_one_length_for_all_and_a_timeline_file(tmp_path, tiny_model_dir, capsys):
    code, _, err = run(["generate", "a person walks", "a person runs", "--length", "2", "--seed", "1",
                        "--model", tiny_model_dir, "-q", "--out", tmp_path / "a.npz"], capsys)
    assert code == 0, err
    assert np.load(tmp_path / "a.npz")["segments"].tolist() == [[0, 40], [40, 80]]
    timeline = write_json(tmp_path / "t.json", [{"prompt": "a person walks", "seconds": 2.5},
                                                {"prompt": "a person jumps", "seconds": "auto"},
                                                {"prompt": "a person sits down"}])
    code, _, err = run(["generate", "--timeline", timeline, "--seed", "1", "--model", tiny_model_dir,
                        "-q", "--out", tmp_path / "t.npz"], capsys)
    assert code == 0, err
    with np.load(tmp_path / "t.npz") as z:
        assert z["segments"][0].tolist() == [0, 50] and len(z["segments"]) == 3
        assert list(z["prompts"]) == ["a person walks", "a person jumps", "a person sits down"]


@pytest.mark.parametrize("prompts", [PROMPTS[:1], PROMPTS[:2]])
def test_a_path_puts_the_motion_on_it(tmp_path, tiny_model_dir, capsys, prompts):
    path = write_json(tmp_path / "p.json", [[1.0, 2.0], [1.0, 4.0], [4.0, 4.0]])
    argv = ["generate", *prompts, "--length", "3", "--seed", "2", "--model", tiny_model_dir, "-q",
            "--path", path, "--fit-path", "--out", tmp_path / "p.npz"]
    code, _, err = run(argv, capsys)
    assert code == 0, err
    joints = np.load(tmp_path / "p.npz")["joints"]
    np.testing.assert_allclose(joints[0, 0, [0, 2]], [1, 2], atol=1e-4)
    assert np.linalg.norm(joints[-1, 0, [0, 2]] - [4, 4]) < 0.25  # fitted to the end (5 m)


@pytest.mark.parametrize("args, match", [
    ([*PROMPTS[:2], "  "], "prompt 3: the prompt is empty"),
    ([*PROMPTS, "--length", "4,0.2,3"], "--length of prompt 2 must be between 0.4 and 9.4 seconds"),
    ([*PROMPTS, "--length", "4,3"], "--length has 2 values for 3 prompts"),
    ([*PROMPTS, "--length", "4,x,3"], "--length of prompt 2 must be 'auto' or a number"),
    (["--timeline", "{T}"], "segment 2: the prompt is empty"),
    (["--timeline", "{BAD}"], "not valid JSON"),
    (["--timeline", "{EMPTY}"], "expected a list"),
    (["--timeline", "{SHORT}"], "segment 1: seconds must be between 0.4 and 9.4"),
    (["--timeline", "{T}", PROMPTS[0]], "not both"),
    (["--timeline", "{MISSING}"], "not found"),
    ([], "give a prompt"),
    ([PROMPTS[0], "--path", "{P1}"], "at least 2 points"),
    ([*PROMPTS, "--path", "{P0}"], "zero length"),
    ([*PROMPTS, "--path", "{BAD}"], "not valid JSON"),
    ([*PROMPTS, "--fit-path"], "--fit-path needs --path"),
    ([*PROMPTS, "--num-samples", "2"], "a timeline makes one motion"),
])
def test_bad_timelines_and_paths_are_one_line_and_write_nothing(tmp_path, tiny_model_dir, capsys,
                                                                args, match):
    files = {"T": write_json(tmp_path / "t.json", [{"prompt": "a person walks"}, {"prompt": ""}]),
             "BAD": write_json(tmp_path / "bad.json", '[{"prompt": "a person walks",}]'),
             "EMPTY": write_json(tmp_path / "empty.json", []),
             "SHORT": write_json(tmp_path / "short.json", [{"prompt": "a person walks", "seconds": 0.1}]),
             "MISSING": str(tmp_path / "missing.json"),
             "P1": write_json(tmp_path / "p1.json", [[0, 0]]),
             "P0": write_json(tmp_path / "p0.json", [[1, 1], [1, 1]])}
    args = [a.format(**files) if a.startswith("{") else a for a in args]
    out = tmp_path / "out.npz"
    code, _, err = run(["generate", *args, "--model", tiny_model_dir, "--out", out], capsys)
    assert code == 1
    assert len(err.strip().splitlines()) == 1 and match in err, err
    assert not out.exists()
