"""prepare_bvh on real Bandai Namco takes (extracted from the shared archive into tmp)."""
import tarfile

import numpy as np
import pytest

from bamm_core.motion.features import feature_groups, recover_from_ric
from bamm_core.motion.skeleton import T2M_TARGET_BONE_LENGTHS, bone_lengths, facing_direction, HUMANML3D
from training.captions import CaptionScheme, parse_take_name, parse_text_line, tag_caption
from training.prepare_bvh import main, net_turn_degrees, prepare, split_takes

TAKES = ["dataset-1_walk_normal_001", "dataset-1_bye_normal_001", "dataset-1_walk-left_normal_001",
         "dataset-1_respond_normal_001", "dataset-1_dash_normal_001"]


@pytest.fixture(scope="module")
def prepared(shared_dir, extract_bandai, tmp_path_factory):
    src = extract_bandai(tmp_path_factory.mktemp("src"), TAKES)
    # a take that cannot be parsed: the motion section is cut off
    text = (src / "dataset-1_walk_normal_001.bvh").read_text()
    (src / "dataset-1_walk_sad_999.bvh").write_text(text[: len(text) // 2])
    out = tmp_path_factory.mktemp("ds") / "bandai"
    lines = []
    summary = prepare(src, out, "bandai", shared_dir / "data" / "bandai-namco" / "captions.json",
                      progress=False, log=lines.append)
    return out, summary, "\n".join(lines)


def test_layout_splits_and_summary(prepared):
    out, summary, log = prepared
    for d in ("new_joints", "new_joint_vecs", "texts"):
        assert (out / d).is_dir()
    names = (out / "all.txt").read_text().split()
    assert sorted(names) == sorted(["dataset-1_walk_normal_001", "dataset-1_bye_normal_001",
                                    "dataset-1_walk-left_normal_001", "dataset-1_respond_normal_001"]
                                   + ["M" + n for n in ["dataset-1_walk_normal_001", "dataset-1_bye_normal_001",
                                                        "dataset-1_walk-left_normal_001",
                                                        "dataset-1_respond_normal_001"]])
    splits = {s: (out / f"{s}.txt").read_text().split() for s in ("train", "val", "test")}
    assert sorted(sum(splits.values(), [])) == sorted(names)
    for s, ns in splits.items():  # a mirror stays with its source take
        assert all(("M" + n in ns) for n in ns if not n.startswith("M"))
    assert summary["takes_found"] == 6 and summary["takes_prepared"] == 4
    assert "excluded by the fix list" in summary["skipped"]["dataset-1_dash_normal_001"]
    assert summary["skipped"]["dataset-1_walk_sad_999"].startswith("failed")
    assert "dataset-1_walk_sad_999" in log and "skipped 2 takes" in log
    assert summary["frames"] == sum(np.load(out / "new_joint_vecs" / f"{n}.npy").shape[0] for n in names)
    mean, std = np.load(out / "Mean.npy"), np.load(out / "Std.npy")
    assert mean.shape == std.shape == (263,) and (std > 0).all()
    for sl in feature_groups(22).values():
        assert np.ptp(std[sl]) == 0  # one std per feature group


def test_motions_are_canonical_and_on_the_target_skeleton(prepared):
    out, _, _ = prepared
    for f in sorted((out / "new_joints").glob("*.npy")):
        j = np.load(f)
        v = np.load(out / "new_joint_vecs" / f.name)
        assert j.dtype == v.dtype == np.float32
        assert j.shape[1:] == (22, 3) and v.shape == (j.shape[0], 263) and j.shape[0] >= 20
        assert np.isfinite(j).all() and np.isfinite(v).all()
        assert np.abs(recover_from_ric(v) - j).max() < 1e-5
        np.testing.assert_allclose(bone_lengths(j)[:, 1:], np.broadcast_to(T2M_TARGET_BONE_LENGTHS[1:], (len(j), 21)),
                                   atol=1e-4)
        feet = j[:, [7, 8, 10, 11], 1]
        assert abs(j[..., 1].min()) < 1e-6 and feet.min() < 0.02        # floor at y=0, touched by a foot
        assert np.median(feet.min(axis=1)) < 0.06                       # a foot is on the ground most of the time
        assert np.abs(j[0, 0, [0, 2]]).max() < 1e-6                     # root at the origin at frame 0
        fwd = facing_direction(j[0], HUMANML3D.face_joints)
        assert fwd[2] > 0.999, f"{f.name} faces {fwd}"                   # facing +Z
        assert j[0, 1, 0] > j[0, 2, 0] and j[0, 16, 0] > j[0, 17, 0]    # person's left is +X
        assert 1.4 < j[0, 15, 1] < 1.8                                 # head height, Y up


def test_semantics_survive_preparation_and_mirroring(prepared):
    out, _, _ = prepared
    load = lambda n: np.load(out / "new_joints" / f"{n}.npy")
    walk = load("dataset-1_walk_normal_001")
    assert walk[-1, 0, 2] > 3.0 and abs(walk[-1, 0, 0]) < 0.5 * walk[-1, 0, 2]  # walks forward along +Z
    diag = load("dataset-1_walk-left_normal_001")
    assert diag[-1, 0, 0] > 0.2 and abs(net_turn_degrees(diag)) < 60               # diagonal to the left (+X)
    mdiag = load("Mdataset-1_walk-left_normal_001")
    assert mdiag[-1, 0, 0] < -0.2                                                   # mirrored: to the right
    bye, mbye = load("dataset-1_bye_normal_001"), load("Mdataset-1_bye_normal_001")
    assert bye[:, 21, 1].max() > bye[:, 20, 1].max() + 0.2                          # right hand waves
    assert mbye[:, 20, 1].max() > mbye[:, 21, 1].max() + 0.2                        # mirrored: left hand
    resp = load("dataset-1_respond_normal_001")
    assert resp[:, 20, 1].max() > resp[:, 21, 1].max() + 0.3                        # left arm raised


def test_text_files(prepared, shared_dir):
    out, _, _ = prepared
    for f in sorted((out / "texts").glob("*.txt")):
        lines = f.read_text().splitlines()
        caps = [parse_text_line(ln) for ln in lines]
        assert len({c[0] for c in caps}) >= 3
        for ln, (cap, toks, s, e) in zip(lines, caps):
            assert ln.count("#") == 3 and (s, e) == (0.0, 0.0)
            assert cap.endswith(".") and cap == cap.strip() and "  " not in cap
            assert toks and all(len(t.split("/")) == 2 and t.split("/")[1].isupper() for t in toks)
    bye = (out / "texts" / "dataset-1_bye_normal_001.txt").read_text()
    mbye = (out / "texts" / "Mdataset-1_bye_normal_001.txt").read_text()
    assert "right" in bye and "left" not in bye and "left" in mbye and "right" not in mbye
    mdiag = (out / "texts" / "Mdataset-1_walk-left_normal_001.txt").read_text()
    assert "right" in mdiag and "left" not in mdiag


def test_captions_are_deterministic_and_distinct(shared_dir):
    scheme = CaptionScheme.load(shared_dir / "data" / "bandai-namco" / "captions.json")
    t = parse_take_name("dataset-2_walk-turn-left_youthful_012")
    a = scheme.captions(t.content, t.style, t.stem, 3)
    assert a == scheme.captions(t.content, t.style, t.stem, 3) and len(set(a)) == 3
    assert all("left" in c for c in a)
    assert scheme.captions("dance", "children", "x", 3)  # label aliases
    assert tag_caption("a person walks forward and turns left.") == \
        "a/DET person/NOUN walk/VERB forward/ADV and/CCONJ turn/VERB left/ADJ"


def test_split_is_deterministic_and_stratified():
    items = {f"t{i:03d}": ("walk" if i % 2 else "bow") for i in range(40)}
    a, b = split_takes(items, seed=1), split_takes(items, seed=1)
    assert a == b and split_takes(items, seed=2) != a
    assert len(a["train"]) == 32 and len(a["val"]) == 4 and len(a["test"]) == 4
    assert {items[n] for n in a["val"]} == {"walk", "bow"}


def test_archive_source_and_cli_errors(shared_dir, extract_bandai, tmp_path, capsys):
    src = extract_bandai(tmp_path / "takes", ["dataset-1_bow_happy_001"])
    archive = tmp_path / "arch" / "takes.tar.xz"
    archive.parent.mkdir()
    with tarfile.open(archive, "w:xz", preset=0) as t:
        t.add(src / "dataset-1_bow_happy_001.bvh", arcname="x/data/dataset-1_bow_happy_001.bvh")
    captions = str(shared_dir / "data" / "bandai-namco" / "captions.json")
    out = tmp_path / "ds"
    assert main(["--src", str(archive), "--out", str(out), "--captions", captions, "--no-mirror"]) == 0
    assert (out / "all.txt").read_text().split() == ["dataset-1_bow_happy_001"]
    # existing output is refused and left untouched
    assert main(["--src", str(archive), "--out", str(out), "--captions", captions]) == 2
    assert "exists" in capsys.readouterr().err and (out / "all.txt").read_text().split() == ["dataset-1_bow_happy_001"]
    assert main(["--src", str(tmp_path / "nope"), "--out", str(tmp_path / "o2"), "--captions", captions]) == 2
    assert not (tmp_path / "o2").exists()
    # --overwrite rebuilds it, and the result is deterministic (same features, same captions)
    before = np.load(out / "new_joint_vecs" / "dataset-1_bow_happy_001.npy")
    texts = (out / "texts" / "dataset-1_bow_happy_001.txt").read_text()
    assert main(["--src", str(archive), "--out", str(out), "--captions", captions, "--overwrite"]) == 0
    np.testing.assert_array_equal(np.load(out / "new_joint_vecs" / "dataset-1_bow_happy_001.npy"), before)
    assert (out / "texts" / "dataset-1_bow_happy_001.txt").read_text() == texts
    assert (out / "all.txt").read_text().split() == ["Mdataset-1_bow_happy_001", "dataset-1_bow_happy_001"]


def test_check_only_flags_a_known_mislabelled_turn(shared_dir, tmp_path):
    """dataset-2_walk-turn-right_masculine_007 turns left (shared/README.md); the automatic check
    must find it from the motion alone, and leave a correct turn alone."""
    archive = shared_dir / "data" / "bandai-namco" / "bandai-namco-dataset-2-locomotion-dev.tar.xz"
    wanted = {"dataset-2_walk-turn-right_masculine_007.bvh", "dataset-2_walk-turn-right_masculine_005.bvh"}
    with tarfile.open(archive) as t:
        for m in t:
            base = m.name.rsplit("/", 1)[-1]
            if base in wanted:
                (tmp_path / base).write_bytes(t.extractfile(m).read())
                wanted.discard(base)
                if not wanted:
                    break
    from training.prepare_bvh import check_only

    flagged = check_only(tmp_path, "bandai", progress=False, log=lambda *a: None)
    assert list(flagged) == ["dataset-2_walk-turn-right_masculine_007"]
    assert "to the left" in flagged["dataset-2_walk-turn-right_masculine_007"][0]
