"""More ways to say each motion, and class-balanced sampling, for the token models (issue #12).

A prepared dataset holds three captions per take (``texts/``).  A user types other words, so the
transformer stages can add ``captions_per_take`` paraphrases to every labelled take, drawn from a
caption scheme (:data:`PARAPHRASES`, written for this project; any file of the
:class:`training.captions.CaptionScheme` format works), and draw takes with probability
proportional to ``count(class) ** -class_balance`` instead of uniformly: 0 keeps the old
uniform order, 1 gives every class the same share, 0.5 (the default of ``cpu_small_cycle3``) lies
between.  ``caption_mix`` and ``text_noise`` (:func:`wording_jitter`) also train on points
between two captions of the same take and around them, so a wording that lands between the
trained ones still finds its motion.  Takes whose names are not ``dataset-N_content_style_id`` (e.g. HumanML3D's numbers)
keep their captions and share one class, so the options do nothing there.
"""
from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import torch

from .captions import CaptionScheme, parse_take_name
from .distributed import DistInfo

PARAPHRASES = Path(__file__).resolve().parent / "paraphrases.json"


def take_class(name: str) -> str | None:
    """The content label of a take name (``"Mdataset-1_walk-left_happy_003"`` -> ``"walk-left"``),
    None when the name is not a labelled take."""
    try:
        return parse_take_name(name).content
    except ValueError:
        return None


def add_paraphrases(items: list[dict], per_take: int, scheme: CaptionScheme | None = None) -> int:
    """Append ``per_take`` distinct paraphrases (deterministic per take name) to the ``captions``
    of every labelled item the scheme knows; returns how many captions were added."""
    if per_take <= 0:
        return 0
    scheme = scheme or CaptionScheme.load(PARAPHRASES)
    added = 0
    for it in items:
        try:
            t = parse_take_name(it["name"])
        except ValueError:
            continue
        if not scheme.has(t.content, t.style):
            continue
        new = [c for c in scheme.captions(t.content, t.style, key="paraphrase:" + t.stem,
                                          n=per_take, mirrored=t.mirrored)
               if c not in it["captions"]]
        it["captions"] = list(it["captions"]) + new
        added += len(new)
    return added


def wording_jitter(emb: torch.Tensor, other: torch.Tensor, mix: float, noise: float,
                   rng: np.random.Generator) -> torch.Tensor:
    """Condition embeddings (B, D), unit length, moved to where untrained wordings land: with
    probability ``mix`` each row is slerp-like blended (a uniform weight, then re-normalised)
    with ``other`` (another caption of the same take), then Gaussian noise of total length about
    ``noise`` is added and the row re-normalised.  ``mix = noise = 0`` returns ``emb``."""
    if mix <= 0 and noise <= 0:
        return emb
    b, d = emb.shape
    w = torch.as_tensor(rng.uniform(0.0, 1.0, size=(b, 1)) * (rng.uniform(size=(b, 1)) < mix),
                        dtype=emb.dtype)
    out = (1 - w) * emb + w * other
    if noise > 0:
        out = out + torch.as_tensor(rng.standard_normal((b, d)), dtype=emb.dtype) * (noise / d ** 0.5)
    return out / out.norm(dim=1, keepdim=True).clamp_min(1e-8)


def balance_weights(names: list[str], power: float) -> np.ndarray:
    """Sampling probability of each item: ``count(class) ** -power``, normalised."""
    if not names:
        raise ValueError("no items to weight")
    keys = [take_class(n) for n in names]
    counts = Counter(keys)
    w = np.array([counts[k] ** -float(power) for k in keys], dtype=np.float64)
    return w / w.sum()


def class_shares(names: list[str], weights: np.ndarray) -> dict[str | None, float]:
    """The share of draws each class gets under ``weights``."""
    out: dict[str | None, float] = Counter()
    for n, w in zip(names, weights):
        out[take_class(n)] += float(w)
    return dict(out)


class WeightedBatches:
    """Like :class:`training.distributed.StepBatches`, but each step draws its batch with
    replacement by ``weights`` from an RNG seeded by (seed, step, rank): resume-safe."""

    def __init__(self, weights: np.ndarray, batch: int, seed: int, info: DistInfo):
        self.p = np.asarray(weights, dtype=np.float64)
        self.batch, self.seed, self.info = int(batch), int(seed), info
        self.per_epoch = max(1, len(self.p) // (self.batch * max(1, info.world)))

    def __call__(self, step: int) -> tuple[int, list[int]]:
        rng = np.random.default_rng([self.seed, int(step), self.info.rank])
        idx = rng.choice(len(self.p), size=self.batch, replace=True, p=self.p)
        return step // self.per_epoch, idx.tolist()


__all__ = ["PARAPHRASES", "take_class", "add_paraphrases", "wording_jitter", "balance_weights", "class_shares",
           "WeightedBatches"]
