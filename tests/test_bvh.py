"""BVH reading/writing/FK on real files, and the SMPL-22 export (incl. Blender's importer)."""

import numpy as np
import pytest

from bamm_core.formats import bvh as B
from bamm_core.formats import smpl22_bvh as S
from bamm_core.motion.rotation_solver import normalize
from bamm_core.motion.rotations import euler_to_matrix
from bamm_core.rigs.bvh_joints import bvh_joints, read_bvh_joints

TAKE = "dataset-1_walk_normal_001"


@pytest.fixture(scope="module")
def bandai_take(extract_bandai, tmp_path_factory):
    return extract_bandai(tmp_path_factory.mktemp("bandai_bvh"), [TAKE]) / f"{TAKE}.bvh"


@pytest.fixture(scope="module")
def ref_joints(shared_dir):
    return np.load(shared_dir / "reference" / "humanml3d" / "new_joints_012314.npy")


def test_round_trip_real_bandai_take(bandai_take, tmp_path):
    a = B.read_bvh(bandai_take)
    assert len(a.joints) == 22 and a.names[0] == "joint_Root" and a.num_frames > 100  # 21 body joints + ground root and abs(a.fps - 30) < 1e-3
    assert all(len(j.channels) == 6 for j in a.joints)  # 6-channel non-root joints
    B.write_bvh(a, tmp_path / "rt.bvh")
    b = B.read_bvh(tmp_path / "rt.bvh")
    assert a.names == b.names and a.parents == b.parents
    assert [j.channels for j in a.joints] == [j.channels for j in b.joints]
    np.testing.assert_allclose(b.offsets, a.offsets, atol=1e-5)
    np.testing.assert_allclose(b.motion, a.motion, atol=1e-5)
    assert abs(a.frame_time - b.frame_time) < 1e-7
    np.testing.assert_allclose(b.forward_kinematics(), a.forward_kinematics(), atol=1e-4)


def test_round_trip_template(shared_dir, tmp_path):
    path = shared_dir / "reference" / "momask" / "smpl22_template.bvh"
    a = B.read_bvh(path)
    assert a.names == S.SMPL22_BVH_NAMES and a.parents == S.SMPL22_BVH_PARENTS
    np.testing.assert_allclose(a.offsets, S.SMPL22_BVH_OFFSETS, atol=1e-9)
    B.write_bvh(a, tmp_path / "t.bvh")
    b = B.read_bvh(tmp_path / "t.bvh")
    np.testing.assert_allclose(b.motion, a.motion, atol=1e-5)
    assert [j.end_site is not None for j in a.joints] == [j.end_site is not None for j in b.joints]


def test_fk_of_bandai_take_is_a_rigid_skeleton_with_left_on_plus_x(bandai_take):
    a = B.read_bvh(bandai_take)
    pos = a.forward_kinematics()
    par = a.parents
    lengths = np.stack([np.linalg.norm(pos[:, j] - pos[:, p], axis=-1) for j, p in enumerate(par) if p > 0], 1)
    assert np.ptp(lengths, axis=0).max() < 1e-3  # cm: bones keep their length through the take
    # the performer walks along +Z, so the *_L joints are on +X
    assert pos[-1, a.index("Hips"), 2] - pos[0, a.index("Hips"), 2] > 300
    assert (pos[:, a.index("UpperLeg_L"), 0] > pos[:, a.index("UpperLeg_R"), 0]).mean() > 0.95


def test_fk_channel_order_and_position_channels():
    text = """HIERARCHY
ROOT r
{
  OFFSET 5 5 5
  CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation
  JOINT c
  {
    OFFSET 0 1 0
    CHANNELS 3 Xrotation Yrotation Zrotation
    End Site
    {
      OFFSET 0 0 2
    }
  }
}
MOTION
Frames: 1
Frame Time: 0.05
1 2 3 90 0 0 0 90 0
"""
    b = B.parse_bvh(text)
    pos = b.forward_kinematics(end_sites=True)[0]
    np.testing.assert_allclose(pos[0], [1, 2, 3])                  # channels replace the OFFSET
    rz = euler_to_matrix(np.array([90.0, 0, 0]), "ZXY")
    np.testing.assert_allclose(pos[1], [1, 2, 3] + rz @ [0, 1, 0], atol=1e-12)
    ry = euler_to_matrix(np.array([0.0, 90, 0]), "XYZ")
    np.testing.assert_allclose(pos[2], pos[1] + rz @ ry @ [0, 0, 2], atol=1e-12)
    with pytest.raises(ValueError, match="expected 1 frames"):
        B.parse_bvh(text.replace("0 90 0\n", "0\n"))
    with pytest.raises(ValueError, match="unknown channel"):
        B.parse_bvh(text.replace("Zrotation Xrotation", "Wrotation Xrotation"))


