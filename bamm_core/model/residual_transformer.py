"""Residual transformer for quantizer layers 2..6 (MoMask's, used unchanged by BAMM;
SPEC §4).

Given the codes of layers ``0..q-1`` it predicts layer ``q`` (q = 1..5) for all positions
at once (full attention, key-padding mask on padded positions).

Vocabulary: ``0..K-1`` codes, ``PAD = K`` (numerically the masked transformer's END id).

Weights (``share_weight=True``, no shared codebook), names as the official state dict:

* ``token_embed_weight_`` (1, K+1, code_dim): embedding of layer-0 ids;
* ``embed_proj_shared_weight`` (Q-2, K+1, code_dim): embedding of layer j ids (j=1..Q-2)
  *and* output projection for target layer j;
* ``output_proj_weight_`` (1, K+1, code_dim): output projection of the last layer.

So ``token_embed_weight = cat[token_embed_weight_, shared]`` (index = source layer) and
``output_proj_weight = cat[shared, output_proj_weight_]`` (index = target layer - 1); both
are derived on the fly.  Logits = ``W_{q-1} · h`` with no bias.

Sequence: ``[cond_emb(text), quant_emb(one_hot(q, Q)), x_0 .. x_{n-1}]``; positional
encoding only on motion tokens (positions 0..n-1), unlike the BAMM transformer.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .transformer import Encoder, InputProcess, Linear, OutputHead, PositionalEncoding, init_weights


class ResidualTransformer(nn.Module):
    """MoMask residual transformer (``share_weight=True``).

    Args:
        num_tokens: codebook size K; PAD = K.
        code_dim, latent_dim, ff_size, num_layers, num_heads, dropout: sizes.
        clip_dim: text embedding width D.
        num_quantizers: Q = 6 (predicts layers 1..Q-1).
        cond_drop_prob: text dropout during training (0.2).
    """

    def __init__(self, num_tokens: int = 512, code_dim: int = 512, latent_dim: int = 384,
                 ff_size: int = 1024, num_layers: int = 8, num_heads: int = 6,
                 dropout: float = 0.2, clip_dim: int = 512, num_quantizers: int = 6,
                 cond_drop_prob: float = 0.2):
        super().__init__()
        self.num_tokens, self.pad_id = num_tokens, num_tokens
        self.hparams = dict(num_tokens=num_tokens, code_dim=code_dim, latent_dim=latent_dim,
                            ff_size=ff_size, num_layers=num_layers, num_heads=num_heads,
                            dropout=dropout, clip_dim=clip_dim, num_quantizers=num_quantizers,
                            cond_drop_prob=cond_drop_prob)
        self.num_quantizers, self.cond_drop_prob = num_quantizers, cond_drop_prob
        self.latent_dim, self.num_heads, self.clip_dim = latent_dim, num_heads, clip_dim

        self.input_process = InputProcess(code_dim, latent_dim)
        self.position_enc = PositionalEncoding(latent_dim, dropout)
        self.seqTransEncoder = Encoder(latent_dim, num_heads, ff_size, num_layers, dropout)
        self.quant_emb = Linear(num_quantizers, latent_dim)
        self.cond_emb = Linear(clip_dim, latent_dim)
        self.output_process = OutputHead(latent_dim, code_dim)
        self.apply(init_weights)
        std = 1.0 / math.sqrt(code_dim)  # MoMask: uniform(-1/sqrt(d), 1/sqrt(d))
        shape = (num_tokens + 1, code_dim)
        self.embed_proj_shared_weight = nn.Parameter(
            torch.empty(num_quantizers - 2, *shape).uniform_(-std, std))
        self.token_embed_weight_ = nn.Parameter(torch.empty(1, *shape).uniform_(-std, std))
        self.output_proj_weight_ = nn.Parameter(torch.empty(1, *shape).uniform_(-std, std))

    # -- weight tables ------------------------------------------------------------------
    @property
    def token_embed_weight(self) -> Tensor:
        """(Q-1, K+1, code_dim): row table j embeds the ids of quantizer layer j."""
        return torch.cat([self.token_embed_weight_, self.embed_proj_shared_weight], 0)

    @property
    def output_proj_weight(self) -> Tensor:
        """(Q-1, K+1, code_dim): table q-1 scores the ids of target layer q."""
        return torch.cat([self.embed_proj_shared_weight, self.output_proj_weight_], 0)

    def history(self, all_ids: Tensor, upto: int) -> Tensor:
        """Sum of embeddings of layers ``0..upto-1``: ``all_ids`` (B, n, >=upto) with pad
        ids = K (not -1) -> (B, n, code_dim)."""
        tables = self.token_embed_weight
        out = tables[0][all_ids[..., 0]]
        for j in range(1, upto):
            out = out + tables[j][all_ids[..., j]]
        return out

    # -- forward ------------------------------------------------------------------------
    def forward(self, history: Tensor, q: Tensor | int, cond: Tensor,
                padding: Tensor | None = None) -> Tensor:
        """Logits for target layer ``q``.

        Args:
            history: (B, n, code_dim) summed embeddings of the lower layers.
            q: target layer (1..Q-1), int or (B,) long.
            cond: (B, D) text embedding (zeros = unconditional).
            padding: (B, n) bool, True at padded positions (ignored as keys).

        Returns:
            (B, K+1, n) logits (PAD class included, as the official code).
        """
        b, n, _ = history.shape
        dev = history.device
        q = torch.as_tensor(q, device=dev).long()
        if q.dim() == 0:
            q = q.expand(b)
        x = self.input_process(history) + self.position_enc.table(0, n)
        x = self.position_enc.dropout(x)
        q_tok = self.quant_emb(F.one_hot(q, self.num_quantizers).to(x.dtype)).unsqueeze(1)
        xseq = torch.cat([self.cond_emb(cond).unsqueeze(1), q_tok, x], dim=1)
        mask = None
        if padding is not None:
            keep = torch.cat([torch.ones(b, 2, dtype=torch.bool, device=dev), ~padding], 1)
            mask = keep[:, None, None, :]
        h = self.seqTransEncoder(xseq, mask)
        h = self.output_process(h[:, 2:])  # (B, n, code_dim)
        w = self.output_proj_weight[q - 1]  # (B, K+1, code_dim)
        return torch.einsum("bnc,bkc->bkn", h, w)

    def forward_cfg(self, history: Tensor, q: int, cond: Tensor, scale: float,
                    padding: Tensor | None = None) -> Tensor:
        """CFG ``u + s (c - u)``; one doubled batch (the official code runs two forwards —
        same numbers up to float rounding).  Returns (B, K+1, n)."""
        if scale == 1:
            return self.forward(history, q, cond, padding)
        b = history.shape[0]
        both = self.forward(history.repeat(2, 1, 1), q,
                            torch.cat([cond, torch.zeros_like(cond)]),
                            None if padding is None else padding.repeat(2, 1))
        c, u = both[:b], both[b:]
        return u + scale * (c - u)

    # -- training -----------------------------------------------------------------------
    def training_loss(self, all_ids: Tensor, cond: Tensor, lengths: Tensor
                      ) -> tuple[Tensor, Tensor]:
        """MoMask residual objective (SPEC §4, "Training").

        Args:
            all_ids: (B, n, Q) VQ codes of all quantizer layers (values past the length are
                ignored).
            cond: (B, D) text embeddings, zeroed per sample with prob ``cond_drop_prob``.
            lengths: (B,) lengths in tokens.

        Per sample an active layer ``q = round((1 - cos(pi u / 2)) * (Q - 2)) + 1`` with
        ``u ~ U(0, 1)`` (favours low layers); input = sum of the ground-truth embeddings of
        layers ``< q`` (pad id at padded positions); loss = cross-entropy of layer q over
        non-padded positions.

        Returns:
            (loss, accuracy).
        """
        b, n, nq = all_ids.shape
        dev = all_ids.device
        padding = torch.arange(n, device=dev)[None] >= lengths.to(dev).view(b, 1)
        ids = torch.where(padding[..., None], torch.full_like(all_ids, self.pad_id), all_ids)
        u = torch.rand(b, device=dev)
        q = (torch.round((1 - torch.cos(u * math.pi / 2)) * (nq - 2)) + 1).long()
        tables = self.token_embed_weight  # (Q-1, K+1, code_dim)
        layer = torch.arange(nq - 1, device=dev)
        use = (layer[None] < q[:, None]).to(tables.dtype)  # (B, Q-1)
        emb = tables[layer[None, None, :], ids[..., : nq - 1]]  # (B, n, Q-1, code_dim)
        history = (emb * use[:, None, :, None]).sum(2)
        if self.training and self.cond_drop_prob > 0:
            cond = cond * (torch.rand(b, 1, device=dev) >= self.cond_drop_prob).to(cond.dtype)
        logits = self.forward(history, q, cond, padding)  # (B, K+1, n)
        target = ids.gather(2, q.view(b, 1, 1).expand(b, n, 1)).squeeze(2)
        target = target.masked_fill(padding, -100)
        loss = F.cross_entropy(logits, target, ignore_index=-100)
        valid = ~padding
        acc = ((logits.argmax(1) == target) & valid).sum().float() / valid.sum()
        return loss, acc
