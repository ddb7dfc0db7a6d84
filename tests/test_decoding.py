"""Decoding: KV cache, exact fast refinement, lengths, strategies, reproducibility."""
from __future__ import annotations

import pytest
import torch

from bamm_core.generation import decoding as dec
from bamm_core.generation.options import SamplingOptions
from bamm_core.generation.refinement import choose_refinement
from bamm_core.model.residual_transformer import ResidualTransformer
from bamm_core.model.transformer import BAMMTransformer, KVCache
from bamm_core.motion.timebase import HUMANML3D

MAX_TOKENS = HUMANML3D.max_tokens  # 49 tokens (196 frames)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def models():
    torch.manual_seed(0)
    mt = BAMMTransformer(num_tokens=16, code_dim=16, latent_dim=32, ff_size=64, num_layers=2,
                         num_heads=4, clip_dim=8).eval()
    for p in mt.parameters():
        p.data += 0.1 * torch.randn_like(p)
    rt = ResidualTransformer(num_tokens=16, code_dim=16, latent_dim=32, ff_size=64,
                             num_layers=1, num_heads=4, clip_dim=8).eval()
    return mt, rt


def gen(seed):
    return torch.Generator().manual_seed(seed)


def ar(*args, **kwargs):
    """autoregressive_round over HumanML3D's 50 slots (49 tokens + [END])."""
    return dec.autoregressive_round(*args, n_slots=MAX_TOKENS + 1, **kwargs)


def generate_ids(mt, rt, cond, lengths, generator, progress=None, **options):
    return dec.generate_ids(mt, rt, cond, lengths, SamplingOptions(**options), generator,
                            max_tokens=MAX_TOKENS, progress=progress)


@torch.inference_mode()
def test_kv_cache_gives_identical_logits_and_tokens(models):
    mt, _ = models
    cond = torch.randn(3, 8)
    ids = torch.randint(0, 16, (3, 20))
    cond2 = torch.cat([cond, torch.zeros_like(cond)])
    full = mt.forward(ids.repeat(2, 1), cond2)  # (2B, K+1, 21)
    cache = KVCache(21)
    for k in range(21):
        x = mt.embed_text(cond2) if k == 0 else mt.embed_tokens(ids[:, k - 1:k].repeat(2, 1), k - 1)
        step = mt.logits_from_hidden(mt.seqTransEncoder(x, None, cache)[:, -1])
        assert (step - full[:, :, k]).abs().max() < 1e-5
    assert cache.length == 21 and len(cache.keys) == 2 and cache.keys[0].shape == (6, 4, 21, 8)
    with pytest.raises(ValueError, match="holds 21 positions"):
        mt.seqTransEncoder(mt.embed_tokens(ids[:, :1].repeat(2, 1), 21), None, cache)
    lengths = torch.tensor([49, 20, 33])
    a = ar(mt, cond, lengths, 4.0, 1.0, None, gen(1), use_cache=True)
    b = ar(mt, cond, lengths, 4.0, 1.0, None, gen(1), use_cache=False)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert (a[2] - b[2]).abs().max() < 1e-5


@torch.inference_mode()
def test_fixed_length_is_honoured(models):
    mt, _ = models
    cond = torch.randn(3, 8)
    lengths = torch.tensor([1, 17, 49])
    ids, out_len, _ = ar(mt, cond, lengths, 4.0, 1.0, None, gen(0))
    assert torch.equal(out_len, lengths)
    for b, L in enumerate(lengths.tolist()):
        assert (ids[b, :L] < mt.end_id).all()
        assert ids[b, L] == mt.end_id and (ids[b, L + 1:] == mt.pad_id).all()


