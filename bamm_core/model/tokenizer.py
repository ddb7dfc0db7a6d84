"""RVQ-VAE motion tokenizer (MoMask's, used by BAMM; SPEC §2).

1-D convolutional encoder (4x temporal down-sampling) -> residual vector quantizer
(6 layers, 512 codes of width 512, EMA codebooks with dead-code reset) -> 1-D conv
decoder.  Parameter names reproduce the official state dict (``encoder.model.N``,
``decoder.model.N``, ``quantizer.layers.N.codebook``).

Shapes: motion features ``(B, T, F)`` (F = 263 for HumanML3D, normalised);
latents ``(B, D, T/4)``; token ids ``(B, T/4, Q)`` with ``-1`` = dropped code (a zero
vector when decoding).
"""
from __future__ import annotations

import random

import torch
import torch.nn.functional as F
from torch import Tensor, nn


# ----------------------------------------------------------------------------- conv nets
def _activation(name: str) -> nn.Module:
    return {"relu": nn.ReLU(), "silu": nn.SiLU(), "gelu": nn.GELU()}[name]


class ResConv1DBlock(nn.Module):
    """``x + dropout(conv2_k1(act(conv1_k3_dilated(act(x)))))`` (norms are identity)."""

    def __init__(self, width: int, dilation: int, activation: str = "relu",
                 dropout: float = 0.2):
        super().__init__()
        self.act1 = _activation(activation)
        self.conv1 = nn.Conv1d(width, width, 3, 1, dilation, dilation)
        self.act2 = _activation(activation)
        self.conv2 = nn.Conv1d(width, width, 1, 1, 0)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.dropout(self.conv2(self.act2(self.conv1(self.act1(x)))))


class Resnet1D(nn.Module):
    """``depth`` residual blocks with dilations ``growth^k``, applied largest first."""

    def __init__(self, width: int, depth: int, growth: int, activation: str = "relu"):
        super().__init__()
        dilations = [growth ** d for d in range(depth)][::-1]
        self.model = nn.Sequential(*[ResConv1DBlock(width, d, activation) for d in dilations])

    def forward(self, x: Tensor) -> Tensor:
        return self.model(x)


class Encoder(nn.Module):
    """(B, F, T) -> (B, D, T / stride^down_t)."""

    def __init__(self, input_width: int, output_emb_width: int, down_t: int, stride_t: int,
                 width: int, depth: int, growth: int, activation: str = "relu"):
        super().__init__()
        k, p = stride_t * 2, stride_t // 2
        layers: list[nn.Module] = [nn.Conv1d(input_width, width, 3, 1, 1), _activation(activation)]
        for _ in range(down_t):
            layers.append(nn.Sequential(nn.Conv1d(width, width, k, stride_t, p),
                                        Resnet1D(width, depth, growth, activation)))
        layers.append(nn.Conv1d(width, output_emb_width, 3, 1, 1))
        self.model = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.model(x)


class Decoder(nn.Module):
    """(B, D, n) -> (B, F, n * stride^down_t) (nearest up-sampling + conv)."""

    def __init__(self, input_width: int, output_emb_width: int, down_t: int, stride_t: int,
                 width: int, depth: int, growth: int, activation: str = "relu"):
        super().__init__()
        layers: list[nn.Module] = [nn.Conv1d(output_emb_width, width, 3, 1, 1),
                                   _activation(activation)]
        for _ in range(down_t):
            layers.append(nn.Sequential(Resnet1D(width, depth, growth, activation),
                                        nn.Upsample(scale_factor=stride_t, mode="nearest"),
                                        nn.Conv1d(width, width, 3, 1, 1)))
        layers += [nn.Conv1d(width, width, 3, 1, 1), _activation(activation),
                   nn.Conv1d(width, input_width, 3, 1, 1)]
        self.model = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.model(x)


