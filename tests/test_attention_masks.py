"""Attention masks: the paper's formula, causality, padding."""
from __future__ import annotations

import torch

from bamm_core.model.attention_masks import (additive_mask, bidirectional_mask, causal_mask,
                                       paper_mask_reference, visible_positions)


def test_bidirectional_mask_equals_paper_formula_on_random_sets():
    g = torch.Generator().manual_seed(0)
    for trial in range(20):
        n = int(torch.randint(2, 30, (1,), generator=g))
        tok_vis = torch.rand(3, n, generator=g) < torch.rand(1, generator=g)
        vis = visible_positions(tok_vis)
        assert vis[:, 0].all()  # text token always in U
        got = additive_mask(bidirectional_mask(vis))
        for b in range(3):
            ref = paper_mask_reference(vis[b].tolist())
            assert torch.equal(got[b], ref), (trial, b)


def test_paper_formula_is_the_literal_definition():
    # M_ij = 0 iff (i >= j and i not in U) or j in U
    vis = [True, False, True, False, False]
    m = paper_mask_reference(vis)
    assert m[1, 0] == 0 and m[1, 1] == 0 and m[1, 2] == 0  # masked row: prefix + visible
    assert m[1, 3] == float("-inf")                         # later masked key hidden
    assert m[2, 1] == float("-inf") and m[2, 4] == float("-inf")  # visible rows see only U
    assert m[2, 0] == 0 and m[2, 2] == 0


def test_only_text_visible_gives_causal_mask():
    vis = visible_positions(torch.zeros(2, 9, dtype=torch.bool))
    assert torch.equal(bidirectional_mask(vis), causal_mask(10).expand(2, -1, -1))


def test_key_padding_hides_padded_keys_but_keeps_rows_non_empty():
    tok_vis = torch.tensor([[True, False, True, False, False]])
    vis = visible_positions(tok_vis)
    valid = torch.tensor([[True, True, True, True, False, False]])
    allowed = bidirectional_mask(vis, key_valid=valid)
    assert not allowed[0, :4, 4:].any()          # valid rows never see padding
    assert allowed.any(-1).all()                 # no empty row
    without = bidirectional_mask(vis)
    assert torch.equal(allowed[0, :4, :4], without[0, :4, :4])
