"""Retargeting (numpy, no Blender): positions -> bone rotations -> FK on every preset's rest."""
from __future__ import annotations

import json
import tarfile

import numpy as np
import pytest

from bamm_core.motion.blending import edge_weights
from bamm_core.motion.resampling import resample_positions
from bamm_core.rigs import presets as rp
from bamm_core.rigs import rest_pose as rpose
from bamm_core.rigs import retargeting as rt
from bamm_core.rigs.bvh_joints import bvh_joints
from bamm_core.rigs.templates import template_rest_pose

# rest-pose variants: T-pose Z-up; A-pose with random rolls; Y-up centimetres (like an FBX
# import's armature space) with longer legs and random rolls
VARIANTS = {
    "T": dict(),
    "A-roll": dict(arms="A", roll="random", seed=1),
    "Yup-cm-longlegs": dict(up="Y", unit=100.0, leg_scale=1.2, roll="random", seed=2),
}


# presets with a bone for every joint (bandai's spine2 is a point between two BVH joints)
FULL_RIG_PRESETS = [p.name for p in rp.registry().values() if len(p.joints) == 22]


def _angle_deg(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a / np.linalg.norm(a, axis=-1, keepdims=True)
    b = b / np.linalg.norm(b, axis=-1, keepdims=True)
    return np.degrees(np.arccos(np.clip(np.sum(a * b, -1), -1.0, 1.0)))


def _direction_errors(r: rt.Retargeter, fk: np.ndarray, target: np.ndarray) -> dict[str, float]:
    """Max angle (deg) per mapped segment (joint -> next mapped joint, or the joint its bone's
    tail stands for when no bone further down is mapped), plus the hip line."""
    out = {"hips across": float(_angle_deg(fk[:, 1] - fk[:, 2], target[:, 1] - target[:, 2]).max())}
    for j in r.joints:
        c = r.child[j]
        if j == 0 or c is None:
            continue
        out[f"{rt.JOINT_NAMES[j]}->{rt.JOINT_NAMES[c]}"] = float(
            _angle_deg(fk[:, c] - fk[:, j], target[:, c] - target[:, j]).max())
    return out


@pytest.fixture(scope="module")
def humanml3d_joints(shared_dir):
    return np.load(shared_dir / "reference" / "humanml3d" / "new_joints_012314.npy").astype(np.float64)


@pytest.fixture(scope="module")
def bandai_joints(shared_dir):
    """One Bandai Namco take (run, 30 fps) mapped to the 22 joints, resampled to 20 fps."""
    from bamm_core.formats import bvh

    path = shared_dir / "data" / "bandai-namco" / "bandai-namco-dataset-2-locomotion-dev.tar.xz"
    if not path.is_file():
        pytest.skip("Bandai Namco archive not found")
    with tarfile.open(path, "r:xz") as tf:
        member = next(m for m in tf if m.name.endswith(".bvh"))
        text = tf.extractfile(member).read().decode()
    joints = bvh_joints(bvh.parse_bvh(text, member.name), "bandai")
    return resample_positions(joints, 30, 20)


def _rig(preset: str, variant: str, **kw) -> rt.Retargeter:
    bones = template_rest_pose(preset, **{**VARIANTS[variant], **kw})
    rest = rt.RestPose.from_bones(bones)
    found, mapping = rp.detect(rest.names)
    assert found.name == preset
    return rt.Retargeter(rest, mapping)


@pytest.mark.parametrize("variant", list(VARIANTS))
@pytest.mark.parametrize("preset", FULL_RIG_PRESETS)
def test_fk_reproduces_joint_directions_on_mocap(preset, variant, humanml3d_joints, bandai_joints):
    r = _rig(preset, variant)
    for name, motion in (("humanml3d", humanml3d_joints), ("bandai", bandai_joints)):
        pose = r.retarget(motion)
        assert pose.rotations.shape == (len(motion), len(r.joints), 4)
        errs = _direction_errors(r, r.fk(pose), pose.joints)
        assert len(errs) >= 17, errs  # every limb and spine segment checked
        worst = max(errs, key=errs.get)
        assert errs[worst] < 2.0, f"{name}: {worst} off by {errs[worst]:.2f} deg"
        # the retargeted target is the motion itself, linearly mapped and scaled: directions
        # of the motion's own segments are what FK reproduces
        back = r.rig_to_motion(pose.joints, r.motion_scale(motion))
        d_src = motion[:, 18] - motion[:, 16]
        assert _angle_deg(back[:, 18] - back[:, 16], d_src).max() < 1e-3


def test_quaternions_are_unit_and_continuous(humanml3d_joints):
    pose = _rig("mixamo", "A-roll").retarget(humanml3d_joints)
    q = pose.rotations.astype(np.float64)
    assert np.allclose(np.linalg.norm(q, axis=-1), 1.0, atol=1e-5)
    assert (np.sum(q[1:] * q[:-1], axis=-1) > 0).all()


def test_blender_axes_character_faces_minus_y_and_left_is_plus_x(humanml3d_joints):
    """HumanML3D faces +Z (Y up) at frame 0; on a Z-up rig it must face -Y with its left at +X."""
    r = _rig("smpl22", "T")
    x = r.retarget(humanml3d_joints).joints[0].astype(np.float64)
    left = x[1] - x[2] + x[16] - x[17]
    up = x[12] - x[0]
    fwd = np.cross(left, up)
    assert np.argmax(np.abs(fwd)) == 1 and fwd[1] < 0, fwd
    assert left[0] > 0 and up[2] > 0
    # same motion on a Y-up (FBX-like) rig: the rig's own axes (+Y up, +Z forward) are used
    ry = _rig("smpl22", "Yup-cm-longlegs")
    xy = ry.retarget(humanml3d_joints).joints[0].astype(np.float64)
    fwd_y = np.cross(xy[1] - xy[2] + xy[16] - xy[17], xy[12] - xy[0])
    assert np.argmax(np.abs(fwd_y)) == 2 and fwd_y[2] > 0


def test_feet_reach_ground_and_hips_stay_within_leg_length(humanml3d_joints, bandai_joints):
    for preset, variant in (("smpl22", "T"), ("ue5_mannequin", "Yup-cm-longlegs")):
        r = _rig(preset, variant)
        up = r.axes[:, 2]
        for motion in (humanml3d_joints, bandai_joints):
            fk = r.fk(r.retarget(motion))
            feet = fk[:, [7, 8, 10, 11]] @ up
            assert abs(feet.min() - r.rest_foot_height) < 1e-3 * r.leg_length  # touches, no sinking
            hips = fk[:, 0] @ up - r.rest_foot_height
            assert (hips > 0.5 * r.leg_length).all() and (hips < 1.4 * r.leg_length).all()


def test_root_motion_scales_with_leg_length_and_in_place_keeps_it(humanml3d_joints):
    short = _rig("mixamo", "T")
    long_ = _rig("mixamo", "T", leg_scale=1.3)
    d = {}
    for name, r in (("short", short), ("long", long_)):
        p = r.retarget(humanml3d_joints).joints
        d[name] = np.linalg.norm((p[-1, 0] - p[0, 0])[:2])
    ratio = long_.leg_length / short.leg_length
    assert d["long"] / d["short"] == pytest.approx(ratio, rel=1e-4)
    p = short.retarget(humanml3d_joints, in_place=True).joints
    horiz = p[:, 0, :2]
    assert np.abs(horiz - short.rest_joints[0, :2]).max() < 1e-5
    # in place keeps the vertical motion
    assert np.ptp(p[:, 0, 2]) > 0.1


def test_missing_optional_bones_are_skipped(humanml3d_joints):
    bones = template_rest_pose("mixamo", arms="A", roll="random", seed=3)
    drop = {"mixamorig:Spine1", "mixamorig:LeftShoulder", "mixamorig:RightShoulder",
            "mixamorig:LeftToeBase", "mixamorig:RightHand", "mixamorig:Neck"}
    kept = [b for b in bones if b["name"] not in drop]
    names = {b["name"] for b in kept}
    for b in kept:  # re-parent children of removed bones
        while b["parent"] and b["parent"] not in names:
            b["parent"] = next(x["parent"] for x in bones if x["name"] == b["parent"])
    rest = rt.RestPose.from_bones(kept)
    preset, mapping = rp.detect(rest.names)
    assert preset.name == "mixamo" and len(mapping) == 22 - len(drop)
    r = rt.Retargeter(rest, mapping)
    pose = r.retarget(humanml3d_joints)
    errs = _direction_errors(r, r.fk(pose), pose.joints)
    assert "spine1->spine3" in errs and "left_ankle->left_foot" in errs  # bridged / via bone tail
    assert max(errs.values()) < 2.0, errs


def test_no_recognisable_bones_is_a_clear_error():
    with pytest.raises(rt.RetargetError, match="no recognisable bones"):
        rp.detect(["Bone", "Bone.001", "Bone.002"])
    rest = rt.RestPose.from_bones(template_rest_pose("mixamo"))
    with pytest.raises(rt.RetargetError, match="lacks bones for .*left_knee"):
        rt.Retargeter(rest, {"pelvis": "mixamorig:Hips", "left_hip": "mixamorig:LeftUpLeg"})


def test_detection_namespaces_and_custom_json_map(tmp_path, humanml3d_joints):
    bones = template_rest_pose("mixamo")
    for b in bones:  # another Mixamo namespace
        b["name"] = b["name"].replace("mixamorig:", "mixamorig7:")
        b["parent"] = b["parent"] and b["parent"].replace("mixamorig:", "mixamorig7:")
    rest = rt.RestPose.from_bones(bones)
    preset, mapping = rp.detect(rest.names)
    assert preset.name == "mixamo" and mapping["pelvis"] == "mixamorig7:Hips"
    # custom map: rename the SMPL template's bones and describe them in JSON
    smpl = template_rest_pose("smpl22")
    rename = {b["name"]: f"B{i:02d}" for i, b in enumerate(smpl)}
    for b in smpl:
        b["name"], b["parent"] = rename[b["name"]], b["parent"] and rename[b["parent"]]
    path = tmp_path / "my_rig.json"
    path.write_text(json.dumps({"joints": {k: v for k, v in rename.items()}}))
    custom = rp.load_preset(path)
    rest = rt.RestPose.from_bones(smpl)
    with pytest.raises(rt.RetargetError):
        rp.detect(rest.names)
    r = rt.Retargeter(rest, custom.match(rest.names))
    pose = r.retarget(humanml3d_joints)
    assert max(_direction_errors(r, r.fk(pose), pose.joints).values()) < 2.0
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"joints": {"left_pinky": "X"}}))
    with pytest.raises(ValueError, match="unknown joint 'left_pinky'"):
        rp.load_preset(bad)


