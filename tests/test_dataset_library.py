"""`bamm dataset` on a library of another studio's kind, built here from real motion.

The HumanML3D reference motion (../shared) is written as BVH takes of two skeletons: a
Mixamo-like one (``mixamorig:`` names, toes, 30 fps, ZXY channels) and a CMU/ASF-like one
(``lfemur``/``ltibia``/``lowerback``..., no toe joints: the toe is the foot's End Site, 60 fps,
XYZ channels), both in centimetres and Z up, with a captions CSV.
"""
from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest

from bamm_cli.main import main
from bamm_core.formats.bvh import BVH, BVHJoint, read_bvh, write_bvh
from bamm_core.formats.smpl22_bvh import smpl22_bvh_from_joints
from bamm_core.motion.features import recover_from_ric
from bamm_core.motion.resampling import resample_positions
from bamm_core.motion.rotations import euler_to_matrix, matrix_to_euler
from bamm_core.rigs.automap import auto_map, name_side
from bamm_core.rigs.bvh_joints import bvh_joints
from bamm_core.rigs.rest_pose import YUP_TO_ZUP
from training.dataset import HumanML3DDir

MIXAMO = {"Hips": "Hips", "LeftUpLeg": "LeftUpLeg", "LeftLeg": "LeftLeg", "LeftFoot": "LeftFoot",
          "LeftToe": "LeftToeBase", "Spine": "Spine", "Spine1": "Spine1", "Spine2": "Spine2",
          "Neck": "Neck", "Head": "Head", "LeftShoulder": "LeftShoulder", "LeftArm": "LeftArm",
          "LeftForeArm": "LeftForeArm", "LeftHand": "LeftHand"}
ASF = {"Hips": "hips", "LeftUpLeg": "lfemur", "LeftLeg": "ltibia", "LeftFoot": "lfoot",
       "Spine": "lowerback", "Spine1": "upperback", "Spine2": "thorax", "Neck": "lowerneck",
       "Head": "head", "LeftShoulder": "lclavicle", "LeftArm": "lhumerus", "LeftForeArm": "lradius",
       "LeftHand": "lwrist"}


def _rename(table: dict, name: str) -> str:
    """A SMPL-22 export name in another convention (right joints from the left ones)."""
    if name in table:
        return table[name]
    left = table[name.replace("Right", "Left")]
    return "r" + left[1:] if left.startswith("l") else left.replace("Left", "Right")


def studio_bvh(joints_m: np.ndarray, fps: float, names: dict, order: str, toes: bool, prefix: str = "") -> BVH:
    """A take of ``joints_m`` (T, 22, 3) metres Y-up: renamed, centimetres, Z up, ``order`` channels,
    toe joints replaced by the feet's End Sites when ``toes`` is False."""
    src = smpl22_bvh_from_joints(joints_m, fps)
    A = YUP_TO_ZUP
    rots, trans = src.local_transforms()
    keep = [i for i, j in enumerate(src.joints) if toes or "Toe" not in j.name]
    new_index = {old: k for k, old in enumerate(keep)}
    joints, cols = [], []
    for k, i in enumerate(keep):
        j = src.joints[i]
        root = j.parent < 0
        chans = (["Xposition", "Yposition", "Zposition"] if root else []) + [f"{a}rotation" for a in order]
        end = j.end_site
        toe = [c for c, jj in enumerate(src.joints) if jj.parent == i and c not in keep]
        if toe:
            end = src.joints[toe[0]].offset
        joints.append(BVHJoint(prefix + _rename(names, j.name), new_index.get(j.parent, -1), 100 * A @ j.offset,
                               chans, None if end is None else 100 * A @ end))
        local = A @ rots[:, i] @ A.T
        block = [100 * trans[:, i] @ A.T] if root else []
        cols.append(np.concatenate(block + [matrix_to_euler(local, order)], axis=1))
    return BVH(joints, 1.0 / fps, np.concatenate(cols, axis=1))


@pytest.fixture(scope="module")
def reference(shared_dir):
    return np.load(shared_dir / "reference" / "humanml3d" / "new_joints_012314.npy").astype(np.float64)


