"""Foot locking on the rig (numpy, no Blender): pinned feet, kept bones, smooth release, skips."""
from __future__ import annotations

import numpy as np
import pytest

from bamm_core.motion.contacts import runs
from bamm_core.motion.leg_ik import two_bone_ik
from bamm_core.rigs import pipeline
from bamm_core.rigs import presets as rp
from bamm_core.rigs.rest_pose import smpl_rest_joints
from bamm_core.rigs.retargeting import Retargeter, RestPose
from bamm_core.rigs.rig_feet import LEG_JOINTS, contacts_at, feet_problem, plant_rig_feet
from bamm_core.rigs.templates import template_rest_pose

FPS, SCENE_FPS = 20.0, 30.0


def synthetic_walk(n: int = 60, speed: float = 0.8, slide: float = 0.01) -> tuple[np.ndarray, np.ndarray]:
    """A walk (T, 22, 3) at 20 fps facing +Z and its (T, 2) contacts: each foot rests 12 of 20
    frames, sliding ``slide`` m per frame backwards while it rests (a skating motion), and swings
    forward otherwise; the legs reach their feet with two-bone IK."""
    rest = smpl_rest_joints("T")
    rest = rest - [0, rest[[10, 11], 1].min(), 0]
    t = np.arange(n)
    body = np.repeat(rest[None], n, 0)
    body[:, :, 2] += (speed / FPS * t)[:, None]
    body[:, :, 1] -= 0.06                           # knees a little bent
    contacts = np.zeros((n, 2), bool)
    for side, (hip, knee, ankle, toe) in enumerate(((1, 4, 7, 10), (2, 5, 8, 11))):
        phase = (t + 10 * side) % 20
        stance = phase < 12
        contacts[:, side] = stance
        feet = np.empty((n, 3))
        for k in range(n):
            cycle_start = k - phase[k]
            landing = rest[ankle] + [0, 0, speed / FPS * (cycle_start + 6)]
            if stance[k]:
                feet[k] = landing - [0, 0, slide * phase[k]]
            else:  # swing from the lift-off point to the next landing
                a = landing - [0, 0, slide * 11]
                b = landing + [0, 0, speed]
                u = (phase[k] - 11) / 9
                feet[k] = a + (b - a) * u + [0, 0.08 * np.sin(np.pi * u), 0]
        new_knee, new_ankle = two_bone_ik(body[:, hip], body[:, knee], body[:, ankle], feet,
                                          pole=body[:, knee] + [0, 0, 1.0])  # knees bend forward
        body[:, toe] += new_ankle - body[:, ankle]
        body[:, knee], body[:, ankle] = new_knee, new_ankle
    return body, contacts


def make_rig(preset: str = "mixamo", drop=(), reparent=None, **kw) -> Retargeter:
    bones = template_rest_pose(preset, **kw)
    if drop:
        bones = [b for b in bones if b["name"] not in drop]
    for b in bones:
        if reparent and b["name"] in reparent:
            b["parent"] = reparent[b["name"]]
    rest = RestPose.from_bones(bones)
    return Retargeter(rest, rp.detect(rest.names)[1])


def _bone(joint: str) -> str:
    """The template Mixamo rig's bone for a joint."""
    p = rp.get_preset("mixamo")
    return p.template.get("prefix", "") + p.joints[joint][0]


#: an A-pose, Y-up centimetre rest (like an FBX import) with 1.3x longer legs, random bone rolls
ODD = dict(arms="A", up="Y", unit=100.0, leg_scale=1.3, roll="random", seed=3)


@pytest.fixture(scope="module")
def walk():
    return synthetic_walk()


def _span_drift(r: Retargeter, fk: np.ndarray, contacts: np.ndarray, trim: int = 0) -> float:
    """Largest horizontal distance (armature units) of a foot bone's head from where it was at
    the start of its contact span (spans trimmed by ``trim`` frames at each end)."""
    up = r.axes[:, 2]
    worst = 0.0
    for side, ankle in enumerate((7, 8)):
        for s, e in runs(contacts[:, side]):
            p = fk[s + trim:e - trim, ankle]
            if len(p) < 2:
                continue
            d = p - p[0]
            d -= np.outer(d @ up, up)
            worst = max(worst, float(np.linalg.norm(d, axis=-1).max()))
    return worst


def test_pinned_foot_stays_put_on_an_a_pose_centimetre_rig_with_longer_legs(walk):
    joints, contacts = walk
    r = make_rig(**ODD)
    c = contacts_at(contacts, len(pipeline.to_fps(joints, FPS, SCENE_FPS)), FPS, SCENE_FPS)
    off = r.fk(pipeline.motion_to_rig(r, joints, FPS, SCENE_FPS))
    on = r.fk(pipeline.motion_to_rig(r, joints, FPS, SCENE_FPS, contacts=contacts))
    # 1 cm/frame slide of a 0.85 m leg, 1.3x longer -> ~1.3 cm per source frame on this rig
    assert _span_drift(r, off, c) > 10.0                  # centimetres: it skated before
    assert _span_drift(r, on, c) < 0.5                    # and stays within 5 mm now
    # the rig stands on its own ground: pinned feet never sink below the rest foot height
    assert (on[:, [7, 8]] @ r.axes[:, 2]).min() >= r.rest_foot_height - 1e-3