def test_save_smpl22_bvh_reproduces_reference_positions(ref_joints, tmp_path):
    path = S.save_smpl22_bvh(ref_joints, tmp_path / "ref.bvh", fps=20)
    b = B.read_bvh(path)
    assert b.names == S.SMPL22_BVH_NAMES and b.parents == S.SMPL22_BVH_PARENTS
    assert [j.channels for j in b.joints][:2] == [S._ROOT_CHANNELS, S._JOINT_CHANNELS]
    assert b.num_frames == 170 and abs(b.frame_time - 0.05) < 1e-9
    # offsets: template directions (sibling bones of Hips/Spine2 within a few degrees)
    cosang = (normalize(b.offsets[1:], 1e-12) * normalize(S.SMPL22_BVH_OFFSETS[1:], 1e-12)).sum(-1)
    assert np.degrees(np.arccos(np.clip(cosang, -1, 1))).max() < 5.0
    joints = S.bvh_to_smpl22(b)
    err = np.linalg.norm(joints - ref_joints, axis=-1).max()
    assert err < 0.01  # measured 1.8e-6 m
    # exact template offsets are also available; positions then carry the bone-length mismatch
    bt = S.smpl22_bvh_from_joints(ref_joints, offsets="template")
    np.testing.assert_allclose(bt.offsets, S.SMPL22_BVH_OFFSETS)
    assert np.linalg.norm(S.bvh_to_smpl22(bt)[:, 0] - ref_joints[:, 0], axis=-1).max() < 1e-6
    with pytest.raises(ValueError):
        S.save_smpl22_bvh(ref_joints[:, :21], tmp_path / "bad.bvh")
    assert not (tmp_path / "bad.bvh").exists()


def test_bandai_to_smpl22_with_skeleton_map(bandai_take):
    j = bvh_joints(B.read_bvh(bandai_take), "bandai")
    assert j.shape[1:] == (22, 3)
    assert 0.8 < j[0, 0, 1] < 1.1                        # pelvis height in metres
    assert j[0, 1, 0] > j[0, 2, 0]                       # left hip on +X
    assert j[0, 15, 1] > j[0, 12, 1] > j[0, 9, 1] > j[0, 0, 1]
    with pytest.raises(ValueError, match="SMPL-22"):
        S.bvh_to_smpl22(B.read_bvh(bandai_take))


@pytest.mark.blender
def test_blender_imports_exported_bvh(ref_joints, tmp_path):
    bpy = pytest.importorskip("bpy")
    path = S.save_smpl22_bvh(ref_joints, tmp_path / "ref.bvh", fps=20)
    if not hasattr(bpy.ops.import_anim, "bvh"):
        import addon_utils

        addon_utils.enable("io_anim_bvh", default_set=True)
    before = set(bpy.data.objects)
    frame_before = bpy.context.scene.frame_current
    assert bpy.ops.import_anim.bvh(filepath=str(path)) == {"FINISHED"}
    new = [o for o in bpy.data.objects if o not in before]
    try:
        (arm,) = [o for o in new if o.type == "ARMATURE"]
        assert len(arm.data.bones) == 22
        assert sorted(b.name for b in arm.data.bones) == sorted(S.SMPL22_BVH_NAMES)
        start, end = arm.animation_data.action.frame_range
        assert int(end - start + 1) == 170
        scene = bpy.context.scene
        err = 0.0
        for f in (0, 85, 169):
            scene.frame_set(int(start) + f)
            for i, name in enumerate(S.SMPL22_BVH_NAMES):
                head = np.array(arm.matrix_world @ arm.pose.bones[name].head)
                p = ref_joints[f, S.SMPL22_BVH_TO_T2M[i]]
                err = max(err, np.abs(head - np.array([p[0], -p[2], p[1]])).max())  # Y-up -> Blender Z-up
    finally:  # leave the session's scene as we found it for other Blender tests
        bpy.context.scene.frame_set(frame_before)
        for o in new:
            action = o.animation_data.action if o.animation_data else None
            data = o.data
            bpy.data.objects.remove(o)
            if action is not None:
                bpy.data.actions.remove(action)
            if data is not None and data.users == 0:
                bpy.data.armatures.remove(data)
    assert err < 0.01  # measured 2.9e-6 m


def _max_rotation_step_deg(bvh: B.BVH) -> np.ndarray:
    """Largest frame-to-frame change of each joint's world rotation, degrees ``(22,)``."""
    from bamm_core.motion.rotations import matrix_to_quat

    rots, _ = bvh.local_transforms()
    world = np.zeros_like(rots)
    for j, p in enumerate(bvh.parents):
        world[:, j] = rots[:, j] if p < 0 else world[:, p] @ rots[:, j]
    q = matrix_to_quat(world)
    dots = np.abs((q[1:] * q[:-1]).sum(-1)).clip(0, 1)
    return np.degrees(2 * np.arccos(dots)).max(axis=0)


def test_exported_rotations_do_not_flip(bandai_take, ref_joints):
    """The twist of every bone is chosen continuously: on a real walk no joint's rotation jumps
    (measured max 26 deg per 20-fps frame, the swinging feet); on the reference sample, whose
    arms move fast, nothing turns by more than 86 deg between frames (a naive per-frame minimal
    twist flipped by up to 180 deg there, the retargeter's former per-frame bend normal 166)."""
    from bamm_core.motion.resampling import resample_positions

    walk = resample_positions(read_bvh_joints(bandai_take, "bandai")[0], 30, 20)
    assert _max_rotation_step_deg(S.smpl22_bvh_from_joints(walk)).max() < 40
    assert _max_rotation_step_deg(S.smpl22_bvh_from_joints(ref_joints)).max() < 90
