"""The judge (training/judge): classifier, locomotion check, physical metrics, prompt set."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from bamm_core.motion.skeleton import JOINT_NAMES
import torch

from training.judge.classifier import Judge
from training.judge.frechet import frechet_distance
from training.judge.joint_features import DIM, joint_features
from training.judge.labels import CLASSES, class_of
from training.judge.locomotion import goes_where_asked, travel
from training.judge.physics import bone_variation, per_class_ratio, physical
from training.judge.prompts import PATH, load_prompts
from training.judge.train_classifier import accuracy, resample, speed_versions, train

FPS = 20.0
ROOT = Path(__file__).resolve().parents[1]
PREPARED = ROOT / "data_prepared" / "bandai"


def _standing() -> np.ndarray:
    """A rest pose (22, 3) facing +Z (the performer's left is +X), feet on y = 0."""
    p = np.zeros((22, 3))
    p[:, 1] = np.linspace(0.0, 1.6, 22)
    left = [i for i, n in enumerate(JOINT_NAMES) if n.startswith("left")]
    right = [i for i, n in enumerate(JOINT_NAMES) if n.startswith("right")]
    p[left, 0], p[right, 0] = 0.2, -0.2
    for foot in (7, 8, 10, 11):
        p[foot, 1] = 0.02 if foot > 9 else 0.08
    return p


def walk(frames: int = 80, speed: float = 1.2, direction: float = 1.0, rng=None) -> np.ndarray:
    """A synthetic walk along +-Z (facing +Z): the body glides, the legs swing."""
    t = np.arange(frames) / FPS
    j = np.repeat(_standing()[None], frames, 0)
    j[..., 2] += direction * speed * t[:, None]
    swing = 0.25 * np.sin(2 * np.pi * 1.8 * t + (0 if rng is None else rng.uniform(0, 6)))
    j[:, [4, 7, 10], 2] += swing[:, None]   # left knee, ankle, toe
    j[:, [5, 8, 11], 2] -= swing[:, None]
    return j


def raised_hand(frames: int = 80, rng=None) -> np.ndarray:
    """Standing still while the right wrist rises above the head."""
    j = np.repeat(_standing()[None], frames, 0)
    up = np.clip(np.arange(frames) / (frames / 2), 0, 1) * (0.8 + (0 if rng is None else rng.uniform(0, .2)))
    j[:, [19, 21], 1] += up[:, None]
    return j


def test_class_of_take_names():
    assert class_of("dataset-2_walk-turn-left_normal_006") == "walk-turn-left"
    assert class_of("Mdataset-2_walk-turn-left_normal_006") == "walk-turn-right"
    assert class_of("dataset-1_dance-long_active_001") == "dance"
    with pytest.raises(ValueError):
        class_of("not-a-take")


@pytest.fixture(scope="module")
def tiny_judge() -> Judge:
    """A small judge trained in a second on synthetic walks and raised hands."""
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    clips = [walk(rng=rng) for _ in range(12)] + [raised_hand(rng=rng) for _ in range(12)]
    labels = [0] * 12 + [1] * 12
    return train([speed_versions(c, (0.9, 1.0, 1.1)) for c in clips], labels, ["walk", "raise"],
                 steps=60, batch=16, width=16, log=None)


def test_features_cover_the_arms_and_both_hands():
    f = joint_features(raised_hand())
    assert f.shape == (80, DIM) and np.isfinite(f).all()
    mirrored = raised_hand() * np.array([-1.0, 1.0, 1.0])   # the left wrist rises instead
    mirrored[:, [1, 2, 4, 5, 7, 8, 10, 11, 13, 14, 16, 17, 18, 19, 20, 21]] = \
        mirrored[:, [2, 1, 5, 4, 8, 7, 11, 10, 14, 13, 17, 16, 19, 18, 21, 20]]
    hands = slice(DIM - 21, DIM)   # side-free summaries and the active arm: either hand
    np.testing.assert_allclose(joint_features(mirrored)[:, hands], f[:, hands], atol=1e-5)
    assert not np.allclose(joint_features(mirrored)[:, :66], f[:, :66])


def test_resample_changes_speed_not_path():
    j = walk(81)
    fast, slow = resample(j, 2.0), resample(j, 0.5)
    assert len(fast) == 41 and len(slow) == 161
    np.testing.assert_allclose(fast[[0, -1]], j[[0, -1]])
    np.testing.assert_allclose(slow[::4], j[::2], atol=1e-9)


def test_classifier_separates_walk_from_raised_hand(tiny_judge, tmp_path):
    rng = np.random.default_rng(1)
    tiny_judge.save(tmp_path / "c.pt")
    loaded = Judge.load(tmp_path / "c.pt")
    test = [walk(70, rng=rng), raised_hand(90, rng=rng)]
    assert loaded.predict(test) == ["walk", "raise"]
    assert accuracy(loaded, test, ["walk", "raise"]) == 1.0


def test_group_head_round_trips_and_weighs_classes(tmp_path):
    torch.set_num_threads(1)
    rng = np.random.default_rng(4)
    clips = [walk(rng=rng) for _ in range(8)] + [raised_hand(rng=rng) for _ in range(8)]
    judge = train([joint_features(c) for c in clips], [0] * 8 + [1] * 8, ["walk", "raise"],
                  steps=40, batch=16, width=16, log=None, groups=["a"] * 8 + ["b"] * 8, aux=1.0)
    assert judge.groups == ["a", "b"]
    assert judge.class_groups.tolist() == [[True, False], [False, True]]
    judge.save(tmp_path / "g.pt")
    loaded = Judge.load(tmp_path / "g.pt")
    test = [walk(70, rng=rng), raised_hand(90, rng=rng)]
    torch.testing.assert_close(loaded.logits(test), judge.logits(test), rtol=1e-2, atol=1e-2)
    assert loaded.predict(test) == ["walk", "raise"]
    # scores are log-probabilities: a clip's class probabilities sum to at most 1
    assert float(torch.logsumexp(loaded.logits(test), 1).max()) <= 1e-4


def test_loading_refuses_other_feature_versions(tiny_judge, tmp_path):
    tiny_judge.save(tmp_path / "c.pt")
    blob = torch.load(tmp_path / "c.pt", weights_only=True)
    blob["features"] = 1
    torch.save(blob, tmp_path / "old.pt")
    with pytest.raises(ValueError, match="retrain"):
        Judge.load(tmp_path / "old.pt")


def test_embed_is_per_clip_and_deterministic(tiny_judge):
    rng = np.random.default_rng(2)
    clips = [walk(60, rng=rng), raised_hand(150, rng=rng), walk(200, rng=rng)]
    e = tiny_judge.embed(clips)
    assert e.shape == (3, 48) and np.isfinite(e).all()
    np.testing.assert_array_equal(e, tiny_judge.embed(clips))
    np.testing.assert_allclose(tiny_judge.embed(clips[1:2])[0], e[1], rtol=1e-5, atol=1e-6)
    assert tiny_judge.embed([]).shape == (0, 48)


def test_frechet_distance_zero_for_same_set_grows_with_shift():
    rng = np.random.default_rng(3)
    a = rng.normal(size=(40, 64))           # fewer clips than dimensions: singular covariance
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)
    b = rng.normal(size=(40, 64))
    near, far = frechet_distance(a, b), frechet_distance(a, b + 1.0)
    assert 0 < near < far and far == pytest.approx(near + 64, rel=0.05)
    # against a closed form: diagonal covariances, d = |mu|^2 + sum (sqrt(s_a) - sqrt(s_b))^2
    x = rng.normal(size=(20000, 3))
    got = frechet_distance(x, x * np.array([1.0, 2.0, 3.0]) + 0.5)
    assert got == pytest.approx(3 * 0.25 + 0 + 1 + 4, rel=0.05)


