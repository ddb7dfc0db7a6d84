"""Frame-rate conversion on synthetic signals with known answers."""
import numpy as np
import pytest

from bamm_core.motion import rotations as R
from bamm_core.motion.resampling import resample_positions, resample_quaternions, resampled_times


@pytest.mark.parametrize("src,dst", [(30, 20), (20, 30), (60, 20), (20, 24), (25, 20), (20, 60), (24, 20)])
def test_linear_and_cubic_are_exact_on_polynomials(src, dst):
    T = 91
    ts = np.arange(T) / src
    x = np.stack([2.0 * ts - 1.0, 0.5 * ts ** 2, np.ones_like(ts)], -1)[:, None, :]  # (T,1,3)
    out_t = np.arange(len(resampled_times(T, src, dst))) / dst
    assert out_t[-1] <= ts[-1] + 1e-9 and out_t[-1] + 1 / dst > ts[-1] - 1e-9
    lin = resample_positions(x, src, dst, "linear")
    cub = resample_positions(x, src, dst, "cubic")
    assert lin.shape == (len(out_t), 1, 3)
    np.testing.assert_allclose(lin[:, 0, 0], 2.0 * out_t - 1.0, atol=1e-12)   # lines: exact
    np.testing.assert_allclose(cub[:, 0, 0], 2.0 * out_t - 1.0, atol=1e-12)
    inner = (out_t > 1.0 / src) & (out_t < ts[-2])  # away from the ends
    np.testing.assert_allclose(cub[inner, 0, 1], 0.5 * out_t[inner] ** 2, atol=1e-12)  # quadratics: exact
    assert np.abs(lin[:, 0, 1] - 0.5 * out_t ** 2).max() < 0.5 * (1 / src) ** 2  # linear error bound


def test_30_to_20_keeps_every_other_sample_exactly_and_round_trip():
    x = np.random.default_rng(0).normal(size=(61, 22, 3)).astype(np.float32)
    y = resample_positions(x, 30, 20)
    assert y.dtype == np.float32 and y.shape == (41, 22, 3)
    np.testing.assert_array_equal(y[::2], x[::3])  # t = 0, 0.1, 0.2 s ... coincide
    np.testing.assert_allclose(y[1], 0.5 * (x[1] + x[2]), atol=1e-6)
    # up then down again returns the original samples
    z = resample_positions(resample_positions(x, 30, 60), 60, 30)
    np.testing.assert_allclose(z, x, atol=1e-6)


def test_quaternion_slerp_constant_angular_velocity():
    src, dst = 30, 20
    ang = np.radians(4.0) * np.arange(46)  # 4 deg per source frame about Y
    q = R.quat_from_axis_angle(np.tile([0.0, 1.0, 0.0], (46, 1)), ang)
    q[1::2] *= -1  # sign flips must not matter
    out = resample_quaternions(q[:, None], src, dst)[:, 0]
    t = np.arange(out.shape[0]) * src / dst
    expect = R.quat_from_axis_angle(np.tile([0.0, 1.0, 0.0], (len(t), 1)), np.radians(4.0) * t)
    dots = np.abs((out * expect).sum(-1))
    np.testing.assert_allclose(dots, 1.0, atol=1e-12)
    with pytest.raises(ValueError):
        resample_quaternions(np.zeros((4, 3)), 30, 20)
    with pytest.raises(ValueError):
        resample_positions(x=np.zeros((4, 3)), src_fps=0, dst_fps=20)


def test_equal_rates_return_a_float64_copy():
    x = np.random.default_rng(1).normal(size=(7, 22, 3)).astype(np.float32)
    y = resample_positions(x, 24, 24)
    assert y.dtype == np.float64 and y is not x
    np.testing.assert_array_equal(y, x)
    y[0] = 0
    assert x[0].any()  # a copy: the caller's array is untouched
