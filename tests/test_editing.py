"""Inpainting / outpainting: kept tokens and frames are exact, joins are seamless."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from bamm_core import Engine
from bamm_core.generation.editing import choose_window, edit_tokens, splice_joints
from bamm_core.generation.options import SamplingOptions
from bamm_core.motion.facing import facing_yaw
from bamm_core.motion.timebase import HUMANML3D


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def eng(tiny_model_dir):
    return Engine.from_pretrained(tiny_model_dir)


@pytest.fixture(scope="module")
def real_joints(shared_dir):
    return np.load(shared_dir / "reference" / "humanml3d" / "new_joints_012314.npy").astype(np.float32)


def _yaw_rotate(j, angle, shift):
    c, s = np.cos(angle), np.sin(angle)
    r = np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]], dtype=np.float32)
    return (j @ r.T + np.asarray(shift, np.float32)).astype(np.float32)


def test_frames_to_tokens_and_windows():
    tb = HUMANML3D
    assert tb.token_range(40, 80) == (10, 20)
    assert tb.token_range(41, 79) == (10, 20)
    assert tb.token_range(0, 1) == (0, 1)
    assert choose_window(30, 5, 9, tb) == (0, 30)
    w0, w1 = choose_window(100, 60, 70, tb)
    assert w1 - w0 == 49 and w0 <= 60 and w1 >= 70
    with pytest.raises(ValueError, match="smaller pieces"):
        choose_window(100, 10, 70, tb)


def test_edit_tokens_keeps_every_token_outside_the_region(eng):
    m = eng.generate("a person walks", length=120, seed=0)
    tokens = torch.as_tensor(m.tokens)
    for lo, hi in ((10, 20), (0, 5), (25, 30), (3, 4)):
        keep = torch.ones(30, dtype=torch.bool)
        keep[lo:hi] = False
        cond = torch.as_tensor(eng.encode_text("a person jumps"))
        out = edit_tokens(eng.transformer, eng.residual, tokens, keep, cond, SamplingOptions(),
                          torch.Generator().manual_seed(lo), max_tokens=eng.timebase.max_tokens)
        assert torch.equal(out[keep], tokens[keep])
        assert not torch.equal(out[~keep], tokens[~keep])
        assert (out[~keep, 0] >= 0).all() and (out[~keep, 0] < eng.vq.nb_code).all()


@pytest.mark.parametrize("start, end", [(40, 80), (41, 79), (0, 30), (150, 196), (97, 98)])
def test_inpaint_keeps_frames_and_tokens_outside(eng, start, end):
    m = eng.generate("a person walks forward", length=196, seed=1)
    out = eng.inpaint(m, start=start, end=end, text="a person jumps", seed=0)
    assert out.joints.shape == m.joints.shape and out.joints.dtype == np.float32
    assert np.array_equal(out.joints[:start], m.joints[:start])
    assert np.array_equal(out.joints[end:], m.joints[end:])
    assert np.array_equal(out.features[:start], m.features[:start])
    ts, te = eng.timebase.token_range(start, end)
    assert np.array_equal(out.tokens[:ts], m.tokens[:ts])
    assert np.array_equal(out.tokens[te:], m.tokens[te:])
    assert not np.array_equal(out.tokens[ts:te], m.tokens[ts:te])
    again = eng.inpaint(m, start=start, end=end, text="a person jumps", seed=0)
    assert np.array_equal(again.joints, out.joints)


def test_splice_is_seamless_on_real_motion(real_joints):
    base = real_joints
    t = base.shape[0]
    # "generated" motion: the same clip delayed, turned 90 degrees and 3 m away
    gen = _yaw_rotate(np.roll(base, 7, axis=0), np.pi / 2, (3.0, 0.2, -2.0))
    start, end = 60, 110
    out = splice_joints(base, np.ones(t, bool), gen, start, end, blend=4)
    assert np.array_equal(out[:start], base[:start]) and np.array_equal(out[end:], base[end:])
    step = np.linalg.norm(np.diff(base[:, 0, [0, 2]], axis=0), axis=1).max()
    for a, b in ((start - 1, start), (end - 1, end)):
        assert np.linalg.norm(out[b, 0, [0, 2]] - out[a, 0, [0, 2]]) <= 2 * step + 1e-3
        assert np.abs(out[b] - out[a]).max() < 0.1
    yaw = np.unwrap(facing_yaw(out[start - 2:end + 2]))
    assert np.abs(np.diff(yaw)).max() < 0.25  # heading turns smoothly through the edit
    # the inside really is the generated motion (a rigid copy of it), not the original
    mid = slice(start + 8, end - 8)
    local_gen = gen[mid] - gen[mid, :1]
    local_out = out[mid] - out[mid, :1]
    np.testing.assert_allclose(np.linalg.norm(local_out, axis=-1),
                               np.linalg.norm(local_gen, axis=-1), atol=0.05)


def test_inpaint_in_scene_space_from_joints(eng, real_joints):
    scene = _yaw_rotate(real_joints, 2.0, (4.0, 1.5, -7.0))  # on a 1.5 m platform, turned
    m = eng.motion_from_joints(scene, text="a person walks")
    out = eng.inpaint(m, 50, 90, text="a person jumps", seed=2)
    assert np.array_equal(out.joints[:50], scene[:50]) and np.array_equal(out.joints[90:], scene[90:])
    # the new frames stay in the scene, next to where the original was
    assert np.linalg.norm(out.joints[50, 0, [0, 2]] - scene[49, 0, [0, 2]]) < 0.3
    assert np.linalg.norm(out.joints[89, 0, [0, 2]] - scene[90, 0, [0, 2]]) < 0.3
    assert out.joints[50:90, :, 1].min() > 1.0  # on the platform, not on the y=0 floor


def test_outpaint_after_and_before(eng):
    m = eng.generate("a person walks", length=100, seed=4)
    after = eng.outpaint(m, extend_after=41, text="then sits down", seed=0)
    assert after.joints.shape == (141, 22, 3)
    assert np.array_equal(after.joints[:100], m.joints)
    assert np.array_equal(after.tokens[:25], m.tokens)
    assert np.linalg.norm(after.joints[100, 0, [0, 2]] - m.joints[99, 0, [0, 2]]) < 0.3
    before = eng.outpaint(m, extend_before=22, text="a person stands", seed=0)
    assert before.joints.shape == (122, 22, 3)
    assert np.array_equal(before.joints[22:], m.joints)
    assert np.linalg.norm(before.joints[21, 0, [0, 2]] - m.joints[0, 0, [0, 2]]) < 0.3
    both = eng.outpaint(m, extend_before=8, extend_after=12, seed=0)
    assert both.joints.shape == (120, 22, 3) and np.array_equal(both.joints[8:108], m.joints)


def test_long_motion_is_edited_on_a_window(eng, real_joints):
    long = np.concatenate([real_joints, real_joints[::-1], real_joints])  # 510 frames
    m = eng.motion_from_joints(long)
    out = eng.inpaint(m, 300, 341, text="a person turns", seed=0)
    assert np.array_equal(out.joints[:300], long[:300]) and np.array_equal(out.joints[341:], long[341:])
    w0, w1 = out.info["window_tokens"]
    assert w1 - w0 == 49 and w0 * 4 <= 299 and w1 * 4 >= 342
    assert np.array_equal(out.tokens[:w0], m.tokens[:w0])
    with pytest.raises(ValueError, match="smaller pieces"):
        eng.inpaint(m, 100, 400)


@pytest.mark.parametrize("kwargs, err", [
    (dict(start=50, end=40), ValueError), (dict(start=-1, end=10), ValueError),
    (dict(start=0, end=100), ValueError), (dict(start=10, end=101), ValueError),
    (dict(start=1.5, end=10), TypeError),
])
def test_inpaint_bad_ranges(eng, kwargs, err):
    m = eng.generate("a person walks", length=100, seed=0)
    before = m.joints.copy()
    with pytest.raises(err):
        eng.inpaint(m, **kwargs)
    assert np.array_equal(m.joints, before)


def test_outpaint_bad_arguments(eng):
    m = eng.generate("a person walks", length=40, seed=0)
    with pytest.raises(ValueError, match="nothing to do"):
        eng.outpaint(m)
    with pytest.raises(ValueError, match="extend_after"):
        eng.outpaint(m, extend_after=-4)
    with pytest.raises(ValueError, match="at most"):
        eng.outpaint(m, extend_after=400)


def test_edit_progress_and_cancel(eng):
    from bamm_core.generation.engine import GenerationCancelled

    m = eng.generate("a person walks", length=80, seed=0)
    calls = []
    eng.inpaint(m, 20, 40, seed=0, progress=lambda d, t: calls.append((d, t)))
    assert calls and calls[-1][0] == calls[-1][1]
    with pytest.raises(GenerationCancelled):
        eng.outpaint(m, extend_after=20, seed=0, progress=lambda d, t: d < 2)


def test_blend_zero_is_a_hard_cut(eng):
    m = eng.generate("a person walks", length=80, seed=0)
    soft = eng.inpaint(m, 20, 40, seed=0)
    hard = eng.inpaint(m, 20, 40, seed=0, blend=0)
    assert np.array_equal(hard.joints[:20], m.joints[:20]) and np.array_equal(hard.joints[40:], m.joints[40:])
    assert np.array_equal(hard.raw_joints[24:36], soft.raw_joints[24:36])  # same placed motion inside
    assert not np.array_equal(hard.joints[20], soft.joints[20])  # no cross-fade at the edges
    with pytest.raises(ValueError, match="blend"):
        eng.inpaint(m, 20, 40, blend=-1)
