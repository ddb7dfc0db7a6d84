"""The motion -> rig pipeline without Blender: fps round trips, edit ranges, the one edge
blend (0 = hard cut), facing, and BVH skeletons read onto the 22 joints with rig presets."""
from __future__ import annotations

import numpy as np
import pytest

from bamm_core.formats import bvh as B
from bamm_core.formats import smpl22_bvh as S
from bamm_core.motion.blending import edge_weights, smoothstep
from bamm_core.motion.facing import facing_direction, facing_yaw, rotate_about_y, wrap_angle
from bamm_core.rigs import pipeline as P
from bamm_core.rigs import presets as rp
from bamm_core.rigs import retargeting as rt
from bamm_core.rigs.bvh_joints import detect_bvh_preset, read_bvh_joints
from bamm_core.rigs.rest_pose import JOINT_NAMES
from bamm_core.rigs.templates import template_rest_pose


@pytest.fixture(scope="module")
def joints(shared_dir):
    return np.load(shared_dir / "reference" / "humanml3d" / "new_joints_012314.npy").astype(np.float64)


@pytest.fixture(scope="module")
def rig():
    rest = rt.RestPose.from_bones(template_rest_pose("mixamo", arms="A", up="Y", unit=100.0,
                                                     roll="random", seed=3))
    return rt.Retargeter(rest, rp.detect(rest.names)[1])


def test_kept_frames_map_back_exactly_so_no_alignment_is_needed(rig, joints):
    """rig_to_motion and motion_to_rig with its scale are inverses: an edit whose frames
    outside the range are the input's (the engine's guarantee) lands on the rig's own keys."""
    pose = P.motion_to_rig(rig, joints, 20, 20)
    back, scale = P.rig_to_motion(rig, pose.joints, 20, 20)
    assert back.dtype == np.float32 and back.shape == joints.shape
    again = P.motion_to_rig(rig, back, 20, 20, scale=scale)
    assert np.abs(again.joints - pose.joints).max() < 1e-3 * rig.leg_length  # float32 read-back only
    np.testing.assert_allclose(again.rotations, pose.rotations, atol=2e-3)


@pytest.mark.parametrize("scene_fps", [24, 30, 60])
def test_fps_round_trip(rig, joints, scene_fps):
    pose = P.motion_to_rig(rig, joints, 20, scene_fps)
    n_scene = int(np.floor((len(joints) - 1) * scene_fps / 20)) + 1  # the same time span
    assert len(pose.rotations) == n_scene
    assert P.scene_frames_for(40, 20, scene_fps) == round(2 * scene_fps)  # 2 s added
    back, scale = P.rig_to_motion(rig, rig.fk(pose), scene_fps, 20)
    assert abs(len(back) - len(joints)) <= 1
    n = min(len(back), len(joints))
    d_back, d_ref = back[:n, 4] - back[:n, 1], joints[:n, 4] - joints[:n, 1]  # thighs
    cos = np.sum(d_back * d_ref, -1) / np.linalg.norm(d_back, axis=-1) / np.linalg.norm(d_ref, axis=-1)
    assert np.degrees(np.arccos(np.clip(cos, -1, 1))).max() < 2.0
    # n_out pads with the last frame / trims; frames= solves only part of the clip
    padded = P.motion_to_rig(rig, back, 20, scene_fps, scale=scale, n_out=n_scene + 5)
    assert len(padded.rotations) == n_scene + 5
    np.testing.assert_array_equal(padded.joints[-1], padded.joints[-6])
    part = P.motion_to_rig(rig, back, 20, scene_fps, scale=scale, frames=slice(10, 20))
    assert len(part.rotations) == 10
    np.testing.assert_allclose(part.joints, padded.joints[10:20], atol=1e-5)


def test_scene_range_to_model():
    assert P.scene_range_to_model(30, 50, 10, 20, 20, 100) == (20, 41)
    s, e = P.scene_range_to_model(31, 52, 1, 30, 20, 100)  # scene frames 30..51 after a0
    assert s / 20 <= 30 / 30 and (e - 1) / 20 >= 51 / 30 and (e - s) <= (51 - 30) * 20 / 30 + 3
    assert P.scene_range_to_model(0, 1000, 0, 30, 20, 40) == (0, 40)  # clipped to the motion
    with pytest.raises(ValueError, match="reversed"):
        P.scene_range_to_model(30, 20, 0, 24, 20, 100)
    with pytest.raises(ValueError, match="before the action"):
        P.scene_range_to_model(3, 20, 5, 24, 20, 100)


