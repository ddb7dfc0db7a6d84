"""BAMM masked transformer (paper §3, official ``MaskTransformer``; SPEC §3).

A GPT-style post-LN transformer over ``[text, x_0, ..., x_{n-1}]`` (``S = 1 + n``
positions; n = 50 at release: 49 motion-token slots + one [END] slot).  The output at
sequence position p predicts token ``x_p``: the text-token output predicts ``x_0``.

Vocabulary (``K`` = number of VQ codes, 512 at release): ids ``0..K-1`` are codes,
``END = K``, ``PAD = K + 1``, ``MASK = K + 2`` (unused by BAMM).  The head has ``K + 1``
classes (codes + END).

Parameter names reproduce the official state dict exactly (``seqTransEncoder.layers.N``
uses ``nn.TransformerEncoderLayer`` names) so released checkpoints load with strict key
matching, but attention runs through :func:`torch.nn.functional.scaled_dot_product_attention`
with our own layout so that decoding can use a key/value cache.

Shapes: ``B`` batch, ``n`` token slots, ``S = 1 + n`` sequence, ``C`` latent width,
``D`` text-embedding width (``clip_dim``).
"""
from __future__ import annotations

import math
import random

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .attention_masks import bidirectional_mask, causal_mask, visible_positions

KVCache = list[tuple[Tensor, Tensor]]  # per layer: keys, values (B, H, P, head_dim)


# ----------------------------------------------------------------------------- blocks
class PositionalEncoding(nn.Module):
    """Sinusoidal table ``pe[p, 2i] = sin(p / 10000^(2i/C))``, ``pe[p, 2i+1] = cos(...)``.

    Stored as buffer ``pe`` of shape ``(max_len, 1, C)`` like the official checkpoints.
    """

    def __init__(self, dim: int, dropout: float = 0.1, max_len: int = 5000):
        super().__init__()
        pos = torch.arange(max_len, dtype=torch.float32).unsqueeze(1)
        div = torch.exp(torch.arange(0, dim, 2).float() * (-math.log(10000.0) / dim))
        pe = torch.zeros(max_len, dim)
        pe[:, 0::2] = torch.sin(pos * div)
        pe[:, 1::2] = torch.cos(pos * div)
        self.register_buffer("pe", pe.unsqueeze(1))
        self.dropout = nn.Dropout(dropout)

    def table(self, start: int, length: int) -> Tensor:
        """``(length, C)`` rows ``start .. start+length-1``."""
        return self.pe[start:start + length, 0]


