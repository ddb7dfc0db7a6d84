"""Engine public API on the tiny random model."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from bamm_core import Engine, Motion
from bamm_core.model import checkpoints as ckpt
from bamm_core.generation.engine import GenerationCancelled


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def eng(tiny_model_dir):
    return Engine.from_pretrained(tiny_model_dir)


def test_generate_fixed_length_shapes_and_dtypes(eng):
    m = eng.generate("a person walks forward", length=50, seed=0)
    assert isinstance(m, Motion) and eng.fps == 20 and m.fps == 20
    assert m.joints.shape == (50, 22, 3) and m.joints.dtype == np.float32
    assert m.features.shape == (50, 263) and m.features.dtype == np.float32
    assert m.tokens.shape == (13, 6) and m.tokens.dtype == np.int64
    assert np.isfinite(m.joints).all()
    np.testing.assert_allclose(m.joints[0, 0, [0, 2]], 0.0, atol=1e-6)  # starts at the origin
    m196 = eng.generate("a person walks forward", length=196, seed=0)
    assert m196.joints.shape == (196, 22, 3) and m196.tokens.shape == (49, 6)


def test_predicted_length_is_a_multiple_of_four(eng):
    m = eng.generate("a person runs", seed=3)
    assert m.joints.shape[0] == 4 * m.tokens.shape[0] and 4 <= m.joints.shape[0] <= 196


@torch.inference_mode()
def test_predicted_length_is_at_least_min_length(eng):
    bias = eng.transformer.output_process.poseFinal.bias
    saved = bias.clone()
    try:
        bias[eng.transformer.end_id] = 50.0  # the model wants to stop at once
        assert eng.generate("a person waves", seed=0).joints.shape[0] == 40  # default: 2 s
        assert eng.generate("a person waves", seed=0, min_length=62).joints.shape[0] == 64
        assert eng.generate("a person waves", seed=0, min_length=4).joints.shape[0] == 4
        # the official procedure keeps the official rule (END only not first)
        assert eng.generate("a person waves", seed=0, refine="official").joints.shape[0] == 4
    finally:
        bias.copy_(saved)


def test_seed_reproducibility_and_no_global_rng_use(eng):
    state = torch.get_rng_state()
    a = eng.generate("a person jumps", length=80, seed=11)
    b = eng.generate("a person jumps", length=80, seed=11)
    assert torch.equal(state, torch.get_rng_state())
    assert np.array_equal(a.joints, b.joints) and np.array_equal(a.tokens, b.tokens)
    c = eng.generate("a person jumps", length=80, seed=12)
    assert not np.array_equal(a.tokens, c.tokens)
    for refine in ("low_confidence", "confidence_below", "suffix", "none", "official"):
        x = eng.generate("a person jumps", length=80, seed=11, refine=refine)
        y = eng.generate("a person jumps", length=80, seed=11, refine=refine)
        assert np.array_equal(x.joints, y.joints), refine


def test_num_samples_returns_distinct_variations(eng):
    ms = eng.generate("a person waves", length=40, seed=0, num_samples=3)
    assert isinstance(ms, list) and len(ms) == 3
    assert len({m.tokens.tobytes() for m in ms}) == 3
    single = eng.generate("a person waves", length=40, seed=0)
    assert isinstance(single, Motion)


def test_text_embedding_equals_text_and_allows_blending(eng):
    emb = eng.encode_text(["a person walks forward"])
    a = eng.generate("a person walks forward", length=40, seed=5)
    b = eng.generate(text_embedding=emb[0], length=40, seed=5)
    assert np.array_equal(a.joints, b.joints)
    both = eng.encode_text(["walk", "jump"])
    blend = eng.generate(text_embedding=0.5 * both[0] + 0.5 * both[1], length=40, seed=5)
    assert blend.joints.shape == (40, 22, 3)


def test_cfg_temperature_top_k_options(eng):
    g = eng.generate("a person sits", length=40, seed=0, temperature=0)
    h = eng.generate("a person sits", length=40, seed=99, temperature=0)
    assert np.array_equal(g.tokens[:, 0], h.tokens[:, 0])  # argmax: seed-independent layer 0
    k1 = eng.generate("a person sits", length=40, seed=1, top_k=1, refine="none")
    assert np.array_equal(k1.tokens[:, 0], eng.generate("a person sits", length=40, seed=2,
                                                        top_k=1, refine="none").tokens[:, 0])
    c = eng.generate("a person sits", length=40, seed=0, cfg=(1.0, 1.0), residual_cfg=1.0,
                     refine_rounds=2)
    assert c.joints.shape == (40, 22, 3)


def test_progress_and_cancel(eng):
    calls = []
    eng.generate("a person walks", length=60, seed=0, progress=lambda d, t: calls.append((d, t)))
    assert calls and calls[-1][0] == calls[-1][1]
    assert all(d1 <= d2 for (d1, _), (d2, _) in zip(calls, calls[1:]))
    with pytest.raises(GenerationCancelled):
        eng.generate("a person walks", seed=0, progress=lambda d, t: d < 3)
    m = eng.generate("a person walks", length=60, seed=0, progress=lambda d, t: None)
    assert m.joints.shape[0] == 60


@pytest.mark.parametrize("kwargs, match", [
    (dict(length=0), "length"), (dict(length=197), "length"), (dict(length=3.5), "length"),
    (dict(num_samples=0), "num_samples"), (dict(refine="best"), "refine"),
    (dict(temperature=-1), "temperature"), (dict(top_k=0), "top_k"),
    (dict(text_embedding=np.zeros(7)), "text_embedding"),
    (dict(min_length=2), "min_length"), (dict(min_length=200), "min_length"),
    (dict(min_length=40.0), "min_length"),
])
def test_bad_arguments_raise_clear_errors(eng, kwargs, match):
    text = None if "text_embedding" in kwargs else "a person walks"
    with pytest.raises(ValueError, match=match):
        eng.generate(text, **kwargs)


def test_text_and_embedding_together_is_an_error(eng):
    with pytest.raises(ValueError, match="either"):
        eng.generate("walk", text_embedding=np.zeros(32, np.float32))


def test_info(eng):
    info = eng.info()
    assert info["fps"] == 20 and info["text_encoder"] == "hash" and info["text_dim"] == 32
    assert info["name"] == "random-tiny-seed0" and "license" in info
    assert info["sizes"]["transformer"]["num_layers"] == 1
    assert info["parameters"]["tokenizer"] > 0


def test_default_model_missing_names_the_path():
    if ckpt.is_model_dir(ckpt.DEFAULT_MODEL_DIR):
        pytest.skip("a default model is bundled")
    with pytest.raises(ckpt.CheckpointError, match="models/default"):
        Engine.from_pretrained(None)
    with pytest.raises(ckpt.CheckpointError, match="not found"):
        Engine.from_pretrained("/nonexistent/model")


def test_model_dir_roundtrip_and_size(tiny_model_dir, tmp_path, eng):
    total = sum(f.stat().st_size for f in tiny_model_dir.iterdir())
    assert total < 700_000
    loaded = ckpt.load_model_dir(tiny_model_dir)
    again = ckpt.save_model_dir(tmp_path / "copy", loaded.vq, loaded.transformer,
                                loaded.residual, loaded.mean, loaded.std, loaded.config)
    eng2 = Engine.from_pretrained(again)
    a = eng.generate("a person walks", length=40, seed=0)
    b = eng2.generate("a person walks", length=40, seed=0)
    assert np.array_equal(a.joints, b.joints)
    with pytest.raises(ckpt.CheckpointError, match="mean/std"):
        ckpt.save_model_dir(tmp_path / "bad", loaded.vq, loaded.transformer, loaded.residual,
                            loaded.mean[:10], loaded.std, loaded.config)


def test_motion_from_real_joints(eng, shared_dir):
    joints = np.load(shared_dir / "reference" / "humanml3d" / "new_joints_012314.npy")
    m = eng.motion_from_joints(joints)
    assert m.tokens.shape == (joints.shape[0] // 4, 6)
    assert m.features.shape == (joints.shape[0], 263)
    assert np.array_equal(m.joints, joints.astype(np.float32))
    with pytest.raises(ValueError, match="shape"):
        eng.motion_from_joints(joints[:, :21])
    bad = joints.copy()
    bad[3, 4, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        eng.motion_from_joints(bad)


def test_resolve_device(monkeypatch):
    import torch

    from bamm_core.model.devices import resolve_device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert resolve_device() == "cpu" and resolve_device("AUTO") == "cpu"
    assert resolve_device("CPU") == "cpu"
    for name in ("cuda", "cuda:1", "MPS"):
        with pytest.raises(ValueError, match="not available"):
            resolve_device(name)
    with pytest.raises(ValueError, match="unknown device 'tpu'"):
        resolve_device("tpu")
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert resolve_device("auto") == "mps" and resolve_device("Mps") == "mps"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert resolve_device("auto") == "cuda" and resolve_device("CUDA:1") == "cuda:1"
    with pytest.raises(ValueError, match="2 CUDA device"):
        resolve_device("cuda:2")


def test_sampling_options_and_overrides(eng):
    from bamm_core.generation.options import SamplingOptions

    assert eng.default_options == SamplingOptions()  # the tiny model's config: cfg (4, 3), 5
    a = eng.generate("a person jumps", length=40, seed=1, cfg=(5.0, 2.0), refine="suffix")
    b = eng.generate("a person jumps", length=40, seed=1,
                     options=SamplingOptions(cfg=5.0, refine_cfg=2.0, refine="suffix"))
    assert np.array_equal(a.joints, b.joints) and a.info["cfg"] == [5.0, 2.0]
    c = eng.generate("a person jumps", length=40, seed=1, options=SamplingOptions(cfg=5.0),
                     refine_cfg=2.0, refine="suffix")
    assert np.array_equal(a.joints, c.joints)
    with pytest.raises(TypeError, match="guidance"):
        eng.generate("a person jumps", length=40, guidance=3.0)
    m = eng.generate("a person jumps", length=40, seed=0)
    e1 = eng.inpaint(m, 10, 20, seed=0, cfg=6.0, top_k=3)
    e2 = eng.inpaint(m, 10, 20, seed=0, options=SamplingOptions(cfg=6.0, top_k=3, refine="none"))
    assert np.array_equal(e1.joints, e2.joints)  # refinement fields do not apply to edits
    for bad in (dict(refine="none"), dict(in_place=True), dict(refine_cfg=3.0)):
        with pytest.raises(TypeError, match="cfg, residual_cfg, temperature, top_k"):
            eng.inpaint(m, 10, 20, **bad)
        with pytest.raises(TypeError):
            eng.outpaint(m, extend_after=8, **bad)


@pytest.mark.parametrize("text", ["", "   ", "\n\t"])
def test_empty_prompt_is_refused(eng, text):
    with pytest.raises(ValueError, match="prompt is empty"):
        eng.generate(text, length=40)
    m = eng.generate("a person walks", length=40, seed=0)
    with pytest.raises(ValueError, match="prompt is empty"):
        eng.inpaint(m, 10, 20, text=text)


def test_generate_iter_batches_samples_like_generate(eng):
    from bamm_core.generation.engine import batch_seed

    many = eng.generate("a person waves", seed=7, num_samples=20)  # 2 batches (16 + 4)
    streamed = list(eng.generate_iter("a person waves", seed=7, num_samples=20))
    assert len(many) == len(streamed) == 20
    for x, y in zip(many, streamed):
        assert np.array_equal(x.joints, y.joints) and np.array_equal(x.tokens, y.tokens)
    assert [m.info["sample"] for m in many] == list(range(20))
    # sample i depends on the seed and the batch size
    few = eng.generate("a person waves", seed=7, num_samples=3)
    again = list(eng.generate_iter("a person waves", seed=7, num_samples=3))
    assert all(np.array_equal(a.joints, b.joints) for a, b in zip(few, again))
    small = list(eng.generate_iter("a person waves", seed=7, num_samples=5, batch_size=2))
    pair = eng.generate("a person waves", seed=7, num_samples=2)
    assert np.array_equal(small[1].joints, pair[1].joints)
    assert batch_seed(7, 0) == 7 and batch_seed(7, 1) != batch_seed(7, 2) != 7
    assert not np.array_equal(small[2].tokens[:, 0][:10], small[0].tokens[:, 0][:10])
    seen = []
    list(eng.generate_iter("a person waves", length=40, num_samples=5, batch_size=2,
                           progress=lambda d, t: seen.append((d, t))))
    assert len({t for _, t in seen}) == 1 and seen[-1][0] == seen[-1][1]
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)
    with pytest.raises(ValueError, match="batch_size"):
        eng.generate_iter("a person waves", num_samples=4, batch_size=0)
    with pytest.raises(ValueError, match="length"):  # checked before the first motion
        eng.generate_iter("a person waves", length=500, num_samples=4)
    with pytest.raises(GenerationCancelled):
        list(eng.generate_iter("a person waves", num_samples=4, batch_size=2,
                               progress=lambda d, t: d < t // 2))


def test_edit_range_messages(eng):
    m = eng.generate("a person walks", length=100, seed=0)
    with pytest.raises(ValueError, match="reversed"):
        eng.inpaint(m, 30, 20)
    with pytest.raises(ValueError, match="the range covers the whole motion: generate a new "
                                         "motion instead"):
        eng.inpaint(m, 0, 100)
    with pytest.raises(ValueError, match=r"outside the motion's frames 0-100 \(5 s\)"):
        eng.inpaint(m, 10, 101)
    with pytest.raises(ValueError, match="empty"):
        eng.inpaint(m, 10, 10)


def test_corrupt_config_says_so(tiny_model_dir, tmp_path):
    import shutil

    bad = tmp_path / "bad"
    shutil.copytree(tiny_model_dir, bad)
    (bad / "config.json").write_text('{"format": "bamm-motion-model", ')
    for call in (Engine.from_pretrained, ckpt.read_timebase, ckpt.load_model_dir):
        with pytest.raises(ckpt.CheckpointError,
                           match=f"config.json in {bad} is not valid JSON: Expecting"):
            call(bad)
    assert not ckpt.is_model_dir(bad)


def test_sampling_options_round_trip_through_a_model_config():
    from bamm_core.generation.options import SamplingOptions

    opts = SamplingOptions(cfg=5.5, refine_cfg=2.0, residual_cfg=6.0)
    back = SamplingOptions.from_config({"decoding": opts.to_config()})
    assert (back.cfg, back.refine_cfg, back.residual_cfg) == (5.5, 2.0, 6.0)
    assert SamplingOptions.from_config({}) == SamplingOptions()
