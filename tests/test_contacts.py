"""Foot contacts, two-bone leg IK, foot planting and the rigid skeleton on real clips and
generated walks."""
import copy

import numpy as np
import pytest

from bamm_core.motion.contacts import (
    FEET, contacts_from_features, debounce, floor_levels, foot_contacts, joint_speed, runs,
    skating_share,
)
from bamm_core.motion.delivery import deliver
from bamm_core.motion.features import joints_to_features
from bamm_core.motion.foot_planting import LEGS, plant_feet
from bamm_core.motion.leg_ik import two_bone_ik
from bamm_core.motion.rigid_skeleton import rigid_joints
from bamm_core.motion.skeleton import bone_lengths

WALK = "dataset-1_walk_normal_001"


@pytest.fixture(scope="module")
def h3d(shared_dir):
    d = shared_dir / "reference" / "humanml3d"
    return np.load(d / "new_joints_012314.npy"), np.load(d / "new_joint_vecs_012314.npy")


@pytest.fixture(scope="module")
def bandai_walk(extract_bandai, tmp_path_factory):
    from bamm_core.rigs.bvh_joints import read_bvh_joints

    src = extract_bandai(tmp_path_factory.mktemp("takes"), [WALK])
    return read_bvh_joints(src / f"{WALK}.bvh", "bandai")


@pytest.fixture(scope="module")
def engine():
    from bamm_core.generation.engine import Engine

    return Engine.from_pretrained()


def raw_rule(joints, fps, height=0.05, speed=0.6):
    """The documented rule without debouncing: ankle or toe low and slow."""
    lv = floor_levels(joints)
    out = np.zeros((len(joints), 2), bool)
    for side, (ankle, toe) in enumerate(FEET):
        p = joints[:, [ankle, toe]]
        out[:, side] = ((p[..., 1] - lv <= height) & (joint_speed(p, fps) <= speed)).any(1)
    return out


def test_debounce_fills_flickers_and_drops_blips():
    c = np.array([1, 1, 1, 0, 1, 1, 0, 0, 0, 1, 0, 0, 1, 1], bool)
    assert debounce(c).astype(int).tolist() == [1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 1, 1]
    assert runs(debounce(c)) == [(0, 6), (12, 14)]


@pytest.mark.parametrize("clip", ["humanml3d", "bandai"])
def test_contacts_follow_the_velocity_height_rule_on_real_clips(clip, request):
    if clip == "humanml3d":
        joints, fps = request.getfixturevalue("h3d")[0], 20.0
    else:
        joints, fps = request.getfixturevalue("bandai_walk")
    c = foot_contacts(joints, fps)
    assert c.shape == (len(joints), 2) and c.dtype == bool
    assert (c == raw_rule(joints, fps)).mean() > 0.95  # only debouncing differs
    for side in range(2):  # no one-frame contacts or gaps survive
        spans = runs(c[:, side])
        assert all(e - s >= 2 for s, e in spans)
        assert all(s2 - e1 >= 2 for (_, e1), (s2, _) in zip(spans, spans[1:]))
    if clip == "bandai":  # a walk: each foot lands several times, about half the time
        assert all(len(runs(c[:, side])) >= 3 for side in range(2))
        assert 0.3 < c.mean() < 0.75
        assert c.any(1).mean() > 0.9  # hardly ever both feet in the air


def test_feature_channels_agree_with_the_joints_and_name_the_right_foot(h3d, bandai_walk):
    joints, feats = h3d
    assert (contacts_from_features(feats) == foot_contacts(joints, 20)).mean() > 0.85
    from bamm_core.motion.resampling import resample_positions

    walk = resample_positions(bandai_walk[0], bandai_walk[1], 20.0)
    f = joints_to_features(walk)
    cf = contacts_from_features(np.concatenate([f, f[-1:]]))
    cj = foot_contacts(walk, 20)
    assert (cf == cj).mean() > 0.85
    # the feet alternate in a walk: the left channels match the left foot, not the right
    assert (cf[:, 0] == cj[:, 0]).mean() > (cf[:, 0] == cj[:, 1]).mean() + 0.2
    assert (cf[:, 1] == cj[:, 1]).mean() > (cf[:, 1] == cj[:, 0]).mean() + 0.2