@pytest.fixture(scope="module")
def library(reference, tmp_path_factory):
    """lib/mixamo/*.bvh (30 fps), lib/cmu/*.bvh (60 fps), captions.csv, a take without a
    caption and one that does not parse; returns (lib, {take key: source joints})."""
    lib = tmp_path_factory.mktemp("lib")
    truth = {}
    for folder, fps, table, order, toes, prefix in (("mixamo", 30, MIXAMO, "ZXY", True, "mixamorig:"),
                                                    ("cmu", 60, ASF, "XYZ", False, "")):
        (lib / folder).mkdir()
        moving = resample_positions(reference, 20, fps, method="cubic")
        for k, (a, b) in enumerate(((0.0, 4.0), (3.0, 7.0))):
            part = moving[int(a * fps):int(b * fps)]
            write_bvh(studio_bvh(part, fps, table, order, toes, prefix), lib / folder / f"take{k}.bvh")
            truth[f"{folder}/take{k}"] = part
    (lib / "cmu" / "nocaption.bvh").write_text((lib / "cmu" / "take0.bvh").read_text())
    (lib / "mixamo" / "broken.bvh").write_text((lib / "mixamo" / "take0.bvh").read_text()[:3000])
    (lib / "captions.csv").write_text(
        "file,caption\n"
        "mixamo/take0.bvh,a person walks forward and turns left\n"
        "mixamo/take0,someone walks and turns to the left\n"
        "mixamo/take1,a person walks in a curve\n"
        "cmu/take0.bvh,a man walks forward\n"
        "cmu/take1,a person walks then raises the right arm\n"
        "mixamo/broken,a broken take\n")
    return lib, truth


def test_both_skeletons_map_automatically_within_2cm(library):
    lib, truth = library
    for key, joints in truth.items():
        anim = read_bvh(lib / f"{key}.bvh")
        preset = auto_map(anim)
        assert preset.data["units"] == "cm" and preset.up_axis == "+Z", preset.description
        mapped = bvh_joints(anim, preset)
        assert mapped.shape == joints.shape
        err = np.linalg.norm(mapped - joints, axis=-1).max(axis=0)
        assert err.max() < 0.02, f"{key}: worst joint {int(err.argmax())} off by {err.max():.3f} m"
    cmu = auto_map(read_bvh(lib / "cmu" / "take0.bvh")).data
    assert cmu["convention"] == "asf/amc" and isinstance(cmu["joints"]["left_foot"], dict)  # synthesised toe
    assert auto_map(read_bvh(lib / "mixamo" / "take0.bvh")).data["convention"] == "mixamo"


