"""Metric functions against hand-computed values (training/metrics.py)."""
from __future__ import annotations

import numpy as np
import pytest

from training import metrics as M


def test_distance_matrix_hand_values():
    a = np.array([[0.0, 0.0], [3.0, 4.0]])
    b = np.array([[0.0, 0.0], [0.0, 1.0], [6.0, 8.0]])
    d = M.euclidean_distance_matrix(a, b)
    np.testing.assert_allclose(d, [[0, 1, 10], [5, np.sqrt(18), 5]], atol=1e-12)


def test_r_precision_and_mm_dist_hand_values():
    # 1-D embeddings, batch of 4.  Texts at 0,10,20,30.  Motions: three sit on their text,
    # motion 3 sits at 21 (nearer to text 2 than motion 2? no: motion 2 is at 20).
    text = np.array([[0.0], [10.0], [20.0], [30.0]])
    motion = np.array([[0.0], [10.0], [20.0], [21.0]])
    # text 3 (30): distances 30,20,10,9 -> own motion (21) is nearest -> rank 0
    r, mm = M.r_precision_and_mm_dist(text, motion, batch_size=4)
    np.testing.assert_allclose(r, [1, 1, 1])
    assert mm == pytest.approx(9 / 4)
    # make text 3's own motion the 3rd nearest: motion 3 at 11 -> dists to 30: 30,20,10,19
    motion2 = np.array([[0.0], [10.0], [20.0], [11.0]])
    r2, mm2 = M.r_precision_and_mm_dist(text, motion2, batch_size=4)
    # text 1 (10): dists 10,0,10,1 -> rank 0; text 2 (20): 20,10,0,9 -> rank 0; text 3: rank 1
    np.testing.assert_allclose(r2, [3 / 4, 1, 1])
    assert mm2 == pytest.approx(19 / 4)
    # the incomplete last batch is dropped
    r3, _ = M.r_precision_and_mm_dist(np.vstack([text, [[99.0]]]), np.vstack([motion2, [[0.0]]]), batch_size=4)
    np.testing.assert_allclose(r3, r2)


def test_fid_closed_forms():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(500, 3))
    assert M.fid(x, x) == pytest.approx(0.0, abs=1e-6)
    # pure mean shift: FID = ||shift||^2 (same covariance)
    assert M.fid(x, x + np.array([1.0, 2.0, 2.0])) == pytest.approx(9.0, rel=1e-6)
    # diagonal Gaussians: (mu diff)^2 + sum (s1 - s2)^2 on the std
    mu1, s1 = np.zeros(2), np.diag([1.0, 4.0])
    mu2, s2 = np.array([1.0, 0.0]), np.diag([4.0, 1.0])
    # tr(S1+S2-2 sqrt(S1 S2)) = 5+5-2*(2+2) = 2 ; + |mu|^2 = 1
    assert M.frechet_distance(mu1, s1, mu2, s2) == pytest.approx(3.0, rel=1e-9)


def test_fid_singular_covariance_falls_back():
    # rank-deficient covariances (all points on a line) still give a finite value
    t = np.linspace(0, 1, 50)[:, None]
    a = np.hstack([t, 2 * t])
    b = np.hstack([t, 2 * t]) + 1.0
    assert M.fid(a, b) == pytest.approx(2.0, abs=1e-3)


def test_diversity_and_multimodality_hand_values():
    # all pairwise distances between the two points are 0 or 5
    emb = np.array([[0.0, 0.0], [3.0, 4.0]])
    rng = np.random.default_rng(1)
    d = M.diversity(emb, times=2, rng=rng)
    assert d in (0.0, 2.5, 5.0)
    # equidistant: a regular simplex (every distinct pair at distance sqrt(2)); pairs may coincide
    e = np.eye(4)
    v = M.diversity(e, times=4, rng=np.random.default_rng(3))
    assert 0.0 <= v <= np.sqrt(2) + 1e-12
    # multimodality: repeats of a prompt are either identical (0) or two constant clusters
    mm = np.zeros((2, 4, 2))
    assert M.multimodality(mm, times=3) == 0.0
    mm[1] = [[0, 0], [0, 0], [0, 0], [0, 0]]
    mm[0] = [[1, 0], [1, 0], [1, 0], [1, 0]]
    assert M.multimodality(mm, times=3) == 0.0  # distances within a prompt only
    with pytest.raises(ValueError):
        M.multimodality(np.zeros((2, 2, 3)), times=3)
    with pytest.raises(ValueError):
        M.diversity(np.zeros((3, 2)), times=4)


def test_mean_ci():
    m, ci = M.mean_ci([1.0, 2.0, 3.0, 4.0])
    assert m == 2.5
    assert ci == pytest.approx(1.96 * np.sqrt(1.25) / 2)


def _standing(T=20):
    j = np.zeros((T, 22, 3))
    j[:, :, 1] = np.linspace(0.0, 1.7, 22)  # joint 0 on the floor, others above
    j[:, 10, 1] = 0.02
    j[:, 11, 1] = 0.02
    return j


def test_physical_metrics_static_pose_is_clean():
    j = _standing()
    assert M.foot_skating_ratio(j) == 0.0
    assert M.jitter(j) == pytest.approx(0.0, abs=1e-9)
    assert M.ground_penetration(j) == 0.0
    assert M.ground_float(j) == 0.0


def test_foot_skating_hand_values():
    j = _standing(5)
    # left toe slides 3 cm in x between frames 1->2 and 2->3 (on the ground): 2 of 4 pairs skate
    j[2:, 10, 0] = 0.03
    j[3:, 10, 0] = 0.06
    assert M.foot_skating_ratio(j) == pytest.approx(2 / 4)
    # the same slide in the air (10 cm up) is not skating
    j[:, 10, 1] = 0.10
    assert M.foot_skating_ratio(j) == 0.0
    # a 2 cm slide is under the 2.5 cm threshold
    k = _standing(3)
    k[1:, 11, 2] = 0.02
    assert M.foot_skating_ratio(k) == 0.0


def test_jitter_hand_value():
    # x = t^3 (in frames) for every joint: third difference is 6 per frame^3 -> 6*fps^3
    T = 10
    t = np.arange(T, dtype=np.float64)
    j = np.zeros((T, 22, 3))
    j[:, :, 0] = (t ** 3)[:, None] * 1e-3
    assert M.jitter(j, fps=20) == pytest.approx(6e-3 * 20 ** 3)
    # constant velocity has zero jerk
    j[:, :, 0] = t[:, None]
    assert M.jitter(j) == pytest.approx(0.0, abs=1e-9)


def test_ground_penetration_and_float_hand_values():
    j = _standing(4)
    j[0, :, 1] -= 0.1   # frame 0 lowest joint at -0.1
    j[1, :, 1] += 0.25  # frame 1 lowest joint at 0.25 -> floats 0.20 above the band
    assert M.ground_penetration(j) == pytest.approx(0.1 / 4)
    assert M.ground_float(j) == pytest.approx(0.20 / 4)
    pm = M.physical_metrics([j, _standing(4)])
    assert pm["penetration"] == pytest.approx(0.1 / 8)
    with pytest.raises(ValueError):
        M.jitter(np.zeros((5, 22)))


def test_physical_metrics_on_real_humanml3d_joints(shared_dir):
    j = np.load(shared_dir / "reference/humanml3d/new_joints_012314.npy")
    pm = M.physical_metrics([j])
    # real mocap: little skating, no deep penetration, bounded jerk
    assert 0.0 <= pm["skating"] < 0.3
    assert pm["penetration"] < 0.02
    assert 0.0 < pm["jitter"] < 200.0
