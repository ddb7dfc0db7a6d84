"""Attention masks of BAMM (paper §3.2, official code SPEC §3.3 step 6).

The masked transformer sees a sequence of ``S = 1 + n`` positions: the text token at
position 0 followed by motion tokens ``x_0 .. x_{n-1}`` (the last one is usually the [END]
slot).  Masks here are boolean ``allowed[i, j]`` matrices, True meaning "query i may
attend to key j" (the opposite convention of ``torch.nn.MultiheadAttention``'s boolean
``attn_mask``).

Two masks:

* **unidirectional (causal)**: ``allowed(i, j) = j <= i``.
* **bidirectional causal** with a set ``U`` of unmasked ("visible") positions:
  ``M_ij = 0 if (i >= j and i not in U) or (j in U) else -inf`` -- every query sees every
  visible key; visible queries see *only* visible keys; the other queries also see their
  causal prefix.  The text token (position 0) and [END] are always in U.  With
  ``U = {text}`` the bidirectional mask equals the causal one.

Padding: positions after [END] never influence positions at or before [END] under either
mask (they are later and not visible), so no key-padding mask is needed for BAMM's
outputs.  For callers that want it anyway, ``key_valid`` removes invalid keys from every
row (the diagonal is always kept so that no row is empty).
"""
from __future__ import annotations

import torch
from torch import Tensor


def causal_mask(seq_len: int, device: torch.device | str | None = None) -> Tensor:
    """``(S, S)`` bool, True where ``j <= i`` (query i may attend key j)."""
    return torch.ones(seq_len, seq_len, dtype=torch.bool, device=device).tril()


def bidirectional_mask(visible: Tensor, key_valid: Tensor | None = None) -> Tensor:
    """Bidirectional causal mask of the paper.

    Args:
        visible: ``(B, S)`` bool over *sequence* positions (text token included), True for
            positions in U.  Callers normally build it with :func:`visible_positions`.
        key_valid: optional ``(B, S)`` bool, False for padding keys to hide from all rows.

    Returns:
        ``(B, S, S)`` bool ``allowed`` with
        ``allowed[b, i, j] = (j <= i and not visible[b, i]) or visible[b, j]``.
    """
    b, s = visible.shape
    causal = causal_mask(s, visible.device).unsqueeze(0)  # (1, S, S)
    rows_free = ~visible.unsqueeze(2)  # (B, S, 1): rows outside U keep their causal prefix
    allowed = (causal & rows_free) | visible.unsqueeze(1)
    if key_valid is not None:
        eye = torch.eye(s, dtype=torch.bool, device=visible.device).unsqueeze(0)
        allowed = (allowed & key_valid.unsqueeze(1)) | eye
    return allowed


def visible_positions(token_visible: Tensor, text_visible: bool = True) -> Tensor:
    """Lift a ``(B, n)`` token-level visibility to ``(B, 1 + n)`` sequence positions.

    Position 0 (the text token) is visible when ``text_visible`` (always, in BAMM).
    """
    head = torch.full_like(token_visible[:, :1], text_visible, dtype=torch.bool)
    return torch.cat([head, token_visible.bool()], dim=1)


def additive_mask(allowed: Tensor, dtype: torch.dtype = torch.float32) -> Tensor:
    """Convert a boolean ``allowed`` mask to the paper's additive form (0 / -inf)."""
    out = torch.zeros(allowed.shape, dtype=dtype, device=allowed.device)
    return out.masked_fill(~allowed, float("-inf"))


def paper_mask_reference(visible: list[bool]) -> Tensor:
    """Literal, loop-based ``M_ij`` from the paper for one sequence (tests/documentation).

    ``visible`` lists membership in U for each sequence position.  Returns ``(S, S)``
    float with 0 / -inf.
    """
    s = len(visible)
    m = torch.full((s, s), float("-inf"))
    for i in range(s):
        for j in range(s):
            if (i >= j and not visible[i]) or visible[j]:
                m[i, j] = 0.0
    return m