def test_roll_to_matrix_is_a_rotation_with_y_along_the_bone():
    rng = np.random.default_rng(0)
    heads = rng.normal(size=(50, 3))
    tails = heads + rng.normal(size=(50, 3))
    tails[0] = heads[0] + [0, -1, 0]  # the antiparallel special case
    m = rpose.roll_to_matrix(heads, tails, rng.uniform(-3, 3, 50))
    assert np.allclose(m @ np.swapaxes(m, -1, -2), np.eye(3), atol=1e-9)
    assert np.allclose(np.linalg.det(m), 1.0)
    d = (tails - heads) / np.linalg.norm(tails - heads, axis=-1, keepdims=True)
    assert np.allclose(m[..., :, 1], d, atol=1e-9)


def test_read_back_round_trip_through_scene_fps(humanml3d_joints):
    """motion (20 fps) -> rig at 30 fps -> FK -> back to 20 fps motion: same directions."""
    r = _rig("rigify_metarig", "A-roll")
    scale = r.motion_scale()
    x30 = resample_positions(r.motion_to_rig(humanml3d_joints, scale), 20, 30)
    fk = r.fk(r.solve(x30))
    back = resample_positions(r.rig_to_motion(fk, scale), 30, 20)
    n = len(back)  # 170 frames -> 254 at 30 fps -> 169 at 20 fps (the last partial step drops)
    assert n == len(humanml3d_joints) - 1
    ref = humanml3d_joints[:n]
    err = _angle_deg(back[:, 4] - back[:, 1], ref[:, 4] - ref[:, 1])
    assert err.max() < 2.0
    # the pelvis path survives the round trip (positions are the rig's; same frame)
    assert np.abs(back[:, 0] - ref[:, 0]).max() < 0.05


