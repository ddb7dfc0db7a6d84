"""A prompt timeline (Engine.compose / recompose): continuous seams, segment boundaries kept,
same seed -> same motion, any length; recompose keeps every frame outside its segment."""
from __future__ import annotations

import numpy as np
import pytest

from bamm_core.generation.compose import Segment, check_segments
from bamm_core.generation.engine import Engine
from bamm_core.generation.progress import GenerationCancelled
from bamm_core.motion.facing import facing_yaw, wrap_angle
from bamm_core.motion.timebase import HUMANML3D

pytestmark = pytest.mark.usefixtures("one_torch_thread")

TIMELINE = [("a person walks forward", 80), ("a person waves both hands", 60),
            Segment("a person bows", 60)]


@pytest.fixture(scope="module")
def take(bundled_engine):
    return bundled_engine.compose(TIMELINE, seed=3)


@pytest.fixture(scope="module")
def tiny(tiny_model_dir):
    return Engine.from_pretrained(tiny_model_dir)


def per_frame(values: np.ndarray, seams: list[int], margin: int = 3):
    """(values at the seams, values inside the segments) of a per-transition series
    (value i: frame i -> i+1), the seams' neighbourhoods +- margin left out of the inside."""
    near = np.zeros(len(values), bool)
    for b in seams:
        near[max(0, b - margin): b + margin] = True
    at = np.concatenate([values[b - 2: b + 1] for b in seams])
    return at, values[~near]


def test_three_segments_are_one_continuous_take(take):
    assert [{k: v for k, v in s.items() if k != "understood"} for s in take.info["segments"]] == [
        {"start": 0, "end": 80, "prompt": "a person walks forward"},
        {"start": 80, "end": 140, "prompt": "a person waves both hands"},
        {"start": 140, "end": 200, "prompt": "a person bows"}]
    assert take.num_frames == 200 and take.seconds > HUMANML3D.max_seconds
    assert take.tokens.shape == (50, 6) and take.features.shape == (200, 263)
    assert np.isfinite(take.joints).all()
    j = take.joints.astype(np.float64)
    seams = [80, 140]
    speed = np.linalg.norm(np.diff(j, axis=0), axis=-1).max(-1)  # fastest joint, m/frame
    at, inside = per_frame(speed, seams)
    assert at.max() <= inside.max(), "a pop at a seam"
    accel = np.linalg.norm(np.diff(j, 2, axis=0), axis=-1).max(-1)
    at, inside = per_frame(accel, seams)
    assert at.max() <= inside.max()
    turn = np.abs(wrap_angle(np.diff(facing_yaw(j))))
    at, inside = per_frame(turn, seams)  # a jump: faster than inside and than a slow turn (1 rad/s)
    assert at.max() <= max(inside.max(), 1.0 / take.fps), "a facing jump at a seam"
    root = np.linalg.norm(np.diff(j[:, 0, [0, 2]], axis=0), axis=-1)
    at, inside = per_frame(root, seams)
    assert at.max() <= inside.max(), "the root slides at a seam"


def test_same_seed_same_take_other_seed_another(bundled_engine, take):
    again = bundled_engine.compose(TIMELINE, seed=3)
    np.testing.assert_array_equal(again.joints, take.joints)
    np.testing.assert_array_equal(again.tokens, take.tokens)
    other = bundled_engine.compose(TIMELINE, seed=4)
    assert not np.array_equal(other.joints, take.joints)


def test_recompose_keeps_every_frame_outside_the_segment(bundled_engine, take):
    new = bundled_engine.recompose(take, 1, "a person claps", seed=9)
    np.testing.assert_array_equal(new.joints[:80], take.joints[:80])
    np.testing.assert_array_equal(new.joints[140:], take.joints[140:])
    assert not np.allclose(new.joints[85:135], take.joints[85:135])
    assert [s["prompt"] for s in new.info["segments"]] == [
        "a person walks forward", "a person claps", "a person bows"]
    assert take.info["segments"][1]["prompt"] == "a person waves both hands"  # not changed
    same_prompt = bundled_engine.recompose(take, 2, seed=1)  # a new take of the same prompt
    np.testing.assert_array_equal(same_prompt.joints[:140], take.joints[:140])
    assert same_prompt.info["segments"] == take.info["segments"]


