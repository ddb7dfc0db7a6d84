"""RVQ-VAE tokenizer: shapes, nearest-code quantisation, dropped codes, EMA training."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from bamm_core.model.tokenizer import RVQVAE


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture()
def vq():
    torch.manual_seed(0)
    m = RVQVAE(input_width=263, nb_code=32, code_dim=16, width=32, depth=2).eval()
    for layer in m.quantizer.layers:
        layer.codebook.normal_()
    return m


def test_shapes_and_downsampling(vq):
    x = torch.randn(2, 196, 263)
    ids, codes = vq.encode(x)
    assert ids.shape == (2, 49, 6) and ids.dtype == torch.int64
    assert codes.shape == (6, 2, 16, 49)
    assert vq.forward_decoder(ids).shape == (2, 196, 263)
    assert vq.encode(torch.randn(1, 50, 263))[0].shape == (1, 12, 6)  # odd lengths floor


def test_each_layer_picks_the_nearest_code_of_the_residual(vq):
    x = torch.randn(1, 40, 263)
    ids, codes = vq.encode(x)
    z = vq.encoder(x.permute(0, 2, 1))[0].T  # (n, D)
    residual = z.detach().clone()
    for q, layer in enumerate(vq.quantizer.layers):
        d = torch.cdist(residual, layer.codebook)
        assert torch.equal(d.argmin(1), ids[0, :, q])
        assert torch.allclose(codes[q, 0].T, layer.codebook[ids[0, :, q]])
        residual = residual - layer.codebook[ids[0, :, q]]


def test_minus_one_is_a_zero_code(vq):
    ids = torch.randint(0, 32, (1, 10, 6))
    dropped = ids.clone()
    dropped[..., 3:] = -1
    with torch.no_grad():
        a = vq.forward_decoder(dropped)
        b = vq.forward_decoder(ids[..., :3])  # fewer layers = right-padded with -1
        lat = sum(vq.quantizer.layers[j].codebook[ids[0, :, j]] for j in range(3))
        c = vq.decoder(lat.T[None]).permute(0, 2, 1)
    assert torch.allclose(a, b) and torch.allclose(a, c, atol=1e-6)


def test_ema_training_initialises_updates_and_resets_codes():
    torch.manual_seed(0)
    vq = RVQVAE(input_width=263, nb_code=32, code_dim=16, width=32, depth=1,
                quantize_dropout_prob=0.0).train()
    assert all(float(l.codebook.abs().sum()) == 0 for l in vq.quantizer.layers)
    x = torch.randn(4, 32, 263)
    recon, commit, perp = vq(x)
    assert recon.shape == x.shape and commit.ndim == 0 and perp.item() > 1.0
    cb0 = vq.quantizer.layers[0].codebook.clone()
    assert cb0.abs().sum() > 0  # initialised from encoder outputs
    torch.manual_seed(5)
    vq(x + 0.5)
    cb1 = vq.quantizer.layers[0].codebook
    assert not torch.equal(cb0, cb1)
    # codes whose EMA count fell below 1 were reset to encoder outputs of the batch
    layer = vq.quantizer.layers[0]
    dead = layer.code_count < 1.0
    assert dead.any()
    torch.manual_seed(5)  # same dropout masks as in the training step
    z = vq.encoder((x + 0.5).permute(0, 2, 1)).permute(0, 2, 1).reshape(-1, 16)
    d = torch.cdist(cb1[dead], z).min(1).values
    assert (d < 1e-3).all()  # cdist rounding
    # the codebook has no gradient; the encoder/decoder do
    loss = vq.training_loss(x)[0]
    loss.backward()
    assert vq.encoder.model[0].weight.grad is not None
    assert "code_sum" not in vq.state_dict() and "quantizer.layers.0.codebook" in vq.state_dict()


def test_quantize_dropout_drops_upper_layers():
    torch.manual_seed(0)
    vq = RVQVAE(input_width=263, nb_code=32, code_dim=16, width=32, depth=1,
                quantize_dropout_prob=1.0).train()
    x = torch.randn(2, 16, 263)
    seen = set()
    for _ in range(30):
        z = vq.encoder(x.permute(0, 2, 1))
        _, ids, _, _ = vq.quantizer(z, temperature=0.5)
        kept = int((ids[0, 0] >= 0).sum())
        assert (ids[..., :kept] >= 0).all() and (ids[..., kept:] == -1).all()
        seen.add(kept)
    assert len(seen) > 2 and min(seen) >= 1


def test_real_humanml3d_features_roundtrip_through_codes(shared_dir, vq):
    feats = np.load(shared_dir / "reference" / "humanml3d" / "new_joint_vecs_012314.npy")
    mean = np.load(shared_dir / "reference" / "humanml3d" / "Mean.npy")
    std = np.load(shared_dir / "reference" / "humanml3d" / "Std.npy")
    x = torch.tensor((feats[:168] - mean) / std, dtype=torch.float32)[None]
    ids, _ = vq.encode(x)
    assert ids.shape == (1, 42, 6)
    assert torch.equal(vq.encode(x)[0], ids)  # deterministic in eval mode