def test_blend_zero_is_a_hard_cut_and_blends_ramp_from_the_kept_side():
    old = np.tile([1.0, 0, 0, 0], (12, 1))
    new = np.tile([0.0, 0, 0, 1.0], (12, 1))
    w = edge_weights(12, 0)
    np.testing.assert_array_equal(w, 1.0)
    np.testing.assert_array_equal(rt.nlerp(old, new, w), new)  # keys replaced, nothing mixed
    w = edge_weights(12, 3)
    assert 0 < w[0] < w[1] < w[2] < 1 and np.all(w[3:9] == 1) and np.allclose(w, w[::-1])
    after = edge_weights(6, 2, at_start=True, at_end=False)  # frames appended after a motion
    before = edge_weights(6, 2, at_start=False, at_end=True)  # frames put before it
    np.testing.assert_array_equal(after, before[::-1])
    assert after[0] < after[1] < 1 and np.all(after[2:] == 1)
    np.testing.assert_array_equal(edge_weights(5, 4, at_start=False, at_end=False), 1.0)
    assert smoothstep(0.5) == 0.5 and smoothstep(-1) == 0 and smoothstep(2) == 1
    with pytest.raises(ValueError):
        edge_weights(5, -1)


def test_facing_yaw_and_rotation(joints):
    assert abs(facing_yaw(joints[0])) < 1e-3  # HumanML3D faces +Z at frame 0
    turned = rotate_about_y(joints, 0.7, joints[:, 0] * [1, 0, 1])
    np.testing.assert_allclose(wrap_angle(facing_yaw(turned) - facing_yaw(joints)), 0.7, atol=1e-9)
    np.testing.assert_allclose(turned[:, 0], joints[:, 0], atol=1e-12)  # pivot stays
    yaw = facing_yaw(joints)
    fwd = facing_direction(joints)
    np.testing.assert_allclose(fwd, np.stack([np.sin(yaw), 0 * yaw, np.cos(yaw)], -1), atol=1e-9)


def _renamed_export(joints, preset, path):
    """Our SMPL-22 export with each joint renamed to the preset's first bone name."""
    b = S.smpl22_bvh_from_joints(joints[:20])
    for jt, t in zip(b.joints, S.SMPL22_BVH_TO_T2M):
        jt.name = preset.joints[JOINT_NAMES[t]][0]
    return B.write_bvh(b, path)


def test_every_known_preset_reads_a_bvh_and_unknown_names_list_them(joints, tmp_path, bandai_take):
    with pytest.raises(ValueError) as err:
        read_bvh_joints(bandai_take, "no_such_rig")
    known = str(err.value).split("known: ")[1].split(";")[0].split(", ")
    assert known == rp.preset_names() and "mixamo" in known and "bandai" in known
    for name in known:
        p = rp.get_preset(name)
        if len(p.joints) < 22:  # a mocap skeleton: read a real take
            assert name == "bandai"
            got, fps = read_bvh_joints(bandai_take, name)
            assert got.shape[1:] == (22, 3) and abs(fps - 30) < 1e-3 and 0.8 < got[0, 0, 1] < 1.1
            continue
        path = _renamed_export(joints, p, tmp_path / f"{name}.bvh")
        got, fps = read_bvh_joints(path, name)
        assert abs(fps - 20) < 1e-6
        np.testing.assert_allclose(got, joints[:20], atol=1e-4)
        assert detect_bvh_preset(B.read_bvh(path)).name == name
        np.testing.assert_allclose(read_bvh_joints(path)[0], got)  # auto-detected
    # our own export: auto-detected, and "smpl22" names it
    path = S.save_smpl22_bvh(joints[:20], tmp_path / "ours.bvh")
    for preset in (None, "smpl22"):
        np.testing.assert_allclose(read_bvh_joints(path, preset)[0], joints[:20], atol=1e-4)
    # bandai auto-detected too; a preset lacking joints says which
    np.testing.assert_array_equal(read_bvh_joints(bandai_take)[0], read_bvh_joints(bandai_take, "bandai")[0])
    with pytest.raises(ValueError, match="finds no joint for .*left_hip"):
        read_bvh_joints(bandai_take, "mixamo")


@pytest.fixture(scope="module")
def bandai_take(extract_bandai, tmp_path_factory):
    name = "dataset-1_walk_normal_001"
    return extract_bandai(tmp_path_factory.mktemp("bandai_rigs"), [name]) / f"{name}.bvh"


def test_range_weights_keep_the_border_keys_and_fade_in_between():
    from bamm_core.rigs.pipeline import range_weights

    np.testing.assert_array_equal(range_weights(10, 0), 1.0)  # hard cut
    w = range_weights(10, 3)
    assert w[0] == w[-1] == 0.0  # the attachment keys keep the existing pose
    np.testing.assert_allclose(w[1:-1], edge_weights(8, 2))
    assert np.all(np.diff(w[:4]) > 0) and np.allclose(w, w[::-1])