def test_two_bone_ik_keeps_bone_lengths_and_reaches_reachable_targets():
    rng = np.random.default_rng(0)
    n = 500
    hip = rng.normal(size=(n, 3))
    knee = hip + rng.normal(size=(n, 3)) * 0.3
    ankle = knee + rng.normal(size=(n, 3)) * 0.3
    l1, l2 = np.linalg.norm(knee - hip, axis=1), np.linalg.norm(ankle - knee, axis=1)
    direction = rng.normal(size=(n, 3))
    direction /= np.linalg.norm(direction, axis=1, keepdims=True)
    reach = np.abs(l1 - l2) + rng.uniform(0.05, 0.95, n) * (l1 + l2 - np.abs(l1 - l2))
    target = hip + direction * reach[:, None]
    k, a = two_bone_ik(hip, knee, ankle, target)
    np.testing.assert_allclose(a, target, atol=1e-7)
    np.testing.assert_allclose(np.linalg.norm(k - hip, axis=1), l1, atol=1e-7)
    np.testing.assert_allclose(np.linalg.norm(a - k, axis=1), l2, atol=1e-7)
    # the knee stays in the bending plane (hip, target, old knee) and on the old knee's side
    normal = np.cross(target - hip, knee - hip)
    assert np.abs((normal * (k - hip)).sum(1)).max() < 1e-7 * np.abs(normal).max()
    axis = (target - hip) / reach[:, None]
    side = lambda p: (p - hip) - ((p - hip) * axis).sum(1, keepdims=True) * axis  # noqa: E731
    assert ((side(k) * side(knee)).sum(1) >= -1e-9).all()
    # too far: the leg straightens towards the target; the rig's own lengths are used
    far = hip + direction * (l1 + l2 + 1.0)[:, None]
    k2, a2 = two_bone_ik(hip, knee, ankle, far, lengths=(0.4, 0.5))
    np.testing.assert_allclose(np.linalg.norm(k2 - hip, axis=1), 0.4, atol=1e-7)
    np.testing.assert_allclose(np.linalg.norm(a2 - k2, axis=1), 0.5, atol=1e-7)
    np.testing.assert_allclose((a2 - hip) / np.linalg.norm(a2 - hip, axis=1, keepdims=True),
                               direction, atol=1e-6)
    # soft reach: exact below (1 - soft) x reach, then smoothly short of it, lengths kept
    dist = np.linspace(0.5, 1.2, 71)[:, None] * np.array([0.0, -0.9, 0.0])
    k3, a3 = two_bone_ik(np.zeros(3), np.array([0, -.4, .05]), np.array([0, -.9, 0]), dist,
                         soft=0.1)
    reach, full = np.linalg.norm(a3, axis=1), np.hypot(.4, .05) + np.hypot(.5, .05)
    near = np.linalg.norm(dist, axis=1) <= 0.9 * full
    np.testing.assert_allclose(a3[near], dist[near], atol=1e-9)
    assert (np.diff(reach) > 0).all() and reach.max() < full and (~near).sum() > 10
    np.testing.assert_allclose(np.linalg.norm(k3, axis=1), np.linalg.norm([0, .4, .05]))


def _contact_speed(joints: np.ndarray, fps: float, contacts: np.ndarray) -> float:
    """Mean horizontal speed (m/s) of the slower of ankle and toe over the contact steps."""
    both = contacts[1:] & contacts[:-1]
    speeds = [np.minimum(*(np.linalg.norm(np.diff(joints[:, i, [0, 2]], axis=0), axis=1)
                           for i in (ankle, toe)))[both[:, side]] * fps
              for side, (ankle, toe) in enumerate(FEET)]
    return float(np.concatenate(speeds).mean())


@pytest.fixture(scope="module")
def walk(engine):
    return engine.generate("a person walks forward", seed=0)


