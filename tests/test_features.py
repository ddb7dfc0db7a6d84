"""HumanML3D features <-> joints on the real reference sample (../shared/reference/humanml3d)."""
import numpy as np
import pytest
import torch

from bamm_core.motion import skeleton as S
from bamm_core.motion.features import (
    Normalizer, canonicalize, feature_groups, group_std, joints_to_features, recover_from_ric,
)


@pytest.fixture(scope="module")
def ref(shared_dir):
    d = shared_dir / "reference" / "humanml3d"
    return {k: np.load(d / f"{k}.npy") for k in
            ("new_joint_vecs_012314", "new_joints_012314", "Mean", "Std")}


def test_recover_from_ric_reproduces_reference_joints(ref):
    feats, joints = ref["new_joint_vecs_012314"], ref["new_joints_012314"]
    out = recover_from_ric(feats, joints_num=22)
    assert out.shape == (170, 22, 3)
    assert np.abs(out - joints).max() < 1e-4  # measured 1.2e-6 (float32 round-off)


def test_recover_from_ric_torch_batched_and_differentiable(ref):
    feats = torch.from_numpy(ref["new_joint_vecs_012314"]).requires_grad_(True)
    batch = torch.stack([feats, feats]).reshape(2, 1, 170, 263)
    out = recover_from_ric(batch, 22)
    assert out.shape == (2, 1, 170, 22, 3)
    assert (out[1, 0].detach().numpy() - ref["new_joints_012314"]).__abs__().max() < 1e-4
    out.sum().backward()
    assert torch.isfinite(feats.grad).all() and feats.grad.abs().sum() > 0


def test_target_skeleton_matches_reference_bone_lengths(ref):
    lengths = S.bone_lengths(ref["new_joints_012314"])
    np.testing.assert_allclose(lengths, np.broadcast_to(S.T2M_TARGET_BONE_LENGTHS, lengths.shape), atol=2e-6)


def test_joints_to_features_reproduces_reference_features(ref):
    """The reference joints are recover_from_ric(reference features) of the same clip: they are
    already on the target skeleton, on the floor, at the origin and facing +Z, so re-running the
    full pipeline on them must give the same features back.  Measured: rows 0..88 match to 7.8e-6
    in every dim.  The last ~80 rows differ slightly (max 0.013 in the 6-D rotations) only because
    the root facing is gaussian-smoothed (sigma 20, radius 80 frames) and the reference joints lack
    the clip's last frame (T frames -> T-1 rows), which changes the smoothing window near the end.
    Root height and foot contacts do not depend on the smoothing and match everywhere."""
    feats, joints = ref["new_joint_vecs_012314"], ref["new_joints_012314"]
    out = joints_to_features(joints)
    assert out.shape == (169, 263) and out.dtype == np.float32
    diff = np.abs(out - feats[:-1])
    assert diff[:169 - 81].max() < 1e-4
    g = feature_groups(22)
    assert diff[:, g["root_y"]].max() < 1e-5
    assert diff[:, g["foot_contact"]].max() == 0
    assert diff.max() < 0.03
    # and the result decodes back to the joints it came from
    assert np.abs(recover_from_ric(out) - joints[:-1]).max() < 1e-4


def test_features_are_invariant_to_scene_placement(ref):
    joints = ref["new_joints_012314"].astype(np.float64)
    yaw = np.radians(123.0)
    rot = np.array([[np.cos(yaw), 0, np.sin(yaw)], [0, 1, 0], [-np.sin(yaw), 0, np.cos(yaw)]])
    moved = joints @ rot.T + np.array([3.0, 0.5, -2.0])
    a, b = joints_to_features(joints), joints_to_features(moved)
    assert np.abs(a - b).max() < 1e-4


