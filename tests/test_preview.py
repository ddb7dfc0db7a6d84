"""Stick-figure previews of the reference HumanML3D sample."""
import shutil

import numpy as np
import pytest
from PIL import Image

from bamm_core.formats.preview import save_contact_sheet, save_frame_png, save_preview


@pytest.fixture(scope="module")
def joints(shared_dir):
    return np.load(shared_dir / "reference" / "humanml3d" / "new_joints_012314.npy")


def test_gif_has_one_frame_per_motion_frame(joints, tmp_path):
    path = save_preview(joints[:12], tmp_path / "m.gif", fps=20, title="sample")
    with Image.open(path) as im:
        assert im.n_frames == 12
        assert im.info.get("duration") == 50  # ms per frame at 20 fps
        im.seek(5)
        arr = np.asarray(im.convert("RGB"))
    # the figure is drawn: red (left) and blue (right) limb pixels are present
    assert ((arr[..., 0] > 180) & (arr[..., 2] < 90)).sum() > 20
    assert ((arr[..., 2] > 150) & (arr[..., 0] < 80)).sum() > 20


def test_contact_sheet_and_single_frame(joints, tmp_path):
    p = save_contact_sheet(joints, tmp_path / "sheet.png", frames=6, cols=3)
    with Image.open(p) as im:
        w, h = im.size
    assert w > h > 300
    p1 = save_frame_png(joints, tmp_path / "f.png", frame=169)
    assert p1.stat().st_size > 1000
    with pytest.raises(ValueError, match="outside"):
        save_contact_sheet(joints, tmp_path / "bad.png", frames=[170])


def test_bad_inputs_write_nothing(joints, tmp_path):
    with pytest.raises(ValueError):
        save_preview(joints[:, :20], tmp_path / "a.gif")
    with pytest.raises(ValueError):
        save_preview(joints, tmp_path / "a.avi")
    bad = joints.copy()
    bad[3, 4, 1] = np.nan
    with pytest.raises(ValueError):
        save_preview(bad, tmp_path / "b.gif")
    if shutil.which("ffmpeg") is None:
        with pytest.raises(RuntimeError, match="ffmpeg"):
            save_preview(joints, tmp_path / "c.mp4")
    assert list(tmp_path.iterdir()) == []