# ----------------------------------------------------------------------------- quantizer
class QuantizeEMAReset(nn.Module):
    """One codebook ``(K, D)`` trained by EMA with dead-code reset (no gradients).

    Only ``codebook`` is persistent (as in the official checkpoints); the EMA statistics
    ``code_sum`` / ``code_count`` live in non-persistent buffers.
    """

    def __init__(self, nb_code: int, code_dim: int, mu: float = 0.99):
        super().__init__()
        self.nb_code, self.code_dim, self.mu = nb_code, code_dim, mu
        self.register_buffer("codebook", torch.zeros(nb_code, code_dim))
        self.register_buffer("code_sum", torch.zeros(nb_code, code_dim), persistent=False)
        self.register_buffer("code_count", torch.zeros(nb_code), persistent=False)
        self.initialised = False

    def _tile(self, x: Tensor) -> Tensor:
        """Repeat (+ small noise) so that there are at least K candidate vectors."""
        n, d = x.shape
        if n >= self.nb_code:
            return x
        reps = (self.nb_code + n - 1) // n
        out = x.repeat(reps, 1)
        return out + torch.randn_like(out) * (0.01 / d ** 0.5)

    @torch.no_grad()
    def _init_codebook(self, x: Tensor) -> None:
        out = self._tile(x)
        self.codebook.copy_(out[torch.randperm(out.shape[0], device=x.device)[: self.nb_code]])
        self.code_sum.copy_(self.codebook)
        self.code_count.fill_(1.0)
        self.initialised = True

    def distances(self, x: Tensor) -> Tensor:
        """(N, D) -> (N, K) squared L2 distances ``|x|^2 - 2 x.C + |C|^2``."""
        c = self.codebook
        return (x.pow(2).sum(1, keepdim=True) - 2 * x @ c.t() + c.pow(2).sum(1)[None])

    def quantize(self, x: Tensor, temperature: float = 0.0) -> Tensor:
        """(N, D) -> (N,) code ids: arg-min, or Gumbel-max of ``-dist / temperature``."""
        d = self.distances(x)
        if temperature > 0:
            u = torch.rand_like(d).clamp(1e-20, 1.0)
            gumbel = -torch.log((-torch.log(u)).clamp(min=1e-20))
            return (-d / temperature + gumbel).argmax(1)
        return d.argmin(1)

    def dequantize(self, ids: Tensor) -> Tensor:
        """ids (any shape, -1 = dropped) -> (..., D) with zero vectors for -1."""
        out = self.codebook[ids.clamp(min=0)]
        return out * (ids >= 0).unsqueeze(-1).to(out.dtype)

    @torch.no_grad()
    def ema_update(self, x: Tensor, ids: Tensor) -> Tensor:
        """EMA codebook update with reset of codes whose EMA count < 1; returns perplexity."""
        onehot = F.one_hot(ids, self.nb_code).to(x.dtype)  # (N, K)
        batch_sum = onehot.t() @ x
        batch_count = onehot.sum(0)
        rand = self._tile(x)
        rand = rand[torch.randperm(rand.shape[0], device=x.device)[: self.nb_code]]
        self.code_sum.mul_(self.mu).add_((1 - self.mu) * batch_sum)
        self.code_count.mul_(self.mu).add_((1 - self.mu) * batch_count)
        used = (self.code_count >= 1.0).unsqueeze(1)
        self.codebook.copy_(torch.where(used, self.code_sum / self.code_count[:, None].clamp(min=1e-12), rand))
        prob = batch_count / batch_count.sum()
        return torch.exp(-(prob * torch.log(prob + 1e-7)).sum())

    def forward(self, x: Tensor, temperature: float = 0.0
                ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """x (N, D) -> (straight-through quantised (N, D), ids (N,), commit loss, perplexity).

        In train mode the codebook is initialised from the first batch and EMA-updated.
        """
        if self.training and not self.initialised:
            if bool((self.codebook != 0).any()):  # loaded from a checkpoint: keep it
                self.code_sum.copy_(self.codebook)
                self.code_count.fill_(1.0)
                self.initialised = True
            else:
                self._init_codebook(x.detach())
        ids = self.quantize(x.detach(), temperature if self.training else 0.0)
        if self.training:
            perplexity = self.ema_update(x.detach(), ids)
        else:
            counts = torch.bincount(ids, minlength=self.nb_code).float()
            prob = counts / counts.sum()
            perplexity = torch.exp(-(prob * torch.log(prob + 1e-7)).sum())
        q = self.dequantize(ids)
        commit = F.mse_loss(x, q.detach())
        return x + (q - x).detach(), ids, commit, perplexity


class ResidualVQ(nn.Module):
    """Stack of ``Q`` quantizers, each coding the previous residual; quantize-dropout."""

    def __init__(self, num_quantizers: int, nb_code: int, code_dim: int, mu: float = 0.99,
                 quantize_dropout_prob: float = 0.2):
        super().__init__()
        self.num_quantizers, self.quantize_dropout_prob = num_quantizers, quantize_dropout_prob
        self.layers = nn.ModuleList(QuantizeEMAReset(nb_code, code_dim, mu)
                                    for _ in range(num_quantizers))

    def forward(self, x: Tensor, temperature: float = 0.0
                ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """x (B, D, n) -> (quantised (B, D, n), ids (B, n, Q), commit loss, perplexity).

        Training: with prob ``quantize_dropout_prob`` per batch, layers above a random
        index ``s ~ randrange(Q)`` are skipped (ids -1).  Commit loss and perplexity are
        averaged over the layers used.
        """
        b, d, n = x.shape
        flat = x.permute(0, 2, 1).reshape(b * n, d)
        residual = flat
        out = torch.zeros_like(flat)
        keep = self.num_quantizers
        if self.training and random.random() < self.quantize_dropout_prob:
            keep = random.randrange(self.num_quantizers) + 1
        all_ids, commits, perps = [], [], []
        for i, layer in enumerate(self.layers):
            if i >= keep:
                all_ids.append(torch.full((b * n,), -1, dtype=torch.long, device=x.device))
                continue
            q, ids, commit, perp = layer(residual, temperature)
            residual = residual - q.detach()
            out = out + q
            all_ids.append(ids)
            commits.append(commit)
            perps.append(perp)
        ids = torch.stack(all_ids, 1).view(b, n, self.num_quantizers)
        out = out.view(b, n, d).permute(0, 2, 1)
        return out, ids, torch.stack(commits).mean(), torch.stack(perps).mean()

    def encode(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Deterministic (arg-min) codes: x (B, D, n) -> ids (B, n, Q), codes (Q, B, D, n)."""
        b, d, n = x.shape
        residual = x.permute(0, 2, 1).reshape(b * n, d)
        ids, codes = [], []
        for layer in self.layers:
            i = layer.quantize(residual)
            c = layer.dequantize(i)
            residual = residual - c
            ids.append(i)
            codes.append(c.view(b, n, d).permute(0, 2, 1))
        return torch.stack(ids, 1).view(b, n, -1), torch.stack(codes)

    def decode_ids(self, ids: Tensor) -> Tensor:
        """ids (B, n, q<=Q), -1 = dropped -> summed codes (B, D, n)."""
        out = 0
        for j in range(ids.shape[-1]):
            out = out + self.layers[j].dequantize(ids[..., j])
        return out.permute(0, 2, 1)


# ----------------------------------------------------------------------------- RVQ-VAE
class RVQVAE(nn.Module):
    """MoMask RVQ-VAE.

    Args (release values): input_width 263 (KIT 251), nb_code 512, code_dim 512
    (= output_emb_width), down_t 2, stride_t 2, width 512, depth 3,
    dilation_growth_rate 3, activation "relu", num_quantizers 6,
    quantize_dropout_prob 0.2, mu 0.99.
    """

    def __init__(self, input_width: int = 263, nb_code: int = 512, code_dim: int = 512,
                 down_t: int = 2, stride_t: int = 2, width: int = 512, depth: int = 3,
                 dilation_growth_rate: int = 3, activation: str = "relu",
                 num_quantizers: int = 6, quantize_dropout_prob: float = 0.2,
                 mu: float = 0.99):
        super().__init__()
        self.input_width, self.nb_code, self.code_dim = input_width, nb_code, code_dim
        self.hparams = dict(input_width=input_width, nb_code=nb_code, code_dim=code_dim,
                            down_t=down_t, stride_t=stride_t, width=width, depth=depth,
                            dilation_growth_rate=dilation_growth_rate, activation=activation,
                            num_quantizers=num_quantizers,
                            quantize_dropout_prob=quantize_dropout_prob, mu=mu)
        self.num_quantizers = num_quantizers
        self.downsample = stride_t ** down_t
        args = (input_width, code_dim, down_t, stride_t, width, depth, dilation_growth_rate,
                activation)
        self.encoder = Encoder(*args)
        self.decoder = Decoder(*args)
        self.quantizer = ResidualVQ(num_quantizers, nb_code, code_dim, mu, quantize_dropout_prob)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Reconstruction for training.

        Args:
            x: (B, T, F) normalised features, T a multiple of 4.
        Returns:
            (recon (B, T, F), commit_loss scalar, perplexity scalar).  In train mode codes
            are drawn by Gumbel-max at temperature 0.5 and the codebooks are EMA-updated.
        """
        z = self.encoder(x.permute(0, 2, 1).float())
        q, _, commit, perp = self.quantizer(z, temperature=0.5)
        return self.decoder(q).permute(0, 2, 1), commit, perp

    @torch.no_grad()
    def encode(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """(B, T, F) -> (ids (B, T//4, Q), codes (Q, B, D, T//4)); arg-min codes."""
        return self.quantizer.encode(self.encoder(x.permute(0, 2, 1).float()))

    def forward_decoder(self, ids: Tensor) -> Tensor:
        """ids (B, n, q<=Q) with -1 = dropped -> features (B, 4n, F)."""
        return self.decoder(self.quantizer.decode_ids(ids)).permute(0, 2, 1)

    def training_loss(self, x: Tensor, commit_weight: float = 0.02, pos_weight: float = 0.5
                      ) -> tuple[Tensor, dict[str, Tensor]]:
        """Official VQ loss: SmoothL1(recon, x) + 0.5 SmoothL1 on the RIFKE-position dims
        (4:67, called "vel" upstream) + 0.02 commit.  Returns (loss, parts)."""
        recon, commit, perp = self.forward(x)
        rec = F.smooth_l1_loss(recon, x)
        j = (x.shape[-1] + 1) // 12  # 263 -> 22 joints, 251 -> 21
        pos = F.smooth_l1_loss(recon[..., 4:4 + (j - 1) * 3], x[..., 4:4 + (j - 1) * 3])
        loss = rec + pos_weight * pos + commit_weight * commit
        return loss, {"recon": rec, "pos": pos, "commit": commit, "perplexity": perp}
