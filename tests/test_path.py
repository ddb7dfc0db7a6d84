"""Walk along a path (bamm_core.motion.path): geometry on synthetic motions, then a walk of
the bundled model along a quarter circle (ends at the path's end, faces along the tangent,
skates no more than the straight walk)."""
from __future__ import annotations

import numpy as np
import pytest

from bamm_core.motion.contacts import skating_share
from bamm_core.motion.facing import facing_yaw, wrap_angle
from bamm_core.motion.path import (DEFAULT_PACE, arc_lengths, check_path, follow_path,
                                   heading_at, point_at, travel)
from bamm_core.motion.skeleton import HUMANML3D

FPS = 20.0


def rest_pose() -> np.ndarray:
    """(22, 3) HumanML3D target skeleton standing on the floor, facing +Z."""
    offsets = HUMANML3D.target_offsets()
    pose = np.zeros((22, 3))
    for i, parent in enumerate(HUMANML3D.parents):
        if parent >= 0:
            pose[i] = pose[parent] + offsets[i]
    pose[:, 1] -= pose[:, 1].min()
    return pose


def glide(frames: int, speed: float, sway: float = 0.0) -> np.ndarray:
    """A rigid pose moving along +Z at ``speed`` m/s with a side-to-side sway (1 Hz)."""
    t = np.arange(frames) / FPS
    j = np.repeat(rest_pose()[None], frames, 0)
    j[..., 2] += speed * t[:, None]
    j[..., 0] += sway * np.sin(2 * np.pi * t)[:, None]
    return j.astype(np.float32)


# --------------------------------------------------------------------------- the path
@pytest.mark.parametrize("points, match", [
    ([[0, 0]], "at least 2 points"),
    ([[1, 1], [1, 1], [1, 1]], "zero length"),
    ([[0, 0], [np.nan, 1]], "NaN"),
    ([[0, 0, 0], [1, 0, 0]], r"\[x, z\]"),
    ("abc", r"\[x, z\]"),
])
def test_bad_paths_are_refused(points, match):
    with pytest.raises(ValueError, match=match):
        check_path(points)
    with pytest.raises(ValueError, match=match):
        follow_path(glide(20, 1.0), points, FPS)


def test_arc_length_points_and_corner_headings():
    pts = check_path([[0, 0], [0, 2], [0, 2], [3, 2]])  # repeated point dropped
    assert pts.shape == (3, 2)
    np.testing.assert_allclose(arc_lengths(pts), [0, 2, 5])
    np.testing.assert_allclose(point_at(pts, np.array([0, 1, 2, 3.5, 6])),
                               [[0, 0], [0, 1], [0, 2], [1.5, 2], [4, 2]])  # straight on past the end
    h = heading_at(pts, np.array([0, 1, 1.8, 2, 2.2, 5]))  # turns within 0.4 m of a corner
    np.testing.assert_allclose(h[[0, 1, 5]], [0, 0, np.pi / 2], atol=1e-12)  # +Z, then +X
    assert 0 < h[2] < h[3] < h[4] < np.pi / 2  # the corner is turned gradually
    np.testing.assert_allclose(h[3], np.pi / 4)


# --------------------------------------------------------------------------- synthetic motions
def test_straight_path_keeps_speed_and_turns_the_body():
    j = glide(60, 1.0, sway=0.05)
    before = j.copy()
    out = follow_path(j, [[2, 1], [12, 1]], FPS)  # along +X
    np.testing.assert_array_equal(j, before)  # input untouched
    assert out.dtype == np.float32 and out.shape == j.shape
    np.testing.assert_allclose(out[0, 0, [0, 2]], [2, 1], atol=1e-5)
    np.testing.assert_allclose(facing_yaw(out), np.pi / 2, atol=0.035)  # faces along +X (2 deg)
    _, own, _ = travel(j, FPS)
    np.testing.assert_allclose(out[-1, 0, 0] - out[0, 0, 0], own[-1], atol=0.02)  # own speed
    sway = out[:, 0, 2] - 1  # sideways now: the sway is kept, about the path
    assert 0.03 < np.abs(sway).max() < 0.07
    np.testing.assert_allclose(out[..., 1], j[..., 1])  # heights unchanged


