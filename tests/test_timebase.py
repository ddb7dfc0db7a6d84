"""One timebase: a model's fps and frames per token change every engine limit consistently."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from bamm_core import Engine
from bamm_core.model import checkpoints as ckpt
from bamm_core.model.residual_transformer import ResidualTransformer
from bamm_core.model.tokenizer import RVQVAE
from bamm_core.model.transformer import BAMMTransformer
from bamm_core.motion.timebase import HUMANML3D, Timebase

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def odd_model_dir(tmp_path_factory):
    """A tiny random model at 30 fps whose tokenizer halves time once (2 frames a token),
    trained on clips of at most 120 frames (4 s)."""
    vq_kw, mt_kw, text = ckpt.SIZES["tiny"]
    with torch.random.fork_rng():
        torch.manual_seed(0)
        vq = RVQVAE(input_width=263, down_t=1, **vq_kw)
        for layer in vq.quantizer.layers:
            layer.codebook.normal_()
        nb, cd = vq_kw["nb_code"], vq_kw["code_dim"]
        mt = BAMMTransformer(num_tokens=nb, code_dim=cd, clip_dim=text["dim"], **mt_kw)
        rt = ResidualTransformer(num_tokens=nb, code_dim=cd, clip_dim=text["dim"], **mt_kw)
    return ckpt.save_model_dir(tmp_path_factory.mktemp("odd") / "odd", vq, mt, rt,
                               ckpt.rest_pose_mean(263), np.full(263, 0.05, np.float32),
                               {"name": "odd", "fps": 30, "max_frames": 120, "text_encoder": text})


@pytest.fixture(scope="module")
def odd(odd_model_dir):
    return Engine.from_pretrained(odd_model_dir)


def test_timebase_comes_from_the_model_config(odd, odd_model_dir, tiny_model_dir):
    tb = Timebase(fps=30.0, frames_per_token=2, max_tokens=60)
    assert odd.timebase == tb and odd.fps == 30
    assert (tb.max_frames, tb.max_seconds, tb.default_min_frames, tb.max_extend_frames) == \
        (120, 4.0, 60, 116)
    assert ckpt.read_timebase(odd_model_dir) == tb  # without loading the weights
    assert ckpt.read_timebase(tiny_model_dir) == HUMANML3D
    assert Engine.from_pretrained(tiny_model_dir).timebase == HUMANML3D
    info = odd.info()
    assert (info["fps"], info["frames_per_token"], info["max_frames"]) == (30, 2, 120)


def test_generate_lengths_follow_the_timebase(odd):
    m = odd.generate("a person walks", length=120, seed=0)
    assert m.fps == 30 and m.joints.shape == (120, 22, 3) and m.tokens.shape == (60, 6)
    odd_len = odd.generate("a person walks", length=7, seed=0)  # 4 tokens, cropped
    assert odd_len.joints.shape[0] == 7 and odd_len.tokens.shape[0] == 4
    with pytest.raises(ValueError, match=r"2\.\.120 frames \(0\.066667-4 s at 30 fps\)"):
        odd.generate("a person walks", length=121, seed=0)
    with pytest.raises(ValueError, match="min_length"):
        odd.generate("a person walks", seed=0, min_length=150)
    for seed in range(3):  # predicted: at least 2 s (60 frames), whole tokens, at most 4 s
        n = odd.generate("a person walks", seed=seed).num_frames
        assert 60 <= n <= 120 and n % 2 == 0
    assert odd.generate("a person walks", seed=0, min_length=2).num_frames % 2 == 0


def test_edit_ranges_and_outpaint_limit_follow_the_timebase(odd):
    m = odd.generate("a person walks", length=100, seed=1)
    out = odd.inpaint(m, 41, 59, text="a person jumps", seed=0)
    ts, te = odd.timebase.token_range(41, 59)
    assert (ts, te) == (20, 30) and out.fps == 30
    assert np.array_equal(out.joints[:41], m.joints[:41]) and np.array_equal(out.joints[59:], m.joints[59:])
    assert np.array_equal(out.tokens[:ts], m.tokens[:ts]) and np.array_equal(out.tokens[te:], m.tokens[te:])
    assert not np.array_equal(out.tokens[ts:te], m.tokens[ts:te])
    short = odd.generate("a person walks", length=20, seed=2)
    longest = odd.outpaint(short, extend_after=116, seed=0)  # (60 - 2) tokens of 2 frames
    assert longest.joints.shape[0] == 136 and np.array_equal(longest.joints[:20], short.joints)
    assert longest.fps == 30
    for t in (21, 23):  # the limit holds whatever the motion's length, at both ends
        clip = odd.generate("a person walks", length=t, seed=3)
        assert odd.outpaint(clip, extend_after=116, seed=0).num_frames == t + 116
        assert odd.outpaint(clip, extend_before=116, seed=0).num_frames == t + 116
    with pytest.raises(ValueError, match=r"at most 116 frames \(3\.86667 s\)"):
        odd.outpaint(short, extend_before=117)
    with pytest.raises(ValueError, match="at least 4 frames"):
        odd.motion_from_joints(short.joints[:3])


def test_humanml3d_outpaint_limit_is_reachable(tiny_model_dir):
    eng = Engine.from_pretrained(tiny_model_dir)
    most = eng.timebase.max_extend_frames
    assert most == 188
    for t in (40, 43):
        clip = eng.generate("a person walks", length=t, seed=0)
        assert eng.outpaint(clip, extend_after=most, seed=0).num_frames == t + most
        assert eng.outpaint(clip, extend_before=most, seed=0).num_frames == t + most


def test_read_timebase_of_an_official_tree_reads_only_opt_txt(tmp_path):
    for run, opts in (("t2m/vq", {"dataset_name": "t2m", "down_t": 2, "stride_t": 2}),
                      ("t2m/bamm", {"dataset_name": "t2m", "vq_name": "vq"}),
                      ("kit/vq", {"dataset_name": "kit", "down_t": 1, "stride_t": 2})):
        (tmp_path / run).mkdir(parents=True)
        ckpt.write_opt_txt(tmp_path / run / "opt.txt", opts)
    assert ckpt.read_timebase(tmp_path) == HUMANML3D  # HumanML3D runs first, no weights read
    assert ckpt.read_timebase(tmp_path / "kit") == Timebase(fps=12.5, frames_per_token=2,
                                                            max_tokens=98)
    assert ckpt.read_timebase(None) == HUMANML3D  # the bundled model (or HumanML3D's)
    with pytest.raises(ckpt.CheckpointError, match="neither a model folder"):
        ckpt.read_timebase(tmp_path / "t2m" / "vq" / "opt.txt")
    with pytest.raises(ckpt.CheckpointError, match="not found"):
        ckpt.read_timebase(tmp_path / "missing")
