"""bamm_core.formats.motion_file and .paths: our motion files written and read back, the seed
kept where the format has room, atomic writes, clear errors for bad paths and files."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bamm_core.motion.clip import Motion
from bamm_core.formats.motion_file import (MotionFileError, add_gif_comment, add_png_text,
                                           check_output, read_motion, write_motion)
from bamm_core.formats.paths import atomic_path, check_output_path


@pytest.fixture(scope="module")
def walk(shared_dir) -> np.ndarray:
    """A real HumanML3D motion, 40 frames (2 s at 20 fps)."""
    return np.load(shared_dir / "reference/humanml3d/new_joints_012314.npy").astype(np.float32)[:40]


def test_npz_keeps_fps_and_reads_back_at_the_callers_rate(tmp_path, walk):
    rec = Motion(walk, None, None, "a person walks", 20.0, info={"seed": 11})
    write_motion(rec, tmp_path / "w.npz")
    with np.load(tmp_path / "w.npz") as z:
        assert int(z["fps"]) == 20 and int(z["seed"]) == 11 and int(z["num_frames"]) == 40
    assert np.array_equal(read_motion(tmp_path / "w.npz", fps=20), walk)
    at30 = read_motion(tmp_path / "w.npz", fps=30)  # resampled onto another model's timebase
    assert at30.shape == (59, 22, 3) and at30.dtype == np.float32
    np.testing.assert_allclose(at30[::3], walk[::2], atol=1e-5)  # the frames both rates share


def test_gif_and_png_keep_prompt_and_seed(tmp_path, walk):
    PIL = pytest.importorskip("PIL.Image")
    rec = Motion(walk[:6], None, None, "a person walks", 20.0, info={"seed": 123456})
    write_motion(rec, tmp_path / "w.gif")
    write_motion(rec, tmp_path / "w.png")
    with PIL.open(tmp_path / "w.gif") as im:
        assert im.n_frames == 6
        assert im.info["comment"].decode() == "prompt: a person walks; seed: 123456"
    with PIL.open(tmp_path / "w.png") as im:
        im.load()
        assert im.text["Comment"] == "prompt: a person walks; seed: 123456"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w.gif", "w.png"]


def test_metadata_inserts_keep_the_image(tmp_path):
    PIL = pytest.importorskip("PIL.Image")
    img = PIL.new("RGB", (5, 4), (10, 200, 30))
    img.save(tmp_path / "a.png")
    img.save(tmp_path / "a.gif")
    add_png_text(tmp_path / "a.png", "Comment", "seed: 7 \u2014 ok")
    add_gif_comment(tmp_path / "a.gif", "x" * 600)  # longer than one 255-byte sub-block
    with PIL.open(tmp_path / "a.png") as im:
        im.load()
        assert im.text["Comment"] == "seed: 7 \u2014 ok" and im.getpixel((2, 2)) == (10, 200, 30)
    with PIL.open(tmp_path / "a.gif") as im:
        assert im.info["comment"] == b"x" * 600 and im.convert("RGB").size == (5, 4)
    with pytest.raises(MotionFileError, match="not a GIF"):
        add_gif_comment(tmp_path / "a.png", "x")


def test_bvh_reader_is_the_callers(tmp_path, walk):
    (tmp_path / "x.bvh").write_text("not read by us")
    calls = []

    def reader(path):
        calls.append(path)
        return walk.astype(np.float64) * 1.0, 40.0  # a 40 fps source

    out = read_motion(tmp_path / "x.bvh", fps=20, bvh_reader=reader)
    assert calls == [tmp_path / "x.bvh"] and out.shape == (20, 22, 3)
    np.testing.assert_allclose(out, walk[::2], atol=1e-6)


@pytest.mark.parametrize("name, content, needle", [
    ("m.txt", b"1 2 3", "unknown input format '.txt'"),
    ("missing.npz", None, "not found"),
    ("bad.npz", b"not a zip file", "cannot read"),
    ("bad.bvh", b"HIERARCHY\nROOT", "cannot read"),
])
def test_unreadable_inputs_are_one_line_errors(tmp_path, name, content, needle):
    if content is not None:
        (tmp_path / name).write_bytes(content)
    with pytest.raises(MotionFileError, match=needle) as e:
        read_motion(tmp_path / name)
    assert "\n" not in str(e.value)


def test_wrong_arrays_are_refused(tmp_path):
    np.save(tmp_path / "w.npy", np.zeros((10, 21, 3), np.float32))
    with pytest.raises(MotionFileError, match=r"expected joints of shape \(T, 22, 3\)"):
        read_motion(tmp_path / "w.npy")
    bad = np.zeros((5, 22, 3), np.float32)
    bad[2, 3, 1] = np.nan
    np.save(tmp_path / "n.npy", bad)
    with pytest.raises(MotionFileError, match="NaN"):
        read_motion(tmp_path / "n.npy")
    np.savez(tmp_path / "e.npz", other=np.zeros(3))
    with pytest.raises(MotionFileError, match="no 'joints' or 'features'"):
        read_motion(tmp_path / "e.npz")


def test_output_paths_are_checked_before_any_work(tmp_path):
    assert check_output(tmp_path / "a.GIF") == tmp_path / "a.GIF"
    for path, needle in ((tmp_path / "a.fbx", "unknown output format '.fbx'"),
                         (tmp_path / "no" / "a.npy", "does not exist"),
                         (tmp_path, "unknown output format")):
        with pytest.raises(MotionFileError, match=needle):
            check_output(path)
    (tmp_path / "d.npy").mkdir()
    with pytest.raises(ValueError, match="is a folder"):
        check_output_path(tmp_path / "d.npy", [".npy"])


def test_atomic_path_replaces_only_on_success(tmp_path):
    target = tmp_path / "keep.npy"
    np.save(target, np.zeros(3))
    with pytest.raises(KeyboardInterrupt):
        with atomic_path(target) as tmp:
            Path(tmp).write_bytes(b"half")
            raise KeyboardInterrupt
    with pytest.raises(RuntimeError, match="nothing was written"):
        with atomic_path(target):
            pass
    assert np.array_equal(np.load(target), np.zeros(3))
    with atomic_path(target) as tmp:
        assert not Path(tmp).exists() and Path(tmp).parent == tmp_path and tmp.endswith(".npy")
        np.save(tmp, np.ones(2))
    assert np.array_equal(np.load(target), np.ones(2))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.npy"]
