"""Cascaded BAMM decoding: masked transformer (layer 0) -> residual transformer (layers
1..5).  Paper §3.3, official ``generate`` (SPEC §5).

Round 1 samples layer-0 tokens autoregressively under the causal (uni) mask until [END]
(predicted length) or for a given number of tokens.  Round 2 ("refinement") keeps a set
U of tokens visible and re-samples the others autoregressively under the bidirectional
mask, so each re-sampled token sees the visible tokens *after* it as well.

Refinement strategies (which round-1 tokens are re-generated) are the registry
:data:`bamm_core.generation.refinement.STRATEGIES`; all sampling knobs arrive as one
:class:`~bamm_core.generation.options.SamplingOptions` and the token counts (``max_tokens``,
``n_slots``) from the caller's :class:`~bamm_core.motion.timebase.Timebase`.
``"official"`` is the official code's procedure (SPEC §5.1): round-2 set from its argsort
tie-break, all ``max_tokens`` (49) steps of both rounds run, visible tokens are overwritten
in the working sequence and restored at the end, same RNG calls in the same order (98
multinomial draws + 5 uniform draws) -> bit-identical token ids to the official code for
the same seed (``temperature``/``top_k`` are ignored, as upstream).

Speed (non-official modes): round 1 uses a key/value cache (preallocated, see
:class:`~bamm_core.model.transformer.KVCache`) and stops when every sample has emitted [END];
its 2-row products run weight-major (:func:`~bamm_core.model.transformer.linear`).  Round 2
computes all visible rows in one pass (their outputs depend only on visible tokens) and
recomputes the causal chain of masked rows lazily, in chunks, only where a masked token's
prediction depends on it.  For ``every_other`` that is a single forward.  Round 2 and the
residual layers see only the slots up to the longest sample's [END].  Conditional and
unconditional (CFG) halves always run as one batch.

All randomness comes from the ``generator`` argument (a ``torch.Generator``); a generator
seeded with ``s`` draws the same numbers as ``torch.manual_seed(s)`` does globally.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch import Tensor

from ..model.attention_masks import visible_positions
from ..model.residual_transformer import ResidualTransformer
from ..model.transformer import BAMMTransformer, KVCache
from .options import SamplingOptions
from .refinement import STRATEGIES, choose_refinement

Progress = Callable[[int, int], None]


@dataclass
class DecodeResult:
    """Output of :func:`generate_ids`.

    ``ids``: (B, n_slots, Q) int64, -1 = no code (padding or dropped);
    ``lengths``: (B,) tokens; ``round1_ids``: (B, n_slots) layer-0 ids after round 1;
    ``confidence``: (B, n_slots) probability each final layer-0 token was sampled with.
    """

    ids: Tensor
    lengths: Tensor
    round1_ids: Tensor
    confidence: Tensor


# ----------------------------------------------------------------------------- sampling
def filter_top_k(logits: Tensor, k: int) -> Tensor:
    """Keep the ``k`` largest logits along the last axis, -inf elsewhere."""
    if k is None or k <= 0 or k >= logits.shape[-1]:
        return logits
    val, ind = logits.topk(k, dim=-1)
    return torch.full_like(logits, float("-inf")).scatter_(-1, ind, val)


def sample_categorical(logits: Tensor, temperature: float, top_k: int | None,
                       generator: torch.Generator | None) -> tuple[Tensor, Tensor]:
    """Sample one class per row of ``logits`` (B, C).

    ``temperature == 0`` is argmax.  Returns (ids (B,), probability of the chosen class
    under the tempered, filtered distribution (B,)).
    """
    if temperature == 0:
        probs = torch.softmax(logits, -1)
        ids = logits.argmax(-1)
    else:
        probs = torch.softmax(filter_top_k(logits / temperature, top_k), -1)
        ids = torch.multinomial(probs, 1, replacement=True, generator=generator).squeeze(1)
    return ids, probs.gather(1, ids[:, None]).squeeze(1)


def gumbel_argmax(logits_bkn: Tensor, temperature: float, generator: torch.Generator | None
                  ) -> Tensor:
    """Gumbel-max sampling over classes of (B, K, n) logits -> (B, n) ids.

    The uniform noise is drawn as a contiguous (B, K, n) tensor, which is the memory order
    of the official code's noise (SPEC §5.2).
    """
    if temperature == 0:
        return logits_bkn.argmax(1)
    u = torch.empty(logits_bkn.shape, dtype=logits_bkn.dtype, device=logits_bkn.device)
    u.uniform_(0, 1, generator=generator)
    g = -torch.log((-torch.log(u.clamp(min=1e-20))).clamp(min=1e-20))
    return (logits_bkn / max(temperature, 1e-10) + g).argmax(1)


def _check_progress(progress: Progress | None, done: int, total: int) -> None:
    if progress is not None:
        progress(done, total)


# ----------------------------------------------------------------------------- round 1
def _cfg_split(logits: Tensor, b: int, scale: float) -> Tensor:
    c, u = logits[:b], logits[b:]
    return u + scale * (c - u)


def autoregressive_round(mt: BAMMTransformer, cond: Tensor, lengths: Tensor | None,
                         scale: float, temperature: float, top_k: int | None,
                         generator: torch.Generator | None, use_cache: bool = True,
                         stop_at_end: bool = True, *, n_slots: int,
                         progress: Callable[[], None] | None = None, min_tokens: int = 1
                         ) -> tuple[Tensor, Tensor, Tensor]:
    """Round 1: causal autoregressive sampling of layer-0 tokens with CFG.

    Args:
        cond: (B, D) text embeddings.
        lengths: (B,) tokens for a fixed length (END never sampled), or None to predict
            the length by [END].
        stop_at_end: stop once every sample has its [END] (predicted mode) or its length.
        n_slots: token slots (the model's most tokens + 1 for [END]).
        min_tokens: predicted mode: END is not allowed before this many tokens (1 = only
            not as the very first token, as the official code).
    Returns:
        ids (B, n_slots) with END at L and PAD after; lengths (B,); confidence (B, n_slots).
    """
    b, dev = cond.shape[0], cond.device
    steps = n_slots - 1
    ids = torch.full((b, n_slots), mt.pad_id, dtype=torch.long, device=dev)
    conf = torch.ones(b, n_slots, device=dev)
    guided = scale != 1.0  # without guidance the unconditional half is not needed
    cond2 = torch.cat([cond, torch.zeros_like(cond)]) if guided else cond
    reps = 2 if guided else 1
    predict = lengths is None
    found = torch.full((b,), steps, dtype=torch.long, device=dev) if predict else lengths.clone()
    done = torch.zeros(b, dtype=torch.bool, device=dev)
    last = steps if predict else int(lengths.max())
    cache = KVCache(n_slots) if use_cache else None
    for k in range(last):
        if use_cache:
            x = mt.embed_text(cond2) if k == 0 else mt.embed_tokens(ids[:, k - 1:k].repeat(reps, 1), k - 1)
            logits = mt.logits_from_hidden(mt.seqTransEncoder(x, None, cache)[:, -1])
        else:
            logits = mt.forward(ids.repeat(reps, 1), cond2)[:, :, k]
        if guided:
            logits = _cfg_split(logits, b, scale)
        if not predict or k < min_tokens:
            logits = logits[:, : mt.end_id]
        tok, p = sample_categorical(logits, temperature, top_k, generator)
        if predict:
            newly = (tok == mt.end_id) & ~done
            found = torch.where(newly, torch.full_like(found, k), found)
            done = done | newly
        ids[:, k] = tok
        conf[:, k] = p
        if progress is not None:
            progress()
        if predict and stop_at_end and bool(done.all()):
            break
    lengths = found
    slot = torch.arange(n_slots, device=dev)[None]
    ids = torch.where(slot > lengths[:, None], torch.full_like(ids, mt.pad_id), ids)
    ids = torch.where(slot == lengths[:, None], torch.full_like(ids, mt.end_id), ids)
    return ids, lengths, conf


# ----------------------------------------------------------------------------- round 2
def refinement_round(mt: BAMMTransformer, cond: Tensor, ids: Tensor, lengths: Tensor,
                     regen: Tensor, scale: float, temperature: float, top_k: int | None,
                     generator: torch.Generator | None, conf: Tensor | None = None,
                     progress: Callable[[], None] | None = None) -> tuple[Tensor, Tensor]:
    """Re-sample the tokens ``regen`` (B, n) under the bidirectional mask; others fixed.

    Visible set U = tokens before L not in ``regen``, plus [END] at L.  Tokens are
    sampled in increasing slot order (END excluded); tokens outside ``regen`` are never
    changed.  Exact: equals a full forward per sampled token (see tests).

    Returns (ids (B, n), confidence (B, n)).
    """
    b, n = ids.shape
    dev = ids.device
    slot = torch.arange(n, device=dev)[None]
    regen = regen & (slot < lengths[:, None])
    ids = ids.clone()
    conf = torch.ones(b, n, device=dev) if conf is None else conf.clone()
    tok_vis = ((slot < lengths[:, None]) & ~regen) | (slot == lengths[:, None])
    vis = visible_positions(tok_vis)  # (B, S) over sequence positions
    s = n + 1
    vis2 = vis.repeat(2, 1)
    cond2 = torch.cat([cond, torch.zeros_like(cond)])

    # phase A: all rows; outputs/keys of visible rows are exact (they see only U)
    x = torch.cat([mt.embed_text(cond2), mt.embed_tokens(ids.repeat(2, 1))], 1)
    mask_a = vis2[:, None, None, :] | torch.eye(s, dtype=torch.bool, device=dev)[None, None]
    cache = KVCache(2 * s)  # phase A's S positions, then the recomputed rows
    logits_a = mt.logits_from_hidden(mt.seqTransEncoder(x, mask_a, cache))  # (2B, S, K+1)

    # phase B: masked rows, recomputed lazily as one causal chain
    rec_pos: list[int] = []
    rec_logits: dict[int, Tensor] = {}
    next_row = 1
    todo = sorted(set(regen.nonzero()[:, 1].tolist()))
    for k in todo:
        need = regen[:, k] & ~vis[:, k]  # samples whose row k is a masked row
        if bool(need.any()) and k not in rec_logits:
            rows = list(range(max(next_row, 1), k + 1))
            next_row = k + 1
            xr = mt.embed_tokens_at(ids[:, [r - 1 for r in rows]].repeat(2, 1),
                                    torch.tensor([r - 1 for r in rows], device=dev))
            allpos = torch.tensor(rec_pos + rows, device=dev)
            rows_t = torch.tensor(rows, device=dev)
            q_free = ~vis2[:, rows_t]  # (2B, R): query is a masked row
            k_free = ~vis2[:, allpos]  # (2B, P+R)
            causal = allpos[None, :] <= rows_t[:, None]  # (R, P+R)
            m_rec = q_free[:, :, None] & k_free[:, None, :] & causal[None]
            m_a = vis2[:, None, :].expand(-1, len(rows), -1)
            mask = torch.cat([m_a, m_rec], 2)[:, None]  # (2B, 1, R, S + P + R)
            lg = mt.logits_from_hidden(mt.seqTransEncoder(xr, mask, cache))
            rec_pos += rows
            for i, r in enumerate(rows):
                rec_logits[r] = lg[:, i]
        row_logits = logits_a[:, k]
        if k in rec_logits:
            free2 = (~vis2[:, k])[:, None]
            row_logits = torch.where(free2, rec_logits[k], row_logits)
        logits = _cfg_split(row_logits, b, scale)[:, : mt.end_id]
        tok, p = sample_categorical(logits, temperature, top_k, generator)
        ids[:, k] = torch.where(regen[:, k], tok, ids[:, k])
        conf[:, k] = torch.where(regen[:, k], p, conf[:, k])
        if progress is not None:
            progress()
    return ids, conf


def refinement_round_reference(mt: BAMMTransformer, cond: Tensor, ids: Tensor,
                               lengths: Tensor, regen: Tensor, scale: float,
                               temperature: float, top_k: int | None,
                               generator: torch.Generator | None) -> Tensor:
    """Slow oracle of :func:`refinement_round`: one full forward per sampled token."""
    b, n = ids.shape
    slot = torch.arange(n, device=ids.device)[None]
    regen = regen & (slot < lengths[:, None])
    tok_vis = ((slot < lengths[:, None]) & ~regen) | (slot == lengths[:, None])
    ids = ids.clone()
    for k in sorted(set(regen.nonzero()[:, 1].tolist())):
        logits = mt.forward_cfg(ids, cond, scale, tok_vis)[:, : mt.end_id, k]
        tok, _ = sample_categorical(logits, temperature, top_k, generator)
        ids[:, k] = torch.where(regen[:, k], tok, ids[:, k])
    return ids


# ----------------------------------------------------------------------------- official
def official_pad_after_end(ids: Tensor, end_id: int, pad_id: int) -> tuple[Tensor, Tensor]:
    """Official ``pad_after_end``: a leading END becomes code 0 with END at 1; L = first
    id >= END; PAD after L.  Returns (ids, L)."""
    ids = ids.clone()
    first_end = ids[:, 0] >= end_id
    ids[first_end, 0] = 0
    ids[first_end, 1] = end_id
    is_end = ids >= end_id
    n = ids.shape[1]
    slot = torch.arange(n, device=ids.device)[None]
    lengths = torch.where(is_end, slot, torch.full_like(ids, n)).min(1).values
    ids = torch.where(slot > lengths[:, None], torch.full_like(ids, pad_id), ids)
    return ids, lengths


def official_pad_when_end(ids: Tensor, end_id: int, pad_id: int) -> tuple[Tensor, Tensor]:
    """Official ``pad_when_end`` (evaluation): like :func:`official_pad_after_end`, then
    END and everything after it become -1.  Returns (ids, L)."""
    ids, lengths = official_pad_after_end(ids, end_id, pad_id)
    slot = torch.arange(ids.shape[1], device=ids.device)[None]
    return torch.where(slot >= lengths[:, None], torch.full_like(ids, -1), ids), lengths


def official_round2_positions(lengths: Tensor, n_slots: int) -> Tensor:
    """The official round-2 set: ``round(0.5 L)`` (>= 1) positions picked by double
    argsort of a score that is 0 before L and 1e5 after (float32, device's argsort)."""
    slot = torch.arange(n_slots, device=lengths.device)[None]
    scores = torch.where(slot >= lengths[:, None], 1e5, 0.0).float()
    ranks = scores.argsort(dim=1).argsort(dim=1)
    n = torch.round(0.5 * lengths).clamp(min=1).long()
    return ranks < n[:, None]


def official_layer0(mt: BAMMTransformer, cond: Tensor, lengths: Tensor | None,
                    cfg: tuple[float, float], generator: torch.Generator | None,
                    use_cache: bool = False, progress: Callable[[], None] | None = None, *,
                    max_tokens: int) -> dict[str, Tensor]:
    """Official two-round layer-0 sampling (SPEC §5.1), same RNG calls; ``max_tokens``
    steps per round (49 for HumanML3D).

    Returns dict with ``ids`` (B, max_tokens + 1) (END at L, visible restored),
    ``lengths``, ``round1_ids``, ``round1_probs`` (B, max_tokens), ``cond_idx``,
    ``round2_raw_ids``.
    """
    b, dev = cond.shape[0], cond.device
    n_slots, steps = max_tokens + 1, max_tokens
    predict = lengths is None
    cond2 = torch.cat([cond, torch.zeros_like(cond)])

    def draw(logits: Tensor, allow_end: bool) -> tuple[Tensor, Tensor]:
        if not allow_end:
            logits = logits[:, : mt.end_id]
        probs = torch.softmax(logits, -1)
        probs = probs / probs.sum(-1, keepdim=True)
        tok = torch.multinomial(probs, 1, replacement=True, generator=generator).squeeze(1)
        return tok, probs.gather(1, tok[:, None]).squeeze(1)

    # round 1
    ids = torch.full((b, n_slots), mt.pad_id, dtype=torch.long, device=dev)
    probs1 = torch.zeros(b, steps, device=dev)
    cache = KVCache(n_slots) if use_cache else None
    for k in range(steps):
        if use_cache:
            x = mt.embed_text(cond2) if k == 0 else mt.embed_tokens(ids[:, k - 1:k].repeat(2, 1), k - 1)
            h = mt.seqTransEncoder(x, None, cache)
            logits = _cfg_split(mt.logits_from_hidden(h[:, -1]), b, cfg[0])
        else:
            logits = _cfg_split(mt.forward(ids.repeat(2, 1), cond2)[:, :, k], b, cfg[0])
        ids[:, k], probs1[:, k] = draw(logits, predict)
        if progress is not None:
            progress()
    if predict:
        ids, lengths = official_pad_after_end(ids, mt.end_id, mt.pad_id)
    lengths = lengths.clamp(max=steps)
    round1 = ids.clone()  # as recorded upstream: before END is written at L
    ids[torch.arange(b, device=dev), lengths] = mt.end_id

    # round 2
    regen = official_round2_positions(lengths, n_slots)
    slot = torch.arange(n_slots, device=dev)[None]
    tok_vis = ((slot < lengths[:, None]) & ~regen) | (slot == lengths[:, None])
    cond_idx = torch.where(tok_vis, ids, torch.full_like(ids, mt.pad_id))
    work = ids.clone()
    for k in range(steps):
        logits = _cfg_split(mt.forward(work.repeat(2, 1), cond2, tok_vis.repeat(2, 1))[:, :, k],
                            b, cfg[1])
        work[:, k], _ = draw(logits, False)
        if progress is not None:
            progress()
    final = torch.where(tok_vis, cond_idx, work)
    return {"ids": final, "lengths": lengths, "round1_ids": round1, "round1_probs": probs1,
            "cond_idx": cond_idx, "round2_raw_ids": work}


# ----------------------------------------------------------------------------- residual
def residual_layers(rt: ResidualTransformer, ids0: Tensor, lengths: Tensor, cond: Tensor,
                    scale: float, temperature: float = 1.0, top_k_frac: float = 0.9,
                    generator: torch.Generator | None = None,
                    progress: Callable[[], None] | None = None) -> Tensor:
    """Layers 1..Q-1 from layer-0 ids (B, n) -> all ids (B, n, Q), -1 at padding.

    Per layer: CFG logits, keep the top ``ceil((1 - top_k_frac) * (K+1))`` classes
    (52 of 513), Gumbel-max sample; padded positions forced to PAD.  A PAD sampled inside
    the motion becomes -1 (a dropped code), as upstream.
    """
    b, n = ids0.shape
    dev = ids0.device
    padding = torch.arange(n, device=dev)[None] >= lengths[:, None]
    cur = torch.where(padding, torch.full_like(ids0, rt.pad_id), ids0)
    out = [cur]
    tables = rt.token_embed_weight
    history = torch.zeros(b, n, tables.shape[-1], device=dev)
    k = int(torch.ceil(torch.tensor((1 - top_k_frac) * (rt.num_tokens + 1))).item()) \
        if top_k_frac is not None else None
    for q in range(1, rt.num_quantizers):
        history = history + tables[q - 1][cur]
        logits = rt.forward_cfg(history, q, cond, scale, padding)  # (B, K+1, n)
        if k is not None:
            logits = filter_top_k(logits.transpose(1, 2), k).transpose(1, 2)
        pred = gumbel_argmax(logits, temperature, generator)
        cur = torch.where(padding, torch.full_like(pred, rt.pad_id), pred)
        out.append(cur)
        if progress is not None:
            progress()
    all_ids = torch.stack(out, -1)
    return torch.where(all_ids == rt.pad_id, torch.full_like(all_ids, -1), all_ids)


# ----------------------------------------------------------------------------- driver
def count_steps(options: SamplingOptions, lengths: Tensor | None, max_tokens: int,
                num_quantizers: int) -> int:
    """Upper bound on progress steps of :func:`generate_ids` (for progress bars)."""
    refine = options.refine
    steps = max_tokens if lengths is None or refine == "official" else int(lengths.max())
    total = steps
    if refine == "official":
        total += max_tokens
    elif refine != "none":
        total += options.refine_rounds * steps
    return total + num_quantizers - 1


@torch.inference_mode()
def generate_ids(mt: BAMMTransformer, rt: ResidualTransformer, cond: Tensor,
                 lengths: Tensor | None, options: SamplingOptions,
                 generator: torch.Generator | None = None, *, max_tokens: int,
                 use_cache: bool = True, progress: Progress | None = None,
                 min_tokens: int = 1) -> DecodeResult:
    """Full token generation: round 1, refinement, residual layers.

    Args:
        cond: (B, D) text embeddings.
        lengths: (B,) lengths in tokens (1..max_tokens), or None to predict by [END].
        options: guidance (``cfg`` round 1, ``refine_cfg`` refinement, ``residual_cfg``),
            ``temperature`` / ``top_k`` (layer-0 sampling, 0 = argmax; the residual uses
            ``temperature`` too with MoMask's fixed top-52 filter), ``refine`` (a key of
            :data:`~bamm_core.generation.refinement.STRATEGIES`) and ``refine_rounds``
            (ignored by "official"/"none").  ``options.min_length`` is the caller's
            business (pass ``min_tokens``).
        generator: source of all randomness.
        max_tokens: the model's most motion tokens (its timebase; 49 for HumanML3D).
        use_cache: key/value cache in round 1 (same logits, different float rounding).
        progress: ``progress(done, total)``; may raise to cancel.
        min_tokens: predicted lengths are at least this many tokens (not "official").
    Returns:
        :class:`DecodeResult` with ids (B, max_tokens + 1, Q).
    """
    if options.refine not in STRATEGIES:
        raise ValueError(f"unknown refine strategy {options.refine!r}; choose from "
                         f"{', '.join(STRATEGIES)}")
    refine = options.refine
    n_slots = max_tokens + 1
    total = count_steps(options, lengths, max_tokens, rt.num_quantizers)
    counter = [0]

    def tick() -> None:
        counter[0] += 1
        _check_progress(progress, min(counter[0], total), total)

    if lengths is not None:
        lengths = lengths.to(cond.device).long()
        if bool((lengths < 1).any()) or bool((lengths > max_tokens).any()):
            raise ValueError(f"lengths must be 1..{max_tokens} tokens, got {lengths.tolist()}")
    cfg = (options.cfg, options.refine_cfg)
    if refine == "official":
        r = official_layer0(mt, cond, lengths, cfg, generator, use_cache, tick,
                            max_tokens=max_tokens)
        ids0, lengths, round1 = r["ids"], r["lengths"], r["round1_ids"]
        conf = torch.ones_like(ids0, dtype=torch.float32)
        conf[:, :max_tokens] = r["round1_probs"]
        res_temperature = 1.0
    else:
        ids0, lengths, conf = autoregressive_round(
            mt, cond, lengths, options.cfg, options.temperature, options.top_k, generator,
            use_cache, True, n_slots=n_slots, progress=tick, min_tokens=min_tokens)
        round1 = ids0.clone()
        # slots after the longest sample's [END] are invisible to every earlier slot in
        # both transformers (causal + not in U; key padding), so they are dropped:
        # shorter motions refine and get their residual layers proportionally faster
        used = int(lengths.max()) + 1
        ids0, conf = ids0[:, :used], conf[:, :used]
        if refine != "none":
            for r_i in range(options.refine_rounds):
                regen = choose_refinement(refine, lengths, conf, used, r_i)
                ids0, conf = refinement_round(mt, cond, ids0, lengths, regen, options.refine_cfg,
                                              options.temperature, options.top_k, generator,
                                              conf, tick)
        conf = torch.cat([conf, conf.new_ones(conf.shape[0], n_slots - used)], 1)
        res_temperature = options.temperature
    all_ids = residual_layers(rt, ids0, lengths, cond, options.residual_cfg, res_temperature,
                              0.9, generator, tick)
    if all_ids.shape[1] < n_slots:
        all_ids = torch.cat([all_ids, all_ids.new_full(
            (all_ids.shape[0], n_slots - all_ids.shape[1], all_ids.shape[2]), -1)], 1)
    _check_progress(progress, total, total)
    return DecodeResult(all_ids, lengths, round1, conf)
