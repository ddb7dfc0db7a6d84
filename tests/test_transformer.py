"""BAMM masked transformer and residual transformer on tiny random configs."""
from __future__ import annotations

import random

import pytest
import torch

from bamm_core.model.residual_transformer import ResidualTransformer
from bamm_core.model.transformer import BAMMTransformer, linear


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture()
def mt():
    torch.manual_seed(0)
    m = BAMMTransformer(num_tokens=16, code_dim=16, latent_dim=32, ff_size=64, num_layers=2,
                        num_heads=4, dropout=0.1, clip_dim=8).eval()
    for p in m.parameters():  # move away from the near-uniform initialisation
        p.data += 0.1 * torch.randn_like(p)
    return m


def _ids(b=2, n=12, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 16, (b, n), generator=g)


def test_uni_mode_is_causal(mt):
    ids, cond = _ids(), torch.randn(2, 8)
    with torch.no_grad():
        ref = mt(ids, cond)
        for k in range(ids.shape[1]):
            changed = ids.clone()
            changed[:, k] = (changed[:, k] + 5) % 16
            out = mt(changed, cond)
            # token k sits at sequence position k+1: outputs 0..k unchanged, k+1 changes
            assert torch.allclose(out[:, :, : k + 1], ref[:, :, : k + 1], atol=1e-6)
            assert not torch.allclose(out[:, :, k + 1], ref[:, :, k + 1], atol=1e-4)


def test_bi_mode_masked_positions_see_later_visible_tokens(mt):
    ids, cond = _ids(), torch.randn(2, 8)
    visible = torch.zeros(2, 12, dtype=torch.bool)
    visible[:, [3, 8]] = True
    with torch.no_grad():
        ref = mt(ids, cond, visible)
        later_visible = ids.clone()
        later_visible[:, 8] = (later_visible[:, 8] + 3) % 16
        out = mt(later_visible, cond, visible)
        # position 5 (masked, predicts x_5) sees the visible x_8 after it
        assert not torch.allclose(out[:, :, 5], ref[:, :, 5], atol=1e-4)
        later_masked = ids.clone()
        later_masked[:, 9] = (later_masked[:, 9] + 3) % 16
        out = mt(later_masked, cond, visible)
        assert torch.allclose(out[:, :, :10], ref[:, :, :10], atol=1e-6)
        # visible rows (text, and the row holding x_3 / x_8) see only visible tokens
        any_masked = ids.clone()
        any_masked[:, [0, 1, 5, 10]] = (any_masked[:, [0, 1, 5, 10]] + 7) % 16
        out = mt(any_masked, cond, visible)
        for row in (0, 4, 9):
            assert torch.allclose(out[:, :, row], ref[:, :, row], atol=1e-6)
        # in uni mode the masked x_8 change would not reach position 5
        assert torch.allclose(mt(later_visible, cond)[:, :, 5], mt(ids, cond)[:, :, 5], atol=1e-6)


def test_cfg_is_uncond_plus_scale_times_difference(mt):
    ids, cond = _ids(), torch.randn(2, 8)
    with torch.no_grad():
        c, u = mt(ids, cond), mt(ids, torch.zeros_like(cond))
        assert torch.allclose(mt.forward_cfg(ids, cond, 4.0), u + 4.0 * (c - u), atol=1e-5)
        # the unconditional text token is cond_emb.bias
        assert torch.allclose(mt.cond_emb(torch.zeros(1, 8))[0], mt.cond_emb.bias)


def test_training_loss_learns_and_covers_both_masks(mt):
    torch.manual_seed(1)
    mt.train()
    ids, cond = _ids(4, 12, seed=3), torch.randn(4, 8)
    lengths = torch.tensor([12, 5, 9, 1])
    opt = torch.optim.Adam(mt.parameters(), lr=3e-3)
    rng = random.Random(0)
    first = None
    for _ in range(60):
        loss, acc = mt.training_loss(ids, cond, lengths, generator=rng)
        opt.zero_grad()
        loss.backward()
        opt.step()
        first = first if first is not None else loss.item()
    assert torch.isfinite(loss) and 0.0 <= acc.item() <= 1.0
    assert loss.item() < 0.6 * first


def test_training_loss_ignores_positions_after_end(mt):
    mt.eval()  # no dropout; rng fixed so masks and corruption are identical
    ids, cond = _ids(2, 12, seed=4), torch.randn(2, 8)
    lengths = torch.tensor([6, 3])
    torch.manual_seed(0)
    a, _ = mt.training_loss(ids, cond, lengths, generator=random.Random(5))
    other = ids.clone()
    other[0, 7:] = (other[0, 7:] + 1) % 16
    other[1, 4:] = (other[1, 4:] + 1) % 16
    torch.manual_seed(0)
    b, _ = mt.training_loss(other, cond, lengths, generator=random.Random(5))
    assert torch.allclose(a, b)


@pytest.fixture()
def rt():
    torch.manual_seed(0)
    m = ResidualTransformer(num_tokens=16, code_dim=16, latent_dim=32, ff_size=64, num_layers=2,
                            num_heads=4, dropout=0.1, clip_dim=8).eval()
    return m


def test_residual_shared_weights_and_padding(rt):
    # layer j's embedding table is target layer j's output projection (share_weight)
    for j in range(1, rt.num_quantizers - 1):
        assert torch.equal(rt.token_embed_weight[j], rt.output_proj_weight[j - 1])
    ids = torch.randint(0, 16, (2, 10, 6))
    cond = torch.randn(2, 8)
    pad = torch.zeros(2, 10, dtype=torch.bool)
    pad[0, 7:] = True
    with torch.no_grad():
        h = rt.history(ids, 2)
        ref = rt(h, 2, cond, pad)
        h2 = h.clone()
        h2[0, 7:] += 3.0  # padded positions must not influence valid ones
        out = rt(h2, 2, cond, pad)
    assert ref.shape == (2, 17, 10)
    assert torch.allclose(out[0, :, :7], ref[0, :, :7], atol=1e-6)
    assert torch.allclose(out[1], ref[1])


def test_residual_training_loss_learns(rt):
    torch.manual_seed(2)
    rt.train()
    ids = torch.randint(0, 16, (4, 10, 6))
    cond, lengths = torch.randn(4, 8), torch.tensor([10, 4, 7, 2])
    opt = torch.optim.Adam(rt.parameters(), lr=3e-3)
    losses = []
    for _ in range(60):
        loss, acc = rt.training_loss(ids, cond, lengths)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert sum(losses[-10:]) < 0.7 * sum(losses[:10])


@pytest.mark.parametrize("rows", [1, 2, 3, 4, 5, 12])
def test_linear_equals_f_linear_for_any_row_count_and_layout(rows):
    g = torch.Generator().manual_seed(rows)
    w, b = torch.randn(48, 20, generator=g), torch.randn(48, generator=g)
    x = torch.randn(rows, 20, generator=g)
    ref = torch.nn.functional.linear(x, w, b)
    for inp in (x, x.t().contiguous().t(), x[:, None]):  # contiguous, strided, (rows, 1, in)
        out = linear(inp, w, b)
        assert out.shape == (*inp.shape[:-1], 48)
        assert (out.reshape(rows, 48) - ref).abs().max() < 1e-5
    assert (linear(x, w) - (ref - b)).abs().max() < 1e-5
    assert linear(torch.zeros(0, 20), w, b).shape == (0, 48)