def test_canonicalize_and_transform_inverse(ref):
    joints = ref["new_joints_012314"].astype(np.float64)
    yaw = np.radians(-70.0)
    rot = np.array([[np.cos(yaw), 0, np.sin(yaw)], [0, 1, 0], [-np.sin(yaw), 0, np.cos(yaw)]])
    scene = joints @ rot.T + np.array([1.0, 0.2, 4.0])
    canon, tf = canonicalize(scene)
    np.testing.assert_allclose(canon, joints, atol=1e-6)       # reference is canonical already
    np.testing.assert_allclose(tf.apply(scene), canon, atol=1e-12)
    np.testing.assert_allclose(tf.inverse().apply(canon), scene, atol=1e-9)
    assert abs(canon[..., 1].min()) < 1e-9 and np.allclose(canon[0, 0, [0, 2]], 0)
    assert canon[0, 1, 0] > canon[0, 2, 0]  # left hip on +X when facing +Z
    tt = tf.inverse().apply(torch.from_numpy(canon))
    np.testing.assert_allclose(tt.numpy(), scene, atol=1e-9)
    with pytest.raises(ValueError):
        canonicalize(np.zeros((10, 21, 3)))


def test_normalizer_round_trip_and_group_std(ref):
    norm = Normalizer(ref["Mean"], ref["Std"])
    x = ref["new_joint_vecs_012314"]
    np.testing.assert_allclose(norm.denormalize(norm.normalize(x)), x, atol=1e-5)
    t = norm.normalize(torch.from_numpy(x))
    np.testing.assert_allclose(t.numpy(), norm.normalize(x), atol=1e-6)
    with pytest.raises(ValueError):
        norm.normalize(np.zeros((3, 251)))
    # the released Std has one value per feature group
    for sl in feature_groups(22).values():
        assert np.ptp(ref["Std"][sl]) < 1e-6
    gs = group_std(x)
    for sl in feature_groups(22).values():
        assert np.ptp(gs[sl]) < 1e-7
        np.testing.assert_allclose(gs[sl][0], x[:, sl].std(0).mean(), rtol=1e-5)


def test_kit_variant_has_251_dims(ref):
    # Build a 21-joint KIT-like motion from the reference by dropping spine2 (same chain shape is
    # not needed: only the layout and the round trip through recover_from_ric are checked).
    kit = S.KIT
    assert kit.feature_dim == 251 and kit.num_joints == 21
    rng = np.random.default_rng(0)
    base = rng.normal(size=(21, 3)) * 0.1 * 1000
    for j, p in enumerate(kit.parents):
        if p >= 0:
            base[j] = base[p] + kit.raw_offsets[j] * 200.0 + rng.normal(size=3) * 10
    t = np.arange(40)[:, None, None]
    joints = base[None] + np.array([0.0, 0.0, 20.0]) * t  # walk along +Z in mm
    feats = joints_to_features(joints, kind="kit")
    assert feats.shape == (39, 251)
    rec = recover_from_ric(feats, joints_num=21)
    canon, _ = canonicalize(joints, kind="kit")
    assert np.abs(rec - canon[:-1]).max() < 1e-3  # mm


def test_skeleton_ik_fk_round_trip_and_uniform_skeleton(ref):
    joints = ref["new_joints_012314"].astype(np.float64)
    skel = S.Skeleton(S.HUMANML3D)  # target offsets
    quats = skel.inverse_kinematics(joints)
    assert quats.shape == (170, 22, 4)
    np.testing.assert_allclose(np.linalg.norm(quats, axis=-1), 1.0, atol=1e-9)
    back = skel.forward_kinematics(quats, joints[:, 0])
    assert np.abs(back - joints).max() < 1e-5  # reference joints lie on the target skeleton
    # a bigger person (all bones x1.2, legs x1.2) is mapped back onto the target bone lengths,
    # with the root trajectory scaled by the leg ratio
    big = joints * 1.2
    uni = S.uniform_skeleton(big)
    np.testing.assert_allclose(S.bone_lengths(uni)[:, 1:], np.broadcast_to(S.T2M_TARGET_BONE_LENGTHS[1:], (170, 21)),
                               atol=1e-5)
    np.testing.assert_allclose(uni[:, 0], joints[:, 0], atol=1e-5)
    np.testing.assert_allclose(uni, joints, atol=1e-5)
    assert S.mirror_permutation()[:3] == [0, 2, 1]
