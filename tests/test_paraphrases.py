"""Training paraphrases and class-balanced sampling (issue #12, item 4)."""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from training.captions import CaptionScheme, verb_forms
from training.distributed import DistInfo
from training.paraphrases import (PARAPHRASES, WeightedBatches, add_paraphrases, balance_weights,
                                  class_shares, take_class, wording_jitter)

PROMPTS = Path(__file__).resolve().parents[1] / "training" / "judge" / "prompts.json"


def _norm(text: str) -> str:
    return re.sub(r"[^a-z ]", "", text.lower()).strip()


@pytest.fixture(scope="module")
def scheme() -> CaptionScheme:
    return CaptionScheme.load(PARAPHRASES)


def test_verb_forms_change_only_the_verbs():
    assert verb_forms("walks forward") == ("walk forward", "walking forward")
    assert verb_forms("jogs") == ("jog", "jogging")
    assert verb_forms("does a high kick") == ("do a high kick", "doing a high kick")
    assert verb_forms("dashes forward") == ("dash forward", "dashing forward")
    assert verb_forms("raises both hands and waves them") == ("raise both hands and wave them",
                                                               "raising both hands and waving them")
    assert verb_forms("walks, then turns to the left") == ("walk, then turn to the left",
                                                           "walking, then turning to the left")
    assert verb_forms("takes steps backwards") == ("take steps backwards", "taking steps backwards")


def test_every_paraphrase_renders_and_none_is_a_held_out_prompt(scheme):
    """Every (content, style) renders many distinct captions with every slot filled, and no
    rendered caption is one of the judge's held-out prompts (they only measure)."""
    held = {_norm(p) for c in json.loads(PROMPTS.read_text())["classes"].values() for p in c["held_out"]}
    seen = set()
    for content in scheme.contents:
        for style in scheme.styles:
            caps = scheme.combinations(content, style)
            assert len(caps) >= 100, (content, style)
            assert not any("{" in c or "  " in c for c in caps)
            seen.update(_norm(c) for c in caps)
    assert not held & seen, sorted(held & seen)


def test_the_paraphrases_cover_every_class_of_the_judge(scheme):
    classes = json.loads(PROMPTS.read_text())["classes"]
    for c in classes:
        assert scheme.has(c, "normal"), c


def test_add_paraphrases_follows_sides_and_leaves_other_names_alone(scheme):
    items = [{"name": "dataset-1_walk-left_happy_003", "captions": ["a person walks left."]},
             {"name": "Mdataset-1_walk-left_happy_003", "captions": ["a person walks right."]},
             {"name": "Mdataset-2_bye_normal_001", "captions": ["waves."]},
             {"name": "000123", "captions": ["a person jumps."]}]
    added = add_paraphrases(items, 8, scheme)
    assert added == 24 and items[3]["captions"] == ["a person jumps."]
    left, right, bye = (it["captions"][1:] for it in items[:3])
    assert len(set(left)) == 8 and all("left" in c and "right" not in c for c in left)
    assert all("right" in c and "left" not in c for c in right)
    assert all("right" not in c for c in bye) and any("left" in c for c in bye)
    again = [{"name": "dataset-1_walk-left_happy_003", "captions": ["a person walks left."]}]
    add_paraphrases(again, 8, scheme)
    assert again[0]["captions"][1:] == left  # deterministic per take
    assert add_paraphrases(items, 0, scheme) == 0


def test_class_balance_moves_draws_to_rare_classes():
    names = [f"dataset-2_raise-up-both-hands_normal_{i:03d}" for i in range(90)] + \
            [f"dataset-1_bow_happy_{i:03d}" for i in range(10)]
    uniform = class_shares(names, balance_weights(names, 0.0))
    assert uniform["bow"] == pytest.approx(0.1)
    assert class_shares(names, balance_weights(names, 1.0))["bow"] == pytest.approx(0.5)
    half = class_shares(names, balance_weights(names, 0.5))["bow"]
    assert 0.1 < half < 0.5
    assert take_class("000123") is None and take_class("Mdataset-1_walk-left_sad_002") == "walk-left"