def test_per_class_ratio_compares_class_by_class():
    ref_classes = ["run"] * 3 + ["bow"] * 2
    ref = [200.0, 200.0, 200.0, 20.0, 20.0]
    # twice the jerk of real runs and half of real bows, in any mix of clips: (400 + 10) / (200 + 20)
    assert per_class_ratio([400, 10, 10, 10], ["run", "bow", "bow", "bow"], ref,
                           ref_classes) == pytest.approx(410 / 220)
    assert per_class_ratio([400, 400, 400, 10], ["run", "run", "run", "bow"], ref,
                           ref_classes) == pytest.approx(410 / 220)  # the clip mix does not matter
    assert per_class_ratio(ref, ref_classes, ref, ref_classes) == pytest.approx(1.0)
    # classes the reference lacks (or NaN values) are left out; none in common -> NaN
    assert per_class_ratio([400, 99, np.nan], ["run", "kick", "bow"], ref,
                           ref_classes) == pytest.approx(2.0)
    assert np.isnan(per_class_ratio([1.0], ["kick"], ref, ref_classes))
    # a floor leaves out classes whose reference is (nearly) zero: real clips that never skate
    assert per_class_ratio([400, 10], ["run", "bow"], ref, ref_classes,
                           floor=50) == pytest.approx(2.0)


