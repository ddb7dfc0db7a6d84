"""The judge (training/judge): classifier, locomotion check, physical metrics, prompt set."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from bamm_core.motion.skeleton import JOINT_NAMES
from training.judge.classifier import Judge
from training.judge.joint_features import joint_features
from training.judge.labels import CLASSES, class_of
from training.judge.locomotion import goes_where_asked, travel
from training.judge.physics import bone_variation, physical
from training.judge.prompts import PATH, load_prompts
from training.judge.train_classifier import accuracy, train

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


def test_classifier_separates_walk_from_raised_hand(tmp_path):
    rng = np.random.default_rng(0)
    clips = [walk(rng=rng) for _ in range(12)] + [raised_hand(rng=rng) for _ in range(12)]
    labels = [0] * 12 + [1] * 12
    judge = train([joint_features(c) for c in clips], labels, ["walk", "raise"], steps=60,
                  batch=16, width=16, log=None)
    judge.save(tmp_path / "c.pt")
    loaded = Judge.load(tmp_path / "c.pt")
    test = [walk(70, rng=rng), raised_hand(90, rng=rng)]
    assert loaded.predict(test) == ["walk", "raise"]
    assert accuracy(loaded, test, ["walk", "raise"]) == 1.0


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