def test_a_minute_long_take_of_eight_segments(tiny):
    tb = tiny.timebase
    segs = [(f"a person does move {i}", 150) for i in range(8)]
    seen = []
    m = tiny.compose(segs, seed=0, progress=lambda d, t: seen.append((d, t)))
    assert m.num_frames == 1200 and m.seconds == 60.0
    assert [s["start"] for s in m.info["segments"]] == list(range(0, 1200, 150))
    assert m.tokens.shape[0] == tb.tokens_for(1200)
    assert np.isfinite(m.joints).all()
    done = [d for d, _ in seen]
    assert done == sorted(done) and seen[-1][0] == seen[-1][1] and len({t for _, t in seen}) == 1


def test_predicted_lengths_and_the_one_segment_take(tiny):
    tb = tiny.timebase
    m = tiny.compose([("a person jumps", None), ("a person sits", None)], seed=1)
    a, b = m.info["segments"]
    assert a["start"] == 0 and a["end"] == b["start"] and b["end"] == m.num_frames
    for s in (a, b):
        assert tb.min_frames <= s["end"] - s["start"] <= tb.max_extend_frames
    one = tiny.compose([("a person jumps", 40)], seed=5)
    np.testing.assert_array_equal(one.joints, tiny.generate("a person jumps", 40, seed=5).joints)


def test_cancel_stops_the_compose(tiny):
    calls = []

    def stop_in_segment_two(done, total):
        calls.append(done)
        return done < total // 3

    with pytest.raises(GenerationCancelled):
        tiny.compose([("a", 40), ("b", 40), ("c", 40)], seed=0, progress=stop_in_segment_two)
    assert calls


@pytest.mark.parametrize("segments, error, match", [
    ([], ValueError, "no segments"),
    ("a person walks", TypeError, "list"),
    ([("a person walks", 40), ("  ", 40)], ValueError, "segment 2: the prompt is empty"),
    ([("a person walks", 40), ("a person waves", 7)], ValueError, "segment 2 length must be 8..188"),
    ([("a person walks", 189)], ValueError, "segment 1 length"),
    ([("a person walks", 4.5)], ValueError, "integer number of frames"),
    ([("a person walks",)], TypeError, "segment 1 must be a"),
])
def test_bad_timelines_are_refused(segments, error, match):
    with pytest.raises(error, match=match):
        check_segments(segments, HUMANML3D)


def test_recompose_refuses_what_it_cannot_do(tiny):
    m = tiny.compose([("a", 40), ("b", 40)], seed=0)
    plain = tiny.generate("a", 40, seed=0)
    with pytest.raises(ValueError, match="no segments"):
        tiny.recompose(plain, 0)
    with pytest.raises(ValueError, match="index must be 0..1"):
        tiny.recompose(m, 2)
    with pytest.raises(ValueError, match="prompt is empty"):
        tiny.recompose(m, 0, " ")
    with pytest.raises(ValueError, match="single segment"):
        tiny.recompose(tiny.compose([("a", 40)], seed=0), 0)


def test_recompose_blend_zero_is_a_hard_cut_at_the_segment_edges(tiny):
    """Front ends that blend keys themselves (the add-on) ask for blend=0: the segment's
    first frame is then the new motion's own, not a mix with the old one."""
    eng = tiny
    take = eng.compose([("a person walks", 24), ("a person waves", 24), ("a person bows", 24)],
                       seed=0, plant_feet=False)
    seg = take.info["segments"][1]
    soft = eng.recompose(take, 1, seed=5, plant_feet=False)
    hard = eng.recompose(take, 1, seed=5, plant_feet=False, blend=0)
    s, e = seg["start"], seg["end"]
    np.testing.assert_array_equal(hard.joints[:s], take.joints[:s])
    np.testing.assert_array_equal(hard.joints[e:], take.joints[e:])
    assert not np.allclose(hard.joints[s], soft.joints[s])