def test_bamm_dataset_writes_the_humanml3d_layout(library, tmp_path, capsys):
    lib, truth = library
    out = tmp_path / "ds"
    assert main(["dataset", str(lib), "--out", str(out), "--captions", str(lib / "captions.csv"), "-q"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["takes_found"] == 6 and summary["takes_prepared"] == 4 and summary["motions_written"] == 8
    assert len(summary["skeletons"]) == 2
    assert sorted(v for s in summary["skeletons"] for v in s["fps"]) == ["30.0", "60.0"]
    assert "no caption" in summary["skipped"]["cmu/nocaption"]
    assert summary["skipped"]["mixamo/broken"].startswith("does not parse")
    ds = HumanML3DDir(out)
    names = sorted(sum((ds.names(s) for s in ("train", "val", "test")), []))
    assert names == sorted((out / "all.txt").read_text().split()) and len(names) == 8
    assert ds.mean.shape == ds.std.shape == (263,)
    for key, joints in truth.items():
        name = key.replace("/", "_")
        feats, stored = ds.features(name), ds.joints(name)
        assert feats.shape == (round(len(joints) * 20 / (30 if "mixamo" in key else 60)) - 1, 263)
        assert np.abs(recover_from_ric(feats) - stored).max() < 1e-5
        assert 1.3 < stored[0, 15, 1] < 1.8 and abs(stored[..., 1].min()) < 1e-6   # Y up, on the floor
    walk = [c.text for c in ds.captions("mixamo_take0")]
    mirrored = [c.text for c in ds.captions("Mmixamo_take0")]
    assert "a person walks forward and turns left" in walk[0] and all("right" in c for c in mirrored)
    assert len(walk) == 2 and len(ds.captions("cmu_take0")) == 1


def test_sidecar_captions_and_subclips(library, tmp_path):
    lib, _ = library
    src = tmp_path / "side"
    src.mkdir()
    (src / "a.bvh").write_text((lib / "cmu" / "take0.bvh").read_text())
    (src / "a.txt").write_text("a person walks#a/DET person/NOUN walk/VERB#0.0#0.0\n"
                               "a person takes two steps#x#1.0#3.0\n")
    out = tmp_path / "ds"
    assert main(["dataset", str(src), "--out", str(out), "-q", "--no-mirror"]) == 0
    caps = HumanML3DDir(out).captions("a")
    assert [(c.text, c.start, c.end) for c in caps][1] == ("a person takes two steps", 1.0, 3.0)
    archive = tmp_path / "takes.zip"  # the same library as an archive
    with zipfile.ZipFile(archive, "w") as z:
        for f in ("a.bvh", "a.txt"):
            z.write(src / f, f"studio/{f}")
    assert main(["dataset", str(archive), "--out", str(tmp_path / "ds2"), "-q", "--no-mirror"]) == 0
    np.testing.assert_array_equal(np.load(tmp_path / "ds2" / "new_joint_vecs" / "a.npy"),
                                  np.load(out / "new_joint_vecs" / "a.npy"))


def test_check_writes_one_sheet_and_map_per_skeleton(library, tmp_path):
    lib, truth = library
    out = tmp_path / "ds"
    assert main(["dataset", str(lib), "--out", str(out), "--check", "-q"]) == 0
    sheets = sorted((out / "check").glob("*.png"))
    maps = sorted((out / "check").glob("*.json"))
    assert len(sheets) == len(maps) == 2 and not (out / "new_joint_vecs").exists()
    assert all(p.stat().st_size > 10_000 for p in sheets)
    # the written map, given back as --skeleton-map, reads its skeleton's takes
    cmu_map = next(p for p in maps if "asf" in p.name)
    assert main(["dataset", str(lib / "cmu"), "--out", str(out), "-q", "--skeleton-map", str(cmu_map),
                 "--captions", str(lib / "captions.csv")]) == 1  # names mixamo takes: not in this SRC
    (lib.parent / "cmu_only.csv").write_text("take0,a man walks forward\n")
    assert main(["dataset", str(lib / "cmu"), "--out", str(out), "-q", "--skeleton-map", str(cmu_map),
                 "--captions", str(lib.parent / "cmu_only.csv")]) == 0
    assert (out / "check").is_dir() and (out / "all.txt").read_text().split() == ["Mtake0", "take0"]


def test_bad_input_is_one_line_and_changes_nothing(library, tmp_path, capsys):
    lib, _ = library
    out = tmp_path / "ds"
    bad = tmp_path / "bad.csv"
    bad.write_text("file,caption\nmixamo/take0,a walk\nnowhere/take9,a ghost\n")
    assert main(["dataset", str(lib), "--out", str(out), "--captions", str(bad), "-q"]) == 1
    err = capsys.readouterr().err.strip()
    assert "nowhere/take9" in err and "\n" not in err and not out.exists()
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["dataset", str(empty), "--out", str(out), "-q"]) == 1
    assert "no .bvh takes" in capsys.readouterr().err and not out.exists()
    (tmp_path / "afile").write_text("x")
    assert main(["dataset", str(lib), "--out", str(tmp_path / "afile" / "ds"), "-q"]) == 1
    assert "cannot write to --out" in capsys.readouterr().err
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    assert main(["dataset", str(lib), "--out", str(out), "-q"]) == 1
    assert "--overwrite" in capsys.readouterr().err and [p.name for p in out.iterdir()] == ["keep.txt"]
    # a skeleton without legs: named and skipped; with nothing else left, an empty dataset
    legless = tmp_path / "legless"
    legless.mkdir()
    anim = read_bvh(lib / "mixamo" / "take0.bvh")
    keep = [i for i, n in enumerate(anim.names) if "Leg" not in n and "Foot" not in n and "Toe" not in n]
    joints = [BVHJoint(anim.joints[i].name, keep.index(anim.joints[i].parent) if anim.joints[i].parent >= 0 else -1,
                       anim.joints[i].offset, anim.joints[i].channels, anim.joints[i].end_site) for i in keep]
    sl = anim.channel_slices()
    write_bvh(BVH(joints, anim.frame_time, np.concatenate([anim.motion[:, sl[i]] for i in keep], 1)),
              legless / "torso.bvh")
    (legless / "torso.txt").write_text("a torso waves\n")
    assert main(["dataset", str(legless), "--out", str(tmp_path / "o2"), "-q"]) == 1
    err = capsys.readouterr().err
    assert "empty dataset" in err and "no legs" in err and not (tmp_path / "o2").exists()


def test_name_sides():
    assert [name_side(n) for n in ("mixamorig:LeftUpLeg", "thigh_r", "Bip01 L Thigh", "lThighBend",
                                   "DEF-upper_arm.L", "rfemur", "L_Hip", "Spine", "LHipJoint")] == \
        ["L", "R", "L", "L", "L", "R", "L", None, "L"]


# --- the conventions, on rest-pose skeletons built from the SMPL-22 template ----------------------

_SIDED = {1, 4, 7, 10, 13, 16, 18, 20}
RIGS = {
    "ue4/ue5": (["root", None, "floor"], ["pelvis", "root", 0],
                ["spine_01", "pelvis", (0, 9, .2)], ["spine_02", "spine_01", (0, 9, .4)],
                ["spine_03", "spine_02", (0, 9, .6)], ["spine_04", "spine_03", (0, 9, .8)],
                ["spine_05", "spine_04", 9], ["neck_01", "spine_05", 12], ["head", "neck_01", 15],
                ["clavicle_{s}", "spine_05", 13], ["upperarm_{s}", "clavicle_{s}", 16],
                ["upperarm_twist_01_{s}", "upperarm_{s}", (16, 18, .5)], ["lowerarm_{s}", "upperarm_{s}", 18],
                ["hand_{s}", "lowerarm_{s}", 20], ["index_01_{s}", "hand_{s}", (18, 20, 1.3)],
                ["thumb_01_{s}", "hand_{s}", (18, 20, 1.2)], ["thigh_{s}", "pelvis", 1],
                ["thigh_twist_01_{s}", "thigh_{s}", (1, 4, .5)], ["calf_{s}", "thigh_{s}", 4],
                ["foot_{s}", "calf_{s}", 7], ["ball_{s}", "foot_{s}", 10],
                ["ik_foot_root", "root", "floor"], ["ik_foot_{s}", "ik_foot_root", 7]),
    "3ds max biped": (["Bip01", None, 0], ["Bip01 Pelvis", "Bip01", 0], ["Bip01 Spine", "Bip01 Pelvis", (0, 9, .15)],
                      ["Bip01 {S} Thigh", "Bip01 Spine", 1], ["Bip01 {S} Calf", "Bip01 {S} Thigh", 4],
                      ["Bip01 {S} Foot", "Bip01 {S} Calf", 7], ["Bip01 {S} Toe0", "Bip01 {S} Foot", 10],
                      ["Bip01 Spine1", "Bip01 Spine", (0, 9, .5)], ["Bip01 Spine2", "Bip01 Spine1", 9],
                      ["Bip01 Neck", "Bip01 Spine2", 12], ["Bip01 {S} Clavicle", "Bip01 Neck", 13],
                      ["Bip01 {S} UpperArm", "Bip01 {S} Clavicle", 16], ["Bip01 {S} Forearm", "Bip01 {S} UpperArm", 18],
                      ["Bip01 {S} Hand", "Bip01 {S} Forearm", 20], ["Bip01 {S} Finger0", "Bip01 {S} Hand", (18, 20, 1.2)],
                      ["Bip01 {S} Finger1", "Bip01 {S} Hand", (18, 20, 1.3)], ["Bip01 Head", "Bip01 Neck", 15]),
    "daz/poser/genesis": (["hip", None, 0], ["pelvis", "hip", (0, 3, -.3)], ["{s}ThighBend", "pelvis", 1],
                          ["{s}ThighTwist", "{s}ThighBend", (1, 4, .4)], ["{s}Shin", "{s}ThighTwist", 4],
                          ["{s}Foot", "{s}Shin", 7], ["{s}Metatarsals", "{s}Foot", (7, 10, .5)],
                          ["{s}Toe", "{s}Metatarsals", 10], ["abdomenLower", "hip", (0, 9, .25)],
                          ["abdomenUpper", "abdomenLower", (0, 9, .5)], ["chestLower", "abdomenUpper", (0, 9, .75)],
                          ["chestUpper", "chestLower", 9], ["neckLower", "chestUpper", 12],
                          ["neckUpper", "neckLower", (12, 15, .5)], ["head", "neckUpper", 15],
                          ["{s}Collar", "chestUpper", 13], ["{s}ShldrBend", "{s}Collar", 16],
                          ["{s}ShldrTwist", "{s}ShldrBend", (16, 18, .5)], ["{s}ForearmBend", "{s}ShldrTwist", 18],
                          ["{s}ForearmTwist", "{s}ForearmBend", (18, 20, .5)], ["{s}Hand", "{s}ForearmTwist", 20],
                          ["{s}Index1", "{s}Hand", (18, 20, 1.3)], ["{s}Thumb1", "{s}Hand", (18, 20, 1.2)]),
    "rigify": (["DEF-spine", None, 0], ["DEF-thigh.{S}", "DEF-spine", 1],
               ["DEF-thigh.{S}.001", "DEF-thigh.{S}", (1, 4, .5)], ["DEF-shin.{S}", "DEF-thigh.{S}.001", 4],
               ["DEF-shin.{S}.001", "DEF-shin.{S}", (4, 7, .5)], ["DEF-foot.{S}", "DEF-shin.{S}.001", 7],
               ["DEF-toe.{S}", "DEF-foot.{S}", 10], ["DEF-pelvis.{S}", "DEF-spine", (0, 1, .5)],
               ["DEF-spine.001", "DEF-spine", 3], ["DEF-spine.002", "DEF-spine.001", 6],
               ["DEF-spine.003", "DEF-spine.002", 9], ["DEF-spine.004", "DEF-spine.003", 12],
               ["DEF-spine.005", "DEF-spine.004", (12, 15, .5)], ["DEF-spine.006", "DEF-spine.005", 15],
               ["DEF-shoulder.{S}", "DEF-spine.003", 13], ["DEF-upper_arm.{S}", "DEF-shoulder.{S}", 16],
               ["DEF-upper_arm.{S}.001", "DEF-upper_arm.{S}", (16, 18, .5)],
               ["DEF-forearm.{S}", "DEF-upper_arm.{S}.001", 18], ["DEF-forearm.{S}.001", "DEF-forearm.{S}", (18, 20, .5)],
               ["DEF-hand.{S}", "DEF-forearm.{S}.001", 20]),
    "asf/amc": (["root", None, 0], ["{s}hipjoint", "root", 0], ["{s}femur", "{s}hipjoint", 1], ["{s}tibia", "{s}femur", 4],
                ["{s}foot", "{s}tibia", 7], ["{s}toes", "{s}foot", 10], ["lowerback", "root", 0],
                ["upperback", "lowerback", 3], ["thorax", "upperback", 6], ["lowerneck", "thorax", 9],
                ["upperneck", "lowerneck", 12], ["head", "upperneck", 15], ["{s}clavicle", "thorax", 9],
                ["{s}humerus", "{s}clavicle", 16], ["{s}radius", "{s}humerus", 18], ["{s}wrist", "{s}radius", 20],
                ["{s}hand", "{s}wrist", (18, 20, 1.1)], ["{s}fingers", "{s}hand", (18, 20, 1.3)],
                ["{s}thumb", "{s}hand", (18, 20, 1.2)]),
}
EXPECTED = {  # joint -> the left-side (or centre) bone each convention's map must use
    "ue4/ue5": dict(pelvis="pelvis", left_hip="thigh_l", right_hip="thigh_r", left_knee="calf_l",
                    left_foot="ball_l", spine1="spine_01", spine3="spine_05", neck="neck_01", head="head",
                    left_collar="clavicle_l", left_shoulder="upperarm_l", left_elbow="lowerarm_l", left_wrist="hand_l"),
    "3ds max biped": dict(pelvis="Bip01 Pelvis", left_hip="Bip01 L Thigh", right_hip="Bip01 R Thigh",
                          left_foot="Bip01 L Toe0", spine1="Bip01 Spine", spine2="Bip01 Spine1", spine3="Bip01 Spine2",
                          neck="Bip01 Neck", head="Bip01 Head", left_collar="Bip01 L Clavicle",
                          left_elbow="Bip01 L Forearm", left_wrist="Bip01 L Hand"),
    "daz/poser/genesis": dict(pelvis="hip", left_hip="lThighBend", right_hip="rThighBend", left_knee="lShin",
                              left_ankle="lFoot", left_foot="lToe", spine1="abdomenLower", spine3="chestUpper",
                              neck="neckLower", head="head", left_shoulder="lShldrBend", left_elbow="lForearmBend",
                              left_wrist="lHand"),
    "rigify": dict(pelvis="DEF-spine", left_hip="DEF-thigh.L", right_hip="DEF-thigh.R", left_knee="DEF-shin.L",
                   left_ankle="DEF-foot.L", spine1="DEF-spine.001", spine2="DEF-spine.002", spine3="DEF-spine.003",
                   neck="DEF-spine.004", head="DEF-spine.006", left_shoulder="DEF-upper_arm.L",
                   left_elbow="DEF-forearm.L", left_wrist="DEF-hand.L"),
    "asf/amc": dict(left_hip="lfemur", right_hip="rfemur", left_knee="ltibia", left_ankle="lfoot", left_foot="ltoes",
                    spine1="upperback", spine3="thorax", neck="lowerneck", head="head", left_collar="lclavicle",
                    left_shoulder="lhumerus", left_elbow="lradius", left_wrist="lwrist"),
}


def rest_rig(spec, template: np.ndarray, scale: float = 1.0) -> BVH:
    """A BVH (two frames of the rest pose, Y up) of ``spec`` rows (name, parent, point): point =
    a joint index into ``template`` (22, 3), (a, b, t) = lerp, or "floor" (below the pelvis)."""
    rows = []
    for name, parent, point in spec:
        if "{" not in name:
            rows.append((name, parent, point))
            continue
        for s, S, d in (("l", "L", 0), ("r", "R", 1)):
            side = lambda p: (p + d if p in _SIDED else p) if isinstance(p, int) else p  # noqa: E731
            pt = tuple(side(p) for p in point[:2]) + point[2:] if isinstance(point, tuple) else side(point)
            rows.append((name.format(s=s, S=S), parent and parent.format(s=s, S=S), pt))
    where = lambda p: (template[0] * [1, 0, 1] if p == "floor" else template[p] if isinstance(p, int)  # noqa: E731
                       else (1 - p[2]) * template[p[0]] + p[2] * template[p[1]])
    order = [r[0] for r in rows]
    pos = {n: where(p) * scale for n, _, p in rows}
    joints = []
    for name, parent, _ in rows:
        off = pos[name] - (pos[parent] if parent else 0)
        has_child = any(r[1] == name for r in rows)
        joints.append(BVHJoint(name, order.index(parent) if parent else -1, off if parent else np.zeros(3),
                               (["Xposition", "Yposition", "Zposition"] if not parent else []) +
                               ["Zrotation", "Xrotation", "Yrotation"],
                               None if has_child else np.array([0.0, 0.05 * scale, 0.0])))
    nch = sum(len(j.channels) for j in joints)
    motion = np.zeros((2, nch))
    motion[:, :3] = pos[order[0]]
    return BVH(joints, 1 / 30, motion)


@pytest.mark.parametrize("name", sorted(RIGS))
def test_conventions_map_by_hierarchy_and_rest_pose(name):
    from bamm_core.formats.smpl22_bvh import SMPL22_BVH_OFFSETS, rest_joints

    template = rest_joints(SMPL22_BVH_OFFSETS)  # HumanML3D order, metres
    anim = rest_rig(RIGS[name], template, scale=100.0 / 2.54)  # inches
    preset = auto_map(anim)
    assert preset.data["convention"] == name and preset.data["units"] == "inch"
    got = {j: v for j, v in preset.data["joints"].items() if isinstance(v, str)}
    assert {j: got.get(j) for j in EXPECTED[name]} == EXPECTED[name]
    mapped = bvh_joints(anim, preset)[0]
    assert mapped[1, 0] > mapped[2, 0] + 0.1 and mapped[16, 0] > mapped[17, 0] + 0.2  # left at +X
    assert mapped[15, 1] - mapped[7, 1] > 1.3                                        # Y up, metres