def test_bone_lengths_kept_and_only_leg_bones_change(walk):
    joints, contacts = walk
    r = make_rig(**ODD)
    off = pipeline.motion_to_rig(r, joints, FPS, SCENE_FPS)
    on = pipeline.motion_to_rig(r, joints, FPS, SCENE_FPS, contacts=contacts)
    fk = r.fk(on)
    for a, b in ((1, 4), (4, 7), (7, 10), (2, 5), (5, 8), (8, 11)):
        rest_len = np.linalg.norm(r.rest_joints[b] - r.rest_joints[a])
        np.testing.assert_allclose(np.linalg.norm(fk[:, b] - fk[:, a], axis=-1), rest_len, rtol=1e-4)
    legs = [k for k, j in enumerate(r.joints) if j in LEG_JOINTS]
    others = [k for k, j in enumerate(r.joints) if j not in LEG_JOINTS]
    assert np.array_equal(on.rotations[:, others], off.rotations[:, others])
    assert np.array_equal(on.root_location, off.root_location)
    assert not np.allclose(on.rotations[:, legs], off.rotations[:, legs], atol=1e-3)
    assert np.allclose(np.linalg.norm(on.rotations, axis=-1), 1.0, atol=1e-5)


def test_pin_is_released_smoothly(walk):
    joints, contacts = walk
    r = make_rig(**ODD)
    off = r.fk(pipeline.motion_to_rig(r, joints, FPS, SCENE_FPS))
    on = r.fk(pipeline.motion_to_rig(r, joints, FPS, SCENE_FPS, contacts=contacts))
    hard = r.fk(plant_rig_feet(r, pipeline.motion_to_rig(r, joints, FPS, SCENE_FPS),
                               contacts_at(contacts, len(off), FPS, SCENE_FPS), SCENE_FPS,
                               release_frames=0)[0])

    def step(x):  # largest per-frame change of the correction of the foot bones' heads
        return float(np.linalg.norm(np.diff(x[:, [7, 8]] - off[:, [7, 8]], axis=0), axis=-1).max())

    assert step(hard) > 5.0                  # cm: a hard pin jumps back when it is released
    assert step(on) < 0.6 * step(hard)       # the smooth release spreads it over the ramp


def test_missing_toe_bones_still_lock(walk):
    joints, contacts = walk
    toes = {_bone("left_foot"), _bone("right_foot")}
    r = make_rig(drop=toes, extra_bones=False, **ODD)
    assert 10 not in r.map and feet_problem(r) is None
    c = contacts_at(contacts, len(pipeline.to_fps(joints, FPS, SCENE_FPS)), FPS, SCENE_FPS)
    on = r.fk(pipeline.motion_to_rig(r, joints, FPS, SCENE_FPS, contacts=contacts))
    assert _span_drift(r, on, c) < 0.5


def test_rig_without_recognisable_feet_is_skipped_with_a_message(walk):
    joints, contacts = walk
    # detached foot controls: the foot bones hang under the hips, not under the shins
    detached = {_bone("left_ankle"): _bone("pelvis"), _bone("right_ankle"): _bone("pelvis")}
    r = make_rig(reparent=detached, extra_bones=False)
    message = pipeline.feet_message(r)
    assert message.startswith("Plant feet skipped") and _bone("left_ankle") in message
    off = pipeline.motion_to_rig(r, joints, FPS, SCENE_FPS)
    on = pipeline.motion_to_rig(r, joints, FPS, SCENE_FPS, contacts=contacts)
    assert np.array_equal(on.rotations, off.rotations)
    pose, msg = plant_rig_feet(r, off, np.ones((len(off.rotations), 2), bool), SCENE_FPS)
    assert pose is off and msg == message


def test_contacts_at_resamples_by_time_and_checks_shape():
    c = np.array([[1, 0], [1, 0], [0, 1], [0, 1]], bool)
    assert contacts_at(c, 6, 20, 30)[:, 0].tolist() == [True, True, True, False, False, False]
    with pytest.raises(ValueError, match=r"\(T, 2\)"):
        contacts_at(np.ones(4, bool), 6, 20, 30)
    r = make_rig("smpl22")
    pose = pipeline.motion_to_rig(r, synthetic_walk(10)[0], FPS, FPS)
    with pytest.raises(ValueError, match="contacts must be"):
        plant_rig_feet(r, pose, np.ones((3, 2), bool), FPS)


def test_jobs_field_plant_feet_is_a_validated_bool():
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
    import bake_jobs

    job = {"prompt": "a person walks"}
    assert bake_jobs.validate_jobs([job])[0].plant_feet is True            # on by default
    for value, want in ((False, False), ("false", False), ("yes", True), (0, False), (1, True)):
        assert bake_jobs.validate_jobs([{**job, "plant_feet": value}])[0].plant_feet is want
    for bad in ("maybe", 2, 0.5, [True]):
        with pytest.raises(bake_jobs.JobsFileError, match="field 'plant_feet': must be true or false"):
            bake_jobs.validate_jobs([{**job, "plant_feet": bad}])
