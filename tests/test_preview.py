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


def test_contact_sheet_labels_sit_above_their_own_figures_in_reading_order(joints):
    import matplotlib.pyplot as plt

    from bamm_core.formats.preview import contact_sheet_figure

    frames = [0, 30, 60, 90, 120, 150, 169]
    fig = contact_sheet_figure(joints, frames, cols=3, title="sheet")
    try:
        fig.canvas.draw()
        renderer = fig.canvas.get_renderer()
        labels = [t for t in fig.texts if t.get_text().startswith("frame ")]
        assert [t.get_text().split()[1] for t in labels] == [str(f) for f in frames]
        boxes = [t.get_window_extent(renderer) for t in labels]
        # reading order: top to bottom, then left to right
        order = sorted(range(len(boxes)), key=lambda k: (-round(boxes[k].y0), boxes[k].x0))
        assert order == list(range(len(frames)))
        for box, ax in zip(boxes, fig.axes):
            cell = ax.get_window_extent(renderer)
            drawn = max(ln.get_window_extent(renderer).y1 for ln in ax.lines
                        if np.isfinite(np.asarray(ln.get_ydata(), float)).any())
            assert cell.x0 < box.x0 < box.x1 < cell.x1             # over its own column
            assert drawn <= box.y0 and box.y0 < cell.y1             # above its figure, in its cell
            others = [a.get_window_extent(renderer) for a in fig.axes if a is not ax]
            assert not any(o.x0 < box.x0 < o.x1 and o.y0 < box.y0 < o.y1 for o in others)
    finally:
        plt.close(fig)