def test_weighted_batches_are_a_function_of_the_step():
    w = balance_weights([f"dataset-1_walk_normal_{i:03d}" for i in range(20)] + ["dataset-1_bow_sad_001"], 1.0)
    b = WeightedBatches(w, 64, seed=3, info=DistInfo())
    first = b(7)[1]
    assert first == WeightedBatches(w, 64, seed=3, info=DistInfo())(7)[1]  # resume-safe
    assert first != b(8)[1]
    draws = np.concatenate([b(s)[1] for s in range(50)])
    assert 0.4 < np.mean(draws == 20) < 0.6  # the one bow take gets half the draws


def _unit(x: torch.Tensor) -> torch.Tensor:
    return x / x.norm(dim=1, keepdim=True)


def test_wording_jitter_stays_on_the_sphere_between_and_near_the_two_captions():
    g = torch.Generator().manual_seed(0)
    a, b = _unit(torch.randn(4000, 384, generator=g)), _unit(torch.randn(4000, 384, generator=g))
    rng = lambda: np.random.default_rng(5)
    assert torch.equal(wording_jitter(a, b, 0.0, 0.0, rng()), a)
    mixed = wording_jitter(a, b, 1.0, 0.0, rng())
    assert torch.allclose(mixed.norm(dim=1), torch.ones(4000), atol=1e-5)
    ca, cb = (mixed * a).sum(1), (mixed * b).sum(1)
    # every row lies between its two captions: closer to both than they are to each other
    assert (ca >= (a * b).sum(1) - 1e-5).all() and (cb >= (a * b).sum(1) - 1e-5).all()
    assert 0.3 < (ca > cb).float().mean() < 0.7          # the weight is uniform
    half = wording_jitter(a, b, 0.5, 0.0, rng())
    kept = torch.isclose((half * a).sum(1), torch.ones(4000), atol=1e-6).float().mean()
    assert 0.45 < kept < 0.55                             # about half the rows are blended
    noisy = wording_jitter(a, b, 0.0, 0.3, rng())
    dist = (noisy - a).norm(dim=1)
    assert torch.allclose(noisy.norm(dim=1), torch.ones(4000), atol=1e-5)
    assert 0.25 < dist.mean() < 0.32 and dist.std() < 0.03  # noise of length about 0.3
    assert torch.equal(noisy, wording_jitter(a, b, 0.0, 0.3, rng()))  # a function of the RNG


def test_caption_index_lists_the_paraphrased_wordings_of_known_motions(tmp_path):
    """training.caption_index --paraphrases: every phrase of the paraphrase scheme for the
    motions the model knows (and their mirrors) joins the index once, without styles."""
    from training.caption_index import main

    small = {"templates": ["a person {content} {adverbial}."],
             "contents": {"walk-back": ["walks backward"], "wave-left-hand": ["waves the left hand"],
                          "wave-right-hand": ["waves the right hand"]},
             "styles": {"normal": {"adverbial": ["", "normally"], "subject": ["a person"]}},
             "mirror": {"swap_contents": {"wave-left-hand": "wave-right-hand"}}}
    (tmp_path / "scheme.json").write_text(json.dumps(small))
    out = tmp_path / "model" / "captions.json"
    out.parent.mkdir()
    assert main(["--captions", str(tmp_path / "scheme.json"), "--paraphrases", str(PARAPHRASES),
                 "--out", str(out), "--no-embeddings"]) == 0
    caps = json.loads(out.read_text())["captions"]
    assert "a person walks backward normally." in caps
    assert "a person backs up." in caps and "a person waves with the right hand." in caps
    assert not any("bows" in c for c in caps) and len(caps) == len(set(caps))