def test_blend_weights_fade_in_and_out():
    w = np.pad(edge_weights(19, 4), 1)  # 19 new frames between two kept keys (weight 0)
    assert w[0] == 0 and w[-1] == 0 and np.all(w[5:16] == 1.0)
    assert np.all(np.diff(w[:6]) > 0)
    q0 = np.tile([1.0, 0, 0, 0], (21, 1))
    q1 = np.tile([0.0, 0, 0, 1.0], (21, 1))
    q = rt.nlerp(q0, -q1, w)  # sign of q1 must not matter
    assert np.allclose(q[0], q0[0]) and np.allclose(np.abs(q[10]), q1[0])


def test_ue5_and_ue4_spines_both_match():
    ue = rp.get_preset("ue5_mannequin")
    common = ["root", "pelvis", "thigh_l", "thigh_r", "calf_l", "calf_r", "foot_l", "foot_r", "neck_01",
              "head", "clavicle_l", "clavicle_r", "upperarm_l", "upperarm_r", "lowerarm_l", "lowerarm_r",
              "hand_l", "hand_r", "upperarm_twist_01_l"]
    m5 = ue.match(common + ["spine_01", "spine_02", "spine_03", "spine_04", "spine_05"])
    assert (m5["spine1"], m5["spine2"], m5["spine3"]) == ("spine_01", "spine_03", "spine_05")
    m4 = ue.match(common + ["spine_01", "spine_02", "spine_03"])
    assert (m4["spine1"], m4["spine2"], m4["spine3"]) == ("spine_01", "spine_02", "spine_03")
    assert "upperarm_twist_01_l" not in m5.values()


