"""The HumanML3D-layout loaders on our prepared data and on a real HumanML3D-format folder."""
import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from bamm_core.motion.features import Normalizer
from training.dataset import (
    HumanML3DDir, MotionTextDataset, MotionWindowDataset, collate_motion_text, dataset_kind,
)
from training.prepare_bvh import prepare



@pytest.fixture(scope="module")
def bandai_dir(shared_dir, extract_bandai, tmp_path_factory):
    src = extract_bandai(tmp_path_factory.mktemp("src"),
                         ["dataset-1_walk_normal_001", "dataset-1_bye_happy_001", "dataset-1_run_happy_001"])
    out = tmp_path_factory.mktemp("ds") / "bandai"
    prepare(src, out, "bandai", shared_dir / "data" / "bandai-namco" / "captions.json",
            progress=False, log=lambda *a: None, fractions=(1.0, 0.0, 0.0))
    return out


@pytest.fixture(scope="module")
def humanml_dir(shared_dir, tmp_path_factory):
    """A folder in the real HumanML3D layout with the reference sample and real-format texts
    (including a caption that covers only seconds 1.0-6.0 of the clip)."""
    ref = shared_dir / "reference" / "humanml3d"
    root = tmp_path_factory.mktemp("humanml3d")
    for d in ("new_joint_vecs", "new_joints", "texts"):
        (root / d).mkdir()
    np.save(root / "new_joint_vecs" / "012314.npy", np.load(ref / "new_joint_vecs_012314.npy"))
    np.save(root / "new_joints" / "012314.npy", np.load(ref / "new_joints_012314.npy"))
    (root / "texts" / "012314.txt").write_text(
        "a man walks forward slowly.#a/DET man/NOUN walk/VERB forward/ADV slowly/ADV#0.0#0.0\n"
        "a person waves.#a/DET person/NOUN wave/VERB#1.0#6.0\n")
    np.save(root / "Mean.npy", np.load(ref / "Mean.npy"))
    np.save(root / "Std.npy", np.load(ref / "Std.npy"))
    (root / "train.txt").write_text("012314\n")
    return root


def test_text_dataset_on_prepared_bandai(bandai_dir):
    ds = MotionTextDataset(bandai_dir, "train", min_len=20, seed=0)
    assert len(ds) == 6  # 3 takes + 3 mirrors
    item = ds[0]
    assert item["motion"].shape == (196, 263) and item["motion"].dtype == torch.float32
    assert 0 < item["length"] <= 196 and item["length"] % 4 == 0
    assert (item["motion"][item["length"]:] == 0).all()
    caps = [c.text for c in ds.items[0][2]]
    assert item["caption"] in caps
    batch = next(iter(DataLoader(ds, batch_size=4, collate_fn=collate_motion_text)))
    assert batch["motion"].shape == (4, 196, 263) and batch["length"].dtype == torch.long
    # normalisation uses the folder's Mean/Std
    norm = Normalizer.from_dir(bandai_dir)
    name, motion, _ = ds.items[0]
    det = MotionTextDataset(bandai_dir, "train", min_len=20, random_crop=False)
    it = det[0]
    np.testing.assert_allclose(norm.denormalize(it["motion"][: it["length"]].numpy()), motion[: it["length"]], atol=1e-5)


def test_window_dataset(bandai_dir):
    ds = MotionWindowDataset(bandai_dir, "train", window=64)
    assert len(ds) >= 2
    w = ds[0]
    assert w.shape == (64, 263) and torch.isfinite(w).all()
    with pytest.raises(ValueError):
        MotionWindowDataset(bandai_dir, "train", window=100000)


def test_real_humanml3d_layout(humanml_dir):
    info = dataset_kind(humanml_dir)
    assert info["joints_num"] == 22 and info["dim"] == 263
    d = HumanML3DDir(humanml_dir)
    assert d.names("train") == ["012314"] and d.joints("012314").shape == (170, 22, 3)
    ds = MotionTextDataset(humanml_dir, "train")
    # the whole-clip caption and the tagged 1.0-6.0 s sub-clip (100 frames) are separate items
    lengths = sorted(len(m) for _, m, _ in ds.items)
    assert lengths == [100, 170]
    sub = next(caps for _, m, caps in ds.items if len(m) == 100)
    assert sub[0].text == "a person waves." and sub[0].tokens[0] == "a/DET"
    with pytest.raises(FileNotFoundError):
        HumanML3DDir(humanml_dir / "texts")


def test_kit_layout_detected(tmp_path):
    (tmp_path / "new_joint_vecs").mkdir()
    np.save(tmp_path / "new_joint_vecs" / "00001.npy", np.zeros((50, 251), np.float32))
    assert dataset_kind(tmp_path)["joints_num"] == 21
    np.save(tmp_path / "new_joint_vecs" / "00001.npy", np.zeros((50, 100), np.float32))
    with pytest.raises(ValueError, match="263"):
        dataset_kind(tmp_path)