class SelfAttention(nn.Module):
    """Multi-head self-attention with ``nn.MultiheadAttention``'s parameter names.

    ``in_proj_weight`` is ``(3C, C)`` (q, k, v stacked), ``out_proj`` a Linear.
    """

    def __init__(self, dim: int, num_heads: int, dropout: float = 0.0):
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"latent width {dim} not divisible by {num_heads} heads")
        self.num_heads = num_heads
        self.dropout = dropout
        self.in_proj_weight = nn.Parameter(torch.empty(3 * dim, dim))
        self.in_proj_bias = nn.Parameter(torch.zeros(3 * dim))
        self.out_proj = nn.Linear(dim, dim)
        nn.init.xavier_uniform_(self.in_proj_weight)
        nn.init.zeros_(self.out_proj.bias)

    def forward(self, x: Tensor, mask: Tensor | None,
                past: tuple[Tensor, Tensor] | None = None) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        """Attend ``x`` (B, L, C) to ``past`` keys/values followed by its own.

        ``mask``: bool, broadcastable to (B, 1, L, P + L), True = may attend; None = all.
        Returns the output (B, L, C) and this chunk's (keys, values) (B, H, L, hd).
        """
        b, length, c = x.shape
        h = self.num_heads
        qkv = F.linear(x, self.in_proj_weight, self.in_proj_bias)
        q, k, v = qkv.view(b, length, 3, h, c // h).permute(2, 0, 3, 1, 4).unbind(0)
        k_all, v_all = k, v
        if past is not None:
            k_all = torch.cat([past[0], k], dim=2)
            v_all = torch.cat([past[1], v], dim=2)
        drop = self.dropout if self.training else 0.0
        y = F.scaled_dot_product_attention(q, k_all, v_all, attn_mask=mask, dropout_p=drop)
        y = y.transpose(1, 2).reshape(b, length, c)
        return self.out_proj(y), (k, v)


class EncoderLayer(nn.Module):
    """Post-LN transformer layer, GELU (exact), named like ``nn.TransformerEncoderLayer``."""

    def __init__(self, dim: int, num_heads: int, ff_size: int, dropout: float):
        super().__init__()
        self.self_attn = SelfAttention(dim, num_heads, dropout)
        self.linear1 = nn.Linear(dim, ff_size)
        self.linear2 = nn.Linear(ff_size, dim)
        self.norm1 = nn.LayerNorm(dim, eps=1e-5)
        self.norm2 = nn.LayerNorm(dim, eps=1e-5)
        self.dropout = nn.Dropout(dropout)
        self.dropout1 = nn.Dropout(dropout)
        self.dropout2 = nn.Dropout(dropout)

    def forward(self, x: Tensor, mask: Tensor | None,
                past: tuple[Tensor, Tensor] | None = None) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        a, kv = self.self_attn(x, mask, past)
        x = self.norm1(x + self.dropout1(a))
        f = self.linear2(self.dropout(F.gelu(self.linear1(x))))
        x = self.norm2(x + self.dropout2(f))
        return x, kv


class Encoder(nn.Module):
    """Stack of :class:`EncoderLayer` (``layers.N`` as in ``nn.TransformerEncoder``)."""

    def __init__(self, dim: int, num_heads: int, ff_size: int, num_layers: int, dropout: float):
        super().__init__()
        self.layers = nn.ModuleList(
            EncoderLayer(dim, num_heads, ff_size, dropout) for _ in range(num_layers))

    def forward(self, x: Tensor, mask: Tensor | None, past: KVCache | None = None
                ) -> tuple[Tensor, KVCache]:
        """Run all layers; returns hidden states and the chunk's per-layer (k, v)."""
        new: KVCache = []
        for i, layer in enumerate(self.layers):
            x, kv = layer(x, mask, None if past is None else past[i])
            new.append(kv)
        return x, new


class InputProcess(nn.Module):
    """``poseEmbedding``: Linear(code_dim -> C)."""

    def __init__(self, in_dim: int, dim: int):
        super().__init__()
        self.poseEmbedding = nn.Linear(in_dim, dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.poseEmbedding(x)


class OutputHead(nn.Module):
    """Linear(C, C) -> GELU -> LayerNorm(eps 1e-12) -> Linear(C, classes)."""

    def __init__(self, dim: int, out_dim: int):
        super().__init__()
        self.dense = nn.Linear(dim, dim)
        self.LayerNorm = nn.LayerNorm(dim, eps=1e-12)
        self.poseFinal = nn.Linear(dim, out_dim)

    def forward(self, h: Tensor) -> Tensor:
        return self.poseFinal(self.LayerNorm(F.gelu(self.dense(h))))


def concat_cache(a: KVCache | None, b: KVCache) -> KVCache:
    """Append chunk ``b``'s keys/values after cache ``a`` (sequence axis 2)."""
    if a is None:
        return b
    return [(torch.cat([ka, kb], 2), torch.cat([va, vb], 2)) for (ka, va), (kb, vb) in zip(a, b)]


def init_weights(module: nn.Module) -> None:
    """Official initialisation: Linear/Embedding N(0, 0.02), biases 0, LayerNorm 1/0."""
    if isinstance(module, (nn.Linear, nn.Embedding)):
        module.weight.data.normal_(0.0, 0.02)
        if isinstance(module, nn.Linear) and module.bias is not None:
            module.bias.data.zero_()
    elif isinstance(module, nn.LayerNorm):
        module.bias.data.zero_()
        module.weight.data.fill_(1.0)


# ----------------------------------------------------------------------------- model
class BAMMTransformer(nn.Module):
    """The BAMM masked (bidirectional autoregressive) transformer.

    Args:
        num_tokens: VQ codebook size K (512).  END = K, PAD = K+1, MASK = K+2.
        code_dim: token-embedding width (512).
        latent_dim, ff_size, num_layers, num_heads, dropout: encoder sizes (384/1024/8/6/0.2).
        clip_dim: text-embedding width D (512 for CLIP ViT-B/32, 384 for MiniLM).
        cond_drop_prob: probability of dropping the text during training (CFG), 0.1.
    """

    def __init__(self, num_tokens: int = 512, code_dim: int = 512, latent_dim: int = 384,
                 ff_size: int = 1024, num_layers: int = 8, num_heads: int = 6,
                 dropout: float = 0.2, clip_dim: int = 512, cond_drop_prob: float = 0.1):
        super().__init__()
        self.num_tokens = num_tokens
        self.hparams = dict(num_tokens=num_tokens, code_dim=code_dim, latent_dim=latent_dim,
                            ff_size=ff_size, num_layers=num_layers, num_heads=num_heads,
                            dropout=dropout, clip_dim=clip_dim, cond_drop_prob=cond_drop_prob)
        self.end_id, self.pad_id, self.mask_id = num_tokens, num_tokens + 1, num_tokens + 2
        self.latent_dim, self.num_heads, self.clip_dim = latent_dim, num_heads, clip_dim
        self.cond_drop_prob = cond_drop_prob

        self.input_process = InputProcess(code_dim, latent_dim)
        self.position_enc = PositionalEncoding(latent_dim, dropout)
        self.seqTransEncoder = Encoder(latent_dim, num_heads, ff_size, num_layers, dropout)
        self.cond_emb = nn.Linear(clip_dim, latent_dim)
        self.output_process = OutputHead(latent_dim, num_tokens + 1)
        self.token_emb = nn.Embedding(num_tokens + 3, code_dim)
        self.apply(init_weights)

    # -- embeddings -----------------------------------------------------------------
    def embed_text(self, cond: Tensor) -> Tensor:
        """Text token at sequence position 0: ``cond_emb(cond) + pe[0]`` -> (B, 1, C)."""
        x = self.cond_emb(cond).unsqueeze(1) + self.position_enc.table(0, 1)
        return self.position_enc.dropout(x)

    def embed_tokens(self, ids: Tensor, start: int = 0) -> Tensor:
        """Token ids (B, L) at token slots ``start..start+L-1`` (sequence ``start+1..``)
        -> (B, L, C)."""
        x = self.input_process(self.token_emb(ids))
        x = x + self.position_enc.table(start + 1, ids.shape[1])
        return self.position_enc.dropout(x)

    def embed_tokens_at(self, ids: Tensor, slots: Tensor) -> Tensor:
        """Token ids (B, L) at arbitrary token slots ``slots`` (L,) -> (B, L, C)."""
        x = self.input_process(self.token_emb(ids))
        x = x + self.position_enc.pe[slots + 1, 0]
        return self.position_enc.dropout(x)

    def logits_from_hidden(self, h: Tensor) -> Tensor:
        """(B, L, C) hidden -> (B, L, K+1) logits."""
        return self.output_process(h)

    # -- full forward ---------------------------------------------------------------
    def forward(self, ids: Tensor, cond: Tensor, visible: Tensor | None = None) -> Tensor:
        """Logits for every position, like the official ``trans_forward``.

        Args:
            ids: (B, n) token ids (codes, END, PAD).
            cond: (B, D) text embeddings (zeros = unconditional).
            visible: (B, n) bool, tokens in U (bidirectional mask); None = causal (uni).

        Returns:
            (B, K+1, 1+n) logits; column p predicts token ``x_p`` (column n is unused).
        """
        x = torch.cat([self.embed_text(cond), self.embed_tokens(ids)], dim=1)
        s = x.shape[1]
        if visible is None:
            mask = causal_mask(s, x.device)
        else:
            mask = bidirectional_mask(visible_positions(visible)).unsqueeze(1)
        h, _ = self.seqTransEncoder(x, mask)
        return self.logits_from_hidden(h).transpose(1, 2)

    def forward_cfg(self, ids: Tensor, cond: Tensor, scale: float,
                    visible: Tensor | None = None) -> Tensor:
        """Classifier-free guidance as the official code: ``u + s * (c - u)``.

        Conditional and unconditional (text = zeros) halves run as one doubled batch.
        Returns (B, K+1, 1+n) logits.
        """
        b = ids.shape[0]
        both = self.forward(ids.repeat(2, 1), torch.cat([cond, torch.zeros_like(cond)]),
                            None if visible is None else visible.repeat(2, 1))
        c, u = both[:b], both[b:]
        return u + scale * (c - u)

    # -- training -------------------------------------------------------------------
    def training_loss(self, ids: Tensor, cond: Tensor, lengths: Tensor,
                      generator: random.Random | None = None) -> tuple[Tensor, Tensor]:
        """BAMM hybrid-masking objective (SPEC §3.4).

        Args:
            ids: (B, n) layer-0 VQ codes of the padded clip (n = 49 for 196 frames);
                values after each sample's length are ignored.
            cond: (B, D) text embeddings; each is zeroed with prob ``cond_drop_prob``.
            lengths: (B,) motion lengths in tokens (1..n).

        Procedure: targets = codes before L, END at L, PAD after (n+1 slots).  Once per
        batch, with prob 0.5 a visibility rate ``r ~ U(0, 0.5)`` is drawn (else r = 0,
        i.e. the causal mask) and every slot <= L joins U with prob r.  Inputs before L are
        replaced by uniformly random codes with prob ``p ~ U(0, 0.5)`` (no [MASK] token).
        Loss = cross-entropy over K+1 classes on slots <= L (END included), averaged per
        sample then over the batch; no label smoothing.

        Returns:
            (loss scalar, accuracy on the supervised slots).
        """
        rng = generator or random
        b, n = ids.shape
        dev = ids.device
        slot = torch.arange(n + 1, device=dev).unsqueeze(0)  # (1, n+1)
        lengths = lengths.to(dev).long().view(b, 1)
        target = torch.full((b, n + 1), self.pad_id, dtype=torch.long, device=dev)
        target[:, :n] = ids.long()
        target = torch.where(slot == lengths, torch.full_like(target, self.end_id), target)
        target = torch.where(slot > lengths, torch.full_like(target, self.pad_id), target)
        supervised = slot <= lengths

        # uni / bi choice
        r = rng.uniform(0.0, 0.5) if rng.random() < 0.5 else 0.0
        visible = (torch.rand(b, n + 1, device=dev) < r) & supervised if r > 0 else None

        # random-code corruption of the inputs (END excluded)
        p = rng.uniform(0.0, 0.5)
        corrupt = (torch.rand(b, n + 1, device=dev) < p) & (slot < lengths)
        noise = torch.randint(0, self.num_tokens, (b, n + 1), device=dev)
        inputs = torch.where(corrupt, noise, target)

        if self.training and self.cond_drop_prob > 0:
            keep = (torch.rand(b, 1, device=dev) >= self.cond_drop_prob).to(cond.dtype)
            cond = cond * keep

        logits = self.forward(inputs, cond, visible)[:, :, : n + 1]  # (B, K+1, n+1)
        ce = F.cross_entropy(logits, target.clamp(max=self.end_id), reduction="none")
        ce = (ce * supervised).sum(1) / supervised.sum(1)
        pred = logits.argmax(1)
        acc = ((pred == target) & supervised).sum().float() / supervised.sum()
        return ce.mean(), acc