def test_backward_walk_goes_backward():
    back = walk(direction=-1.0)
    t = travel(back)
    assert t["forward"] < -3.0 and abs(t["left"]) < 0.1 and abs(t["turn"]) < 5
    assert goes_where_asked(back, "walk-back") and not goes_where_asked(back, "walk")
    assert goes_where_asked(walk(), "walk") and not goes_where_asked(walk(), "walk-back")
    assert goes_where_asked(raised_hand(), "raise-up-right-hand")
    assert not goes_where_asked(walk(), "raise-up-right-hand")


def test_noise_raises_jerk_and_stretch_shows_in_bone_variation():
    smooth = walk()
    noisy = smooth + np.random.default_rng(1).normal(0, 0.01, smooth.shape)
    assert physical(noisy)["jerk"] > 5 * physical(smooth)["jerk"]
    glide = _standing()[None] + np.linspace(0, 1, 40)[:, None, None] * np.array([0, 0, 1.0])
    assert bone_variation(glide) < 1e-9 < bone_variation(smooth) < bone_variation(noisy)
    assert set(physical(smooth)) == {"jerk", "skating", "penetration", "floating", "bone_var"}


def test_prompt_set_has_both_parts_for_every_class():
    data = json.loads(PATH.read_text(encoding="utf-8"))
    assert "never" in data["about"].lower()
    tuning, held = load_prompts("tuning"), load_prompts("held_out")
    assert set(tuning) == set(held) == set(CLASSES)
    for c in CLASSES:
        assert tuning[c] and held[c] and not set(tuning[c]) & set(held[c])
    with pytest.raises(ValueError):
        load_prompts("train")


@pytest.mark.skipif(not (PREPARED / "test.txt").is_file(), reason="no prepared Bandai set")
def test_real_test_clips_go_where_their_class_asks():
    names = (PREPARED / "test.txt").read_text().split()[::10]
    ok = [goes_where_asked(np.load(PREPARED / "new_joints" / f"{n}.npy"), class_of(n)) for n in names]
    assert np.mean(ok) > 0.95


@pytest.mark.skipif(not (PREPARED / "test.txt").is_file(), reason="no prepared Bandai set")
def test_committed_classifier_knows_real_test_clips():
    judge = Judge.load(ROOT / "training_state" / "judge" / "classifier.pt")
    names = (PREPARED / "test.txt").read_text().split()[::5]
    joints = [np.load(PREPARED / "new_joints" / f"{n}.npy") for n in names]
    assert accuracy(judge, joints, [class_of(n) for n in names]) > 0.9
