"""Rotation utilities: numpy and torch agree, and conversions invert each other."""
import numpy as np
import pytest
import torch

from bamm_core.motion import rotations as R

rng = np.random.default_rng(0)


def rand_quat(n):
    return R.qnormalize(rng.normal(size=(n, 4)))


def test_qrot_matches_matrix_and_qmul_composes():
    q1, q2 = rand_quat(50), rand_quat(50)
    v = rng.normal(size=(50, 3))
    m = R.quat_to_matrix(q1)
    np.testing.assert_allclose(R.qrot(q1, v), np.einsum("nij,nj->ni", m, v), atol=1e-12)
    np.testing.assert_allclose(R.qrot(R.qmul(q1, q2), v), R.qrot(q1, R.qrot(q2, v)), atol=1e-12)
    np.testing.assert_allclose(R.qrot(R.qinv(q1), R.qrot(q1, v)), v, atol=1e-12)


def test_numpy_and_torch_agree():
    q1, q2 = rand_quat(20), rand_quat(20)
    v = rng.normal(size=(20, 3))
    tq1, tq2, tv = (torch.from_numpy(a) for a in (q1, q2, v))
    for fn, args, targs in [
        (R.qmul, (q1, q2), (tq1, tq2)), (R.qrot, (q1, v), (tq1, tv)),
        (R.quat_to_matrix, (q1,), (tq1,)), (R.quat_to_cont6d, (q1,), (tq1,)),
        (R.qbetween, (v, v[::-1].copy()), (tv, tv.flip(0))), (R.slerp, (q1, q2, 0.3), (tq1, tq2, 0.3)),
        (R.quat_to_euler, (q1, "ZXY"), (tq1, "ZXY")),
    ]:
        out, tout = fn(*args), fn(*targs)
        assert isinstance(tout, torch.Tensor)
        np.testing.assert_allclose(out, tout.numpy(), atol=1e-9, err_msg=fn.__name__)


def test_matrix_quat_and_6d_round_trip():
    q = rand_quat(200)
    q = np.where(q[:, :1] < 0, -q, q)
    np.testing.assert_allclose(R.matrix_to_quat(R.quat_to_matrix(q)), q, atol=1e-10)
    np.testing.assert_allclose(R.cont6d_to_quat(R.quat_to_cont6d(q)), q, atol=1e-10)
    # 6-D is the first two matrix columns
    m = R.quat_to_matrix(q)
    np.testing.assert_allclose(R.quat_to_cont6d(q)[:, :3], m[:, :, 0])
    np.testing.assert_allclose(R.quat_to_cont6d(q)[:, 3:], m[:, :, 1])


def test_qbetween_rotates_v0_onto_v1_including_antiparallel():
    v0 = rng.normal(size=(100, 3))
    v1 = rng.normal(size=(100, 3))
    v1[0] = -v0[0] * 2.0  # antiparallel
    q = R.qbetween(v0, v1)
    out = R.qrot(q, v0 / np.linalg.norm(v0, axis=-1, keepdims=True))
    np.testing.assert_allclose(out, v1 / np.linalg.norm(v1, axis=-1, keepdims=True), atol=1e-9)


@pytest.mark.parametrize("order", ["XYZ", "XZY", "YXZ", "YZX", "ZXY", "ZYX"])
def test_euler_orders_round_trip_and_compose(order):
    ang = rng.uniform(-170, 170, size=(100, 3))
    ang[:, 1] = rng.uniform(-85, 85, size=100)
    m = R.euler_to_matrix(ang, order)
    # R = R_a0 R_a1 R_a2 with elementary rotations about the named axes
    def elem(axis, deg):
        v = np.zeros(3); v[" XYZ".index(axis) - 1] = 1
        return R.quat_to_matrix(R.quat_from_axis_angle(v, np.radians(deg)))
    m2 = elem(order[0], ang[5, 0]) @ elem(order[1], ang[5, 1]) @ elem(order[2], ang[5, 2])
    np.testing.assert_allclose(m[5], m2, atol=1e-12)
    np.testing.assert_allclose(R.matrix_to_euler(m, order), ang, atol=1e-8)
    # gimbal lock still reproduces the matrix
    lock = np.array([[30.0, 90.0, 0.0], [-40.0, -90.0, 0.0]])
    np.testing.assert_allclose(R.euler_to_matrix(R.matrix_to_euler(R.euler_to_matrix(lock, order), order), order),
                               R.euler_to_matrix(lock, order), atol=1e-7)


def test_slerp_endpoints_midpoint_and_shortest_path():
    q0 = R.quat_from_axis_angle(np.array([0.0, 1.0, 0.0]), np.array(0.0))
    q1 = R.quat_from_axis_angle(np.array([0.0, 1.0, 0.0]), np.array(np.pi / 2))
    mid = R.slerp(q0, q1, 0.5)
    np.testing.assert_allclose(mid, R.quat_from_axis_angle(np.array([0.0, 1.0, 0.0]), np.array(np.pi / 4)), atol=1e-12)
    np.testing.assert_allclose(R.slerp(q0, -q1, 1.0) * np.sign(R.slerp(q0, -q1, 1.0)[0]), q1, atol=1e-12)
    np.testing.assert_allclose(R.slerp(q0, q1, 0.0), q0, atol=1e-12)


def test_smooth_angle_solves_the_tridiagonal_system():
    """The twist smoother (rotation_solver) against a dense solve of the same system."""
    from bamm_core.motion.rotation_solver import smooth_angle

    rng = np.random.default_rng(0)
    phi = rng.uniform(-np.pi, np.pi, 40)
    w = rng.uniform(0, 2, 40)
    smooth, prior = 4.0, 1e-3
    a = np.diag(w + prior + 2 * smooth).astype(complex)
    a[0, 0] -= smooth
    a[-1, -1] -= smooth
    a[np.arange(39), np.arange(1, 40)] = a[np.arange(1, 40), np.arange(39)] = -smooth
    z = np.linalg.solve(a, w * np.exp(1j * phi) + prior)
    np.testing.assert_allclose(smooth_angle(phi, w, smooth, prior), np.angle(z), atol=1e-10)
    assert smooth_angle(np.array([0.5]), np.array([1.0]))[0] == pytest.approx(0.5, abs=1e-3)