@torch.inference_mode()
def test_predicted_length_stops_at_end(models):
    mt, _ = models
    cond = torch.randn(2, 8)
    bias = mt.output_process.poseFinal.bias
    saved = bias.clone()
    try:
        bias[mt.end_id] = 50.0  # END overwhelmingly likely: allowed from the 2nd token on
        calls = []
        ids, lengths, _ = ar(mt, cond, None, 4.0, 1.0, None, gen(0),
                                                   progress=lambda: calls.append(1))
        assert lengths.tolist() == [1, 1]
        assert len(calls) == 2  # stopped right after [END] instead of running 49 steps
        assert (ids[:, 0] < mt.end_id).all() and (ids[:, 1] == mt.end_id).all()
        ids, lengths, _ = ar(mt, cond, None, 4.0, 1.0, None, gen(0),
                                                   min_tokens=10)
        assert lengths.tolist() == [10, 10] and (ids[:, :10] < mt.end_id).all()
        bias[mt.end_id] = -50.0  # END never drawn: full 49 tokens
        ids, lengths, _ = ar(mt, cond, None, 4.0, 1.0, None, gen(0))
        assert lengths.tolist() == [49, 49] and (ids[:, 49] == mt.end_id).all()
    finally:
        bias.copy_(saved)


@torch.inference_mode()
@pytest.mark.parametrize("strategy", ["every_other", "low_confidence", "confidence_below", "suffix"])
def test_fast_refinement_equals_full_forward_reference(models, strategy):
    mt, _ = models
    cond = torch.randn(3, 8)
    lengths = torch.tensor([49, 20, 33])
    ids, lengths, conf = ar(mt, cond, lengths, 4.0, 1.0, None, gen(2))
    regen = choose_refinement(strategy, lengths, conf, 50)
    assert regen.any() and not (regen & (torch.arange(50)[None] >= lengths[:, None])).any()
    fast, _ = dec.refinement_round(mt, cond, ids, lengths, regen, 3.0, 1.0, None, gen(5))
    ref = dec.refinement_round_reference(mt, cond, ids, lengths, regen, 3.0, 1.0, None, gen(5))
    assert torch.equal(fast, ref)
    assert torch.equal(fast[~regen], ids[~regen])  # visible tokens never change
    fast0, _ = dec.refinement_round(mt, cond, ids, lengths, regen, 3.0, 0.0, None, None)
    ref0 = dec.refinement_round_reference(mt, cond, ids, lengths, regen, 3.0, 0.0, None, None)
    assert torch.equal(fast0, ref0)


@torch.inference_mode()
def test_fast_refinement_on_random_masks(models):
    mt, _ = models
    cond = torch.randn(2, 8)
    g = torch.Generator().manual_seed(9)
    for _ in range(4):
        lengths = torch.randint(2, 50, (2,), generator=g)
        ids, lengths, _ = ar(mt, cond, lengths, 4.0, 1.0, None, g)
        regen = torch.rand(2, 50, generator=g) < 0.5
        a, _ = dec.refinement_round(mt, cond, ids, lengths, regen, 3.0, 0.0, None, None)
        b = dec.refinement_round_reference(mt, cond, ids, lengths, regen, 3.0, 0.0, None, None)
        assert torch.equal(a, b)


def test_refinement_strategies_select_expected_positions():
    lengths = torch.tensor([10])
    conf = torch.linspace(0.05, 1.0, 50)[None]
    every = choose_refinement("every_other", lengths, conf, 50)[0]
    assert every.nonzero().flatten().tolist() == [1, 3, 5, 7, 9]
    again = choose_refinement("every_other", lengths, conf, 50, round_index=1)[0]
    assert again.nonzero().flatten().tolist() == [0, 2, 4, 6, 8]
    low = choose_refinement("low_confidence", lengths, conf, 50)[0]
    assert low.nonzero().flatten().tolist() == [0, 1, 2, 3, 4]
    below = choose_refinement("confidence_below", lengths, conf, 50)[0]
    assert below.nonzero().flatten().tolist() == [i for i in range(10) if conf[0, i] < 0.5]
    suffix = choose_refinement("suffix", lengths, conf, 50)[0]
    assert suffix.nonzero().flatten().tolist() == [5, 6, 7, 8, 9]
    assert not choose_refinement("none", lengths, conf, 50).any()
    with pytest.raises(ValueError, match="unknown refine"):
        choose_refinement("sometimes", lengths, conf, 50)


def test_sampling_temperature_and_top_k():
    logits = torch.tensor([[0.0, 3.0, 1.0, 2.9]])
    ids, p = dec.sample_categorical(logits, 0.0, None, None)
    assert ids.item() == 1
    for s in range(20):
        ids, _ = dec.sample_categorical(logits, 1.0, 1, gen(s))
        assert ids.item() == 1
        ids, _ = dec.sample_categorical(logits, 1.0, 2, gen(s))
        assert ids.item() in (1, 3)
    filtered = dec.filter_top_k(logits, 2)
    assert torch.isinf(filtered[0, [0, 2]]).all() and torch.equal(filtered[0, [1, 3]], logits[0, [1, 3]])


