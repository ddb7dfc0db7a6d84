"""Refinement strategies (the bidirectional round of cascaded decoding): a registry.

Each :class:`Strategy` says which round-1 tokens are re-generated under the bidirectional
mask.  The add-on's enum, the CLI's ``--refine``, the jobs files' ``refine`` field and
``training.evaluate`` all list :data:`STRATEGIES`, so a strategy added here reaches every
front end.  ``"official"`` is the released code's own procedure (a separate path in
:mod:`bamm_core.generation.decoding`, bit-exact with it); ``"none"`` skips the round.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:  # torch is imported where a rule runs: listing the registry needs no torch
    from torch import Tensor

# select(lengths (B,), confidence (B, n), n_slots, round_index) -> (B, n) bool
Select = Callable[["Tensor", "Tensor", int, int], "Tensor"]


@dataclass(frozen=True)
class Strategy:
    name: str
    label: str
    description: str
    select: Select | None = None  # None: no token-selection rule ("none", "official")


def _slots(lengths: "Tensor", n: int) -> "Tensor":
    import torch

    return torch.arange(n, device=lengths.device)[None]


def _every_other(lengths, conf, n, round_index):
    return (_slots(lengths, n) % 2) == (1 - round_index % 2)


def _suffix(lengths, conf, n, round_index):
    return _slots(lengths, n) >= (lengths[:, None] + 1) // 2


def _confidence_below(lengths, conf, n, round_index):
    return conf < 0.5


def _low_confidence(lengths, conf, n, round_index):
    k = (0.5 * lengths.float()).round().clamp(min=1).long()
    valid = _slots(lengths, n) < lengths[:, None]
    score = conf.masked_fill(~valid, 2.0)
    rank = score.argsort(dim=1, stable=True).argsort(dim=1)
    return rank < k[:, None]


STRATEGIES: dict[str, Strategy] = {s.name: s for s in (
    Strategy("every_other", "Every other",
             "Re-predict every other token, alternating on further rounds (paper default)",
             _every_other),
    Strategy("low_confidence", "Low confidence", "Re-predict the 50 % least confident tokens",
             _low_confidence),
    Strategy("confidence_below", "Confidence below",
             "Re-predict tokens sampled with probability under 0.5", _confidence_below),
    Strategy("suffix", "Suffix", "Re-predict the second half", _suffix),
    Strategy("none", "None", "No refinement round (fastest)"),
    Strategy("official", "Official",
             "The released code's procedure, bit-exact (ignores temperature and top-k)"),
)}


def choose_refinement(strategy: str, lengths: "Tensor", conf: "Tensor", n_slots: int,
                      round_index: int = 0) -> "Tensor":
    """(B, n_slots) bool: which tokens (before each length) to re-generate."""
    s = STRATEGIES.get(strategy)
    if s is None or (s.select is None and strategy != "none"):
        raise ValueError(f"unknown refine strategy {strategy!r}; choose from "
                         f"{', '.join(k for k, v in STRATEGIES.items() if v.select or k == 'none')}")
    valid = _slots(lengths, n_slots) < lengths[:, None]
    if s.select is None:
        return valid & False
    return s.select(lengths, conf, n_slots, round_index) & valid


__all__ = ["Strategy", "STRATEGIES", "choose_refinement"]