@pytest.mark.parametrize("preset", ["mixamo", "rigify_metarig"])
def test_knees_and_elbows_bend_as_hinges(preset, humanml3d_joints, bandai_joints):
    """No twisted joints: the local rotation of a shin/forearm bone keeps one axis (the hinge)
    over the whole clip, whatever the bone rolls are."""
    r = _rig(preset, "A-roll")
    for motion in (humanml3d_joints, bandai_joints):
        pose = r.retarget(motion)
        for joint in ("left_knee", "right_knee", "left_elbow", "right_elbow"):
            k = r.joints.index(rt.J[joint])
            q = pose.rotations[:, k].astype(np.float64)
            angle = 2 * np.degrees(np.arccos(np.clip(np.abs(q[:, 0]), 0, 1)))
            bent = angle > 20
            if bent.sum() < 5:
                continue
            axis = q[bent, 1:] * np.sign(q[bent, :1])
            axis /= np.linalg.norm(axis, axis=-1, keepdims=True)
            ref = np.median(axis, axis=0)
            spread = _angle_deg(axis, np.broadcast_to(ref, axis.shape))
            assert np.percentile(spread, 95) < 5.0, (joint, spread.max())  # ball joints: > 60


def test_rig_hierarchy_that_differs_from_smpl(humanml3d_joints):
    """Collars hung on the lower chest bone and thighs under an unmapped offset bone: bones
    are posed relative to their parents in the rig's own hierarchy."""
    bones = template_rest_pose("mixamo", arms="A", roll="random", seed=6)
    by = {b["name"]: b for b in bones}
    for side in ("Left", "Right"):
        by[f"mixamorig:{side}Shoulder"]["parent"] = "mixamorig:Spine1"
        by[f"mixamorig:{side}UpLeg"]["parent"] = "HipsOffset"
    hips = by["mixamorig:Hips"]
    bones.insert(1, {"name": "HipsOffset", "head": hips["head"], "tail": [hips["head"][0], hips["head"][1],
                     hips["head"][2] - 0.05], "roll": 0.3, "parent": "mixamorig:Hips"})
    r = rt.Retargeter(rt.RestPose.from_bones(bones), rp.detect([b["name"] for b in bones])[1])
    assert r.bone_parent[rt.J["left_collar"]] == rt.J["spine2"]
    assert r.bone_parent[rt.J["left_hip"]] == rt.J["pelvis"]
    pose = r.retarget(humanml3d_joints)
    errs = _direction_errors(r, r.fk(pose), pose.joints)
    assert max(errs.values()) < 2.0, errs
    bad = template_rest_pose("mixamo")
    next(b for b in bad if b["name"] == "mixamorig:Hips")["parent"] = "mixamorig:Spine"
    next(b for b in bad if b["name"] == "mixamorig:Spine")["parent"] = None
    with pytest.raises(rt.RetargetError, match="pelvis bone .* is parented under"):
        rt.Retargeter(rt.RestPose.from_bones(bad), rp.detect([b["name"] for b in bad])[1])