@torch.inference_mode()
@pytest.mark.parametrize("refine", ["every_other", "low_confidence", "none", "official"])
def test_generate_ids_is_reproducible_and_seed_dependent(models, refine):
    mt, rt = models
    cond = torch.randn(1, 8).repeat(2, 1)
    a = generate_ids(mt, rt, cond, torch.tensor([30, 30]), refine=refine, generator=gen(3))
    b = generate_ids(mt, rt, cond, torch.tensor([30, 30]), refine=refine, generator=gen(3))
    c = generate_ids(mt, rt, cond, torch.tensor([30, 30]), refine=refine, generator=gen(4))
    assert torch.equal(a.ids, b.ids)
    assert not torch.equal(a.ids, c.ids)
    assert not torch.equal(a.ids[0], a.ids[1])  # batched samples are different variations
    assert a.ids.shape == (2, 50, 6)
    assert (a.ids[:, 30:] == -1).all() and (a.ids[:, :30, 0] >= 0).all()


@torch.inference_mode()
def test_generate_ids_progress_counts_and_cancel(models):
    mt, rt = models
    seen = []
    generate_ids(mt, rt, torch.randn(1, 8), torch.tensor([12]), generator=gen(0),
                     progress=lambda d, t: seen.append((d, t)))
    totals = {t for _, t in seen}
    assert len(totals) == 1 and seen[-1][0] == seen[-1][1]
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)

    class Stop(Exception):
        pass

    def cancel(done, total):
        if done == 3:
            raise Stop

    with pytest.raises(Stop):
        generate_ids(mt, rt, torch.randn(1, 8), None, generator=gen(0), progress=cancel)


@torch.inference_mode()
def test_residual_layers_pad_and_reproducibility(models):
    _, rt = models
    ids0 = torch.randint(0, 16, (2, 50))
    lengths = torch.tensor([50, 12])
    cond = torch.randn(2, 8)
    a = dec.residual_layers(rt, ids0, lengths, cond, 5.0, 1.0, 0.9, gen(0))
    b = dec.residual_layers(rt, ids0, lengths, cond, 5.0, 1.0, 0.9, gen(0))
    assert torch.equal(a, b) and a.shape == (2, 50, 6)
    assert torch.equal(a[:, :, 0][0], ids0[0]) and (a[1, 12:] == -1).all()
    greedy = dec.residual_layers(rt, ids0, lengths, cond, 5.0, 0.0, 0.9, None)
    assert torch.equal(greedy, dec.residual_layers(rt, ids0, lengths, cond, 5.0, 0.0, 0.9, gen(7)))


@torch.inference_mode()
def test_slots_after_the_longest_end_do_not_change_refinement_or_residual(models):
    # generate_ids and edit_tokens drop the slots after max(L): that must be exact
    mt, rt = models
    cond = torch.randn(2, 8)
    lengths = torch.tensor([14, 9])
    ids, lengths, conf = ar(mt, cond, lengths, 4.0, 1.0, None, gen(3))
    used = int(lengths.max()) + 1
    regen = choose_refinement("every_other", lengths, conf, 50)
    full, _ = dec.refinement_round(mt, cond, ids, lengths, regen, 3.0, 1.0, None, gen(4))
    cut, _ = dec.refinement_round(mt, cond, ids[:, :used], lengths, regen[:, :used], 3.0, 1.0,
                                  None, gen(4))
    assert torch.equal(full[:, :used], cut)
    a = dec.residual_layers(rt, full, lengths, cond, 5.0, 0.0, 0.9, None)
    b = dec.residual_layers(rt, cut, lengths, cond, 5.0, 0.0, 0.9, None)
    assert torch.equal(a[:, :used], b) and (a[:, used:] == -1).all()
    r = generate_ids(mt, rt, cond, lengths, generator=gen(5))
    assert r.ids.shape == (2, 50, 6) and (r.ids[:, used:] == -1).all()
    assert r.confidence.shape == (2, 50)
