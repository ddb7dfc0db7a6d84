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


# ----------------------------------------------------------------------------- KV cache
class KVCache:
    """Keys and values of the positions processed so far, for every layer.

    Buffers for ``capacity`` positions are allocated on the first chunk, so appending a
    decoding step copies only that step's keys/values (not the whole history).
    ``length`` positions are filled; a forward pass through :class:`Encoder` appends its
    chunk to every layer, then advances ``length``.
    """

    def __init__(self, capacity: int):
        self.capacity = capacity
        self.length = 0
        self.keys: list[Tensor] = []  # per layer (B, H, capacity, head_dim)
        self.values: list[Tensor] = []

    def append(self, layer: int, k: Tensor, v: Tensor) -> tuple[Tensor, Tensor]:
        """Store chunk keys/values (B, H, L, hd) of ``layer`` after the ``length`` cached
        positions; returns that layer's keys/values of all ``length + L`` positions."""
        end = self.length + k.shape[2]
        if end > self.capacity:
            raise ValueError(f"KV cache holds {self.capacity} positions, {end} needed")
        if layer == len(self.keys):
            shape = (k.shape[0], k.shape[1], self.capacity, k.shape[3])
            self.keys.append(k.new_empty(shape))
            self.values.append(v.new_empty(shape))
        self.keys[layer][:, :, self.length:end] = k
        self.values[layer][:, :, self.length:end] = v
        return self.keys[layer][:, :, :end], self.values[layer][:, :, :end]

    def advance(self, n: int) -> None:
        """Count ``n`` more positions as cached (after every layer has appended them)."""
        self.length += n


# ----------------------------------------------------------------------------- blocks
SMALL_BATCH_ROWS = 4  # at most this many rows: weight-major product (see ``linear``)


def linear(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """``F.linear(x, weight, bias)``, faster for the few rows of a decoding step.

    With 1-4 rows (an autoregressive step: one conditional and one unconditional row
    per sample) the usual ``x @ W^T`` product is slow on CPU; the same product taken the
    other way round, ``(W @ x^T)^T``, streams each weight matrix once in its own row
    order.  Measured on the released sizes, 2 threads, the 35 products of one step:
    6.3-7.6 ms -> 1.4-2.1 ms.  Same float32 arithmetic in another summation order
    (differences ~1e-7).  More rows, or not on the CPU (measured only there): ``F.linear``.
    """
    rows = x.numel() // x.shape[-1] if x.shape[-1] else 0
    if rows == 0 or rows > SMALL_BATCH_ROWS or x.device.type != "cpu":
        return F.linear(x, weight, bias)
    # x^T must be a transposed view of a contiguous (rows, in) block: a contiguous
    # (in, rows) operand takes a 2x slower GEMM path
    xt = x.reshape(rows, x.shape[-1]).contiguous().t()
    y = weight @ xt if bias is None else torch.addmm(bias.unsqueeze(1), weight, xt)
    return y.t().reshape(*x.shape[:-1], weight.shape[0])


class Linear(nn.Linear):
    """``nn.Linear`` (same parameters and state-dict names) that calls :func:`linear`."""

    def forward(self, x: Tensor) -> Tensor:
        return linear(x, self.weight, self.bias)


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
        self.out_proj = Linear(dim, dim)
        nn.init.xavier_uniform_(self.in_proj_weight)
        nn.init.zeros_(self.out_proj.bias)

    def forward(self, x: Tensor, mask: Tensor | None, cache: KVCache | None = None,
                layer: int = 0) -> Tensor:
        """Attend ``x`` (B, L, C) to the positions in ``cache`` followed by its own.

        ``mask``: bool, broadcastable to (B, 1, L, P + L), True = may attend; None = all.
        With a ``cache`` (P positions so far), this chunk's keys/values are stored in it as
        layer ``layer``'s.  Returns the output (B, L, C).
        """
        b, length, c = x.shape
        h = self.num_heads
        qkv = linear(x, self.in_proj_weight, self.in_proj_bias)
        q, k, v = qkv.view(b, length, 3, h, c // h).permute(2, 0, 3, 1, 4).unbind(0)
        if cache is not None:
            k, v = cache.append(layer, k, v)
        drop = self.dropout if self.training else 0.0
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=drop)
        y = y.transpose(1, 2).reshape(b, length, c)
        return self.out_proj(y)


class EncoderLayer(nn.Module):
    """Post-LN transformer layer, GELU (exact), named like ``nn.TransformerEncoderLayer``."""

    def __init__(self, dim: int, num_heads: int, ff_size: int, dropout: float):
        super().__init__()
        self.self_attn = SelfAttention(dim, num_heads, dropout)
        self.linear1 = Linear(dim, ff_size)
        self.linear2 = Linear(ff_size, dim)
        self.norm1 = nn.LayerNorm(dim, eps=1e-5)
        self.norm2 = nn.LayerNorm(dim, eps=1e-5)
        self.dropout = nn.Dropout(dropout)
        self.dropout1 = nn.Dropout(dropout)
        self.dropout2 = nn.Dropout(dropout)

    def forward(self, x: Tensor, mask: Tensor | None, cache: KVCache | None = None,
                layer: int = 0) -> Tensor:
        a = self.self_attn(x, mask, cache, layer)
        x = self.norm1(x + self.dropout1(a))
        f = self.linear2(self.dropout(F.gelu(self.linear1(x))))
        return self.norm2(x + self.dropout2(f))


class Encoder(nn.Module):
    """Stack of :class:`EncoderLayer` (``layers.N`` as in ``nn.TransformerEncoder``)."""

    def __init__(self, dim: int, num_heads: int, ff_size: int, num_layers: int, dropout: float):
        super().__init__()
        self.layers = nn.ModuleList(
            EncoderLayer(dim, num_heads, ff_size, dropout) for _ in range(num_layers))

    def forward(self, x: Tensor, mask: Tensor | None, cache: KVCache | None = None) -> Tensor:
        """Run all layers on ``x`` (B, L, C); with a ``cache``, attend to its positions
        too and append this chunk's keys/values to it."""
        for i, layer in enumerate(self.layers):
            x = layer(x, mask, cache, i)
        if cache is not None:
            cache.advance(x.shape[1])
        return x


class InputProcess(nn.Module):
    """``poseEmbedding``: Linear(code_dim -> C)."""

    def __init__(self, in_dim: int, dim: int):
        super().__init__()
        self.poseEmbedding = Linear(in_dim, dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.poseEmbedding(x)


class OutputHead(nn.Module):
    """Linear(C, C) -> GELU -> LayerNorm(eps 1e-12) -> Linear(C, classes)."""

    def __init__(self, dim: int, out_dim: int):
        super().__init__()
        self.dense = Linear(dim, dim)
        self.LayerNorm = nn.LayerNorm(dim, eps=1e-12)
        self.poseFinal = Linear(dim, out_dim)

    def forward(self, h: Tensor) -> Tensor:
        return self.poseFinal(self.LayerNorm(F.gelu(self.dense(h))))


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
        self.cond_emb = Linear(clip_dim, latent_dim)
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
        h = self.seqTransEncoder(x, mask)
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
