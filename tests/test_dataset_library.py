"""`bamm dataset` on a library of another studio's kind, built here from real motion.

The HumanML3D reference motion (../shared) is written as BVH takes of two skeletons: a
Mixamo-like one (``mixamorig:`` names, toes, 30 fps, ZXY channels) and a CMU/ASF-like one
(``lfemur``/``ltibia``/``lowerback``..., no toe joints: the toe is the foot's End Site, 60 fps,
XYZ channels), both in centimetres and Z up, with a captions CSV.
"""
from __future__ import annotations

import json

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