def test_fit_end_ends_at_the_paths_end_and_corners_are_followed():
    pts = [[0, 0], [0, 2], [3, 2]]
    out = follow_path(glide(80, 1.0), pts, FPS, fit_end=True)
    np.testing.assert_allclose(out[-1, 0, [0, 2]], [3, 2], atol=1e-3)
    np.testing.assert_allclose(facing_yaw(out[-1]), np.pi / 2, atol=0.02)
    # every root stays on the polyline (no sway): distance to the L
    r = out[:, 0, [0, 2]]
    to_leg1 = np.abs(r[:, 0]) + np.maximum(r[:, 1] - 2, 0)
    to_leg2 = np.abs(r[:, 1] - 2) + np.maximum(-r[:, 0], 0)
    assert np.minimum(to_leg1, to_leg2).max() < 0.01


def test_a_motion_that_barely_travels_moves_at_the_default_pace():
    still = glide(41, 0.0)
    out = follow_path(still, [[0, 0], [10, 0]], FPS)
    np.testing.assert_allclose(out[-1, 0, 0], DEFAULT_PACE * 40 / FPS, atol=1e-4)
    np.testing.assert_allclose(facing_yaw(out), np.pi / 2, atol=1e-6)
    fit = follow_path(still, [[0, 0], [1, 0]], FPS, fit_end=True)
    np.testing.assert_allclose(fit[-1, 0, [0, 2]], [1, 0], atol=1e-6)


def test_bad_motion_and_contacts_are_refused():
    with pytest.raises(ValueError, match="joints"):
        follow_path(np.zeros((10, 21, 3)), [[0, 0], [1, 0]], FPS)
    with pytest.raises(ValueError, match="contacts"):
        follow_path(glide(10, 1.0), [[0, 0], [1, 0]], FPS, contacts=np.zeros((9, 2), bool))


# --------------------------------------------------------------------------- a real walk
@pytest.fixture(scope="module")
def walk(bundled_engine, one_torch_thread):
    return bundled_engine.generate("a person walks forward", 100, seed=0).joints


def quarter_circle(radius: float, n: int = 40) -> np.ndarray:
    """From the origin heading +Z, turning right towards +X."""
    a = np.linspace(0, np.pi / 2, n)
    return np.stack([radius * (1 - np.cos(a)), radius * np.sin(a)], -1)


def nearest_tangent(points: np.ndarray, roots: np.ndarray) -> np.ndarray:
    s = np.linspace(0, arc_lengths(points)[-1], 2000)
    near = np.linalg.norm(roots[:, None] - point_at(points, s)[None], axis=-1).argmin(1)
    return heading_at(points, s[near])


@pytest.mark.parametrize("fit_end", [False, True])
def test_walk_along_a_quarter_circle(walk, fit_end):
    _, own, _ = travel(walk, FPS)
    assert own[-1] > 3.0, "the bundled model's walk should travel"
    radius = own[-1] / (np.pi / 2) * (1.0 if not fit_end else 1.2)  # fit_end: 20 % faster
    pts = quarter_circle(radius)
    out = follow_path(walk, pts, FPS, fit_end=fit_end)
    length = arc_lengths(pts)[-1]
    straight = follow_path(walk, [[0, 0], [0, length]], FPS, fit_end=True) if fit_end else walk
    np.testing.assert_allclose(out[0, 0, [0, 2]], [0, 0], atol=1e-5)
    assert np.linalg.norm(out[-1, 0, [0, 2]] - pts[-1]) < 0.1 * length
    off = np.abs(wrap_angle(facing_yaw(out) - nearest_tangent(pts, out[:, 0, [0, 2]])))
    own_off = np.abs(wrap_angle(facing_yaw(walk) - travel(walk, FPS)[2]))
    assert np.degrees(off.mean()) < np.degrees(own_off.mean()) + 5  # as straight as its own walk
    assert np.degrees(off.mean()) < 15
    assert skating_share(out, FPS) <= skating_share(straight, FPS)  # the same walk, straight


def test_top_view_picture_of_a_path_walk(tmp_path):
    from PIL import Image

    from bamm_core.formats.preview import save_top_view

    pts = [[0, 0], [0, 2], [3, 2]]
    out = save_top_view(follow_path(glide(60, 1.0), pts, FPS, fit_end=True), tmp_path / "top.png",
                        points=pts, frames=4, title="top")
    with Image.open(out) as im:
        assert im.size == (500, 500)
        px = np.asarray(im.convert("RGB"), dtype=int)
    grey = (np.abs(px - [0x99, 0x99, 0x99]).sum(-1) < 30).sum()  # the dashed path
    assert grey > 100
    with pytest.raises(ValueError, match="png"):
        save_top_view(glide(5, 1.0), tmp_path / "top.gif")