def test_planting_reduces_skating_of_a_generated_walk_and_keeps_the_root(walk):
    j, fps = walk.raw_joints, walk.fps
    c = foot_contacts(j, fps)
    p = plant_feet(j, c, fps)
    assert p.dtype == j.dtype and p.shape == j.shape
    moved = sorted({i for leg in LEGS for i in leg[1:]})
    kept = [i for i in range(22) if i not in moved]
    assert np.array_equal(p[:, kept], j[:, kept])  # root path, hips, upper body exact
    for hip, knee, ankle, _ in LEGS:  # thigh and shin keep their lengths in every frame
        for a, b in ((hip, knee), (knee, ankle)):
            np.testing.assert_allclose(np.linalg.norm(p[:, a] - p[:, b], axis=1),
                                       np.linalg.norm(j[:, a] - j[:, b], axis=1), atol=1e-5)
    for side, (ankle, _) in enumerate(FEET):  # the feet stand still within each contact
        for s, e in runs(c[:, side]):
            step = np.linalg.norm(np.diff(p[s:e, ankle, [0, 2]], axis=0), axis=1)
            assert np.median(step) < 1e-3 and step.max() < 0.01  # (soft reach: < 1 cm)
    assert skating_share(p, fps, c) <= skating_share(j, fps, c)
    # how fast the weight-bearing part of each foot moves during contacts (a continuous
    # measure: a good model's walk may have no step above the share's 0.3 m/s threshold)
    assert _contact_speed(p, fps, c) < 0.5 * _contact_speed(j, fps, c)
    # the engine's own contacts (the features' channels where the foot is low, whatever its
    # speed): delivery never adds sliding to the bundled model's walk ...
    raw = skating_share(j, fps, walk.contacts)
    assert skating_share(walk.joints, fps, walk.contacts) <= raw + 0.01
    # ... and when the prediction slides (each foot wobbles +-3 cm sideways through every
    # contact, up to 0.47 m/s), the delivered walk hardly does
    slid = copy.deepcopy(walk)
    slid.joints = j.copy()
    for side, (ankle, toe) in enumerate(FEET):
        for s, e in runs(walk.contacts[:, side]):
            wobble = 0.03 * np.sin(2 * np.pi * np.arange(e - s) / 8)
            slid.joints[s:e, [ankle, toe], 0] += wobble[:, None].astype(j.dtype)
    sliding = skating_share(slid.joints, fps, walk.contacts)
    assert sliding > 0.3
    assert skating_share(deliver(slid).joints, fps, walk.contacts) < 0.2 * sliding


def bone_variation(joints):
    b = bone_lengths(joints)[:, 1:]
    return (b.std(0) / b.mean(0)).max()


def test_rigid_skeleton_fixes_bone_lengths_and_keeps_real_motion(h3d, walk):
    joints = h3d[0]
    np.testing.assert_allclose(rigid_joints(joints), joints, atol=2e-5)  # already rigid
    raw = walk.raw_joints
    assert bone_variation(raw) > 0.02  # the prediction stretches its bones ...
    r = rigid_joints(raw)
    assert bone_variation(r) < 1e-5 and np.array_equal(r[:, 0], raw[:, 0])  # ... rigid does not
    assert np.linalg.norm(r - raw, axis=-1).mean() < 0.03  # and stays close to the prediction
    # the BVH export (rigid by nature) now shows exactly the delivered joints
    from bamm_core.formats.bvh import format_bvh, parse_bvh
    from bamm_core.formats.smpl22_bvh import bvh_to_smpl22, smpl22_bvh_from_joints

    def bvh_error(j):
        back = bvh_to_smpl22(parse_bvh(format_bvh(smpl22_bvh_from_joints(j))))
        return np.linalg.norm(back - j, axis=-1).max()

    assert bvh_error(walk.joints) < 1e-3 < 0.02 < bvh_error(raw)


def test_engine_plants_feet_by_default_and_keeps_the_raw_prediction(engine, walk):
    m = walk
    raw = engine.generate("a person walks forward", seed=0, plant_feet=False)
    assert np.array_equal(m.raw_joints, raw.raw_joints)
    assert bone_variation(raw.joints) < 1e-5 and bone_variation(m.joints) < 1e-5
    assert not np.array_equal(m.joints, raw.joints)
    assert m.contacts.shape == (m.num_frames, 2) and m.contacts.dtype == bool
    assert m.contacts.any(0).all() and not np.array_equal(m.joints, m.raw_joints)
    assert np.array_equal(m.joints[:, 0], m.raw_joints[:, 0])  # the root path is the model's
    # inpainting plants only inside the range; every frame outside it comes back exactly
    out = engine.inpaint(m, 30, 70, text="a person walks forward", seed=1)
    assert np.array_equal(out.joints[:30], m.joints[:30])
    assert np.array_equal(out.joints[70:], m.joints[70:])
    assert not np.array_equal(out.joints[30:70], out.raw_joints[30:70])
    off = engine.inpaint(m, 30, 70, text="a person walks forward", seed=1, plant_feet=False)
    assert np.array_equal(off.raw_joints, out.raw_joints)
    assert np.array_equal(off.joints[:30], m.joints[:30])
    assert np.array_equal(off.joints[70:], m.joints[70:])
    ext = engine.outpaint(m, extend_after=20, seed=1)
    assert np.array_equal(ext.joints[:m.num_frames], m.joints)
