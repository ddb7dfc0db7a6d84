"""Training entry points on a tiny synthetic HumanML3D-layout dataset (``tiny`` preset).

The dataset is cut from the real HumanML3D sample in ``../shared`` (features of clip 012314),
with small per-clip noise, four caption groups and train/val/test splits.  For each entry point:
the loss goes down over a few dozen steps, and a run stopped half-way and resumed from its
checkpoint ends with bit-identical parameters to an uninterrupted run.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from training.checkpoints import compact_checkpoint
from training.config import load_config
from training.dataset import HumanML3DDir
from training.distributed import DistInfo, epoch_batches
from training.run import torch_device
from training.text_cache import CaptionCache

CAPTIONS = ["a person walks forward.", "someone jumps in place.", "a person waves the right hand.",
            "the person sits down slowly."]


def make_dataset(root: Path, features: np.ndarray, n: int = 24, seed: int = 0) -> Path:
    """Write a HumanML3D-layout dir: n clips of 60-110 frames cut from ``features``."""
    rng = np.random.default_rng(seed)
    (root / "new_joint_vecs").mkdir(parents=True)
    (root / "texts").mkdir()
    names = []
    for i in range(n):
        s, L = int(rng.integers(0, 60)), int(rng.integers(60, 110))
        x = features[s:s + L] + rng.normal(0, 0.01, (L, features.shape[1])).astype(np.float32) * (i % 4)
        name = f"{i:06d}"
        np.save(root / "new_joint_vecs" / f"{name}.npy", x.astype(np.float32))
        cap = CAPTIONS[i % 4]
        (root / "texts" / f"{name}.txt").write_text(f"{cap}#x#0.0#0.0\n{cap[:-1]} again.#x#0.0#0.0\n")
        names.append(name)
    np.save(root / "Mean.npy", features.mean(0))
    np.save(root / "Std.npy", features.std(0) + 1e-2)
    (root / "train.txt").write_text("\n".join(names[:16]))
    (root / "val.txt").write_text("\n".join(names[16:20]))
    (root / "test.txt").write_text("\n".join(names[20:]))
    return root


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory, shared_dir) -> Path:
    feats = np.load(shared_dir / "reference/humanml3d/new_joint_vecs_012314.npy").astype(np.float32)
    return make_dataset(tmp_path_factory.mktemp("h3d"), feats)


@pytest.fixture(scope="module")
def text_cache(tmp_path_factory, tiny_data) -> Path:
    """One MiniLM pass for all captions, copied into every run dir (saves seconds per run)."""
    path = tmp_path_factory.mktemp("cache") / "text_cache.pt"
    data = HumanML3DDir(tiny_data)
    cache = CaptionCache(path)
    cache.ensure(c for split in ("train", "val", "test") for it in data.items(split) for c in it["captions"])
    return path


def _prime(out: Path, text_cache: Path) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    (out / "text_cache.pt").write_bytes(text_cache.read_bytes())
    return out


def _losses(run: Path) -> np.ndarray:
    import csv

    with open(run / "log.csv") as f:
        return np.array([float(r["loss"]) for r in csv.DictReader(f)])


def _params(run: Path) -> dict:
    return torch.load(run / "last.pt", weights_only=True)["model"]


def _assert_same(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), f"{k} differs after resume"


def _run(main, args):
    torch.set_num_threads(1)
    return main(args + ["--no-progress", "--log-every", "1"])


@pytest.fixture(scope="module")
def vq_run(tmp_path_factory, tiny_data) -> Path:
    from training.train_vq import main

    out = tmp_path_factory.mktemp("vq")
    res = _run(main, ["--data", str(tiny_data), "--config", "tiny", "--out", str(out), "--max-steps", "40"])
    assert res["step"] == 40 and np.isfinite(res["val_recon_smoothl1"])
    return out


def test_vq_loss_decreases(vq_run):
    loss = _losses(vq_run)
    assert len(loss) == 40
    assert loss[-10:].mean() < loss[:5].mean()
    st = torch.load(vq_run / "last.pt", weights_only=True)  # safe-loadable
    assert st["step"] == 40 and st["mean"].shape == (263,)
    # model std = dataset std with root and foot contacts / 5
    assert torch.allclose(st["std"][:4] * 5, st["dataset_std"][:4])


def test_vq_resume_is_bit_exact(tmp_path, tiny_data):
    from training.train_vq import main

    base = ["--data", str(tiny_data), "--config", "tiny"]
    _run(main, base + ["--out", str(tmp_path / "a"), "--max-steps", "12"])
    _run(main, base + ["--out", str(tmp_path / "b"), "--max-steps", "5"])  # 'interrupted'
    assert torch.load(tmp_path / "b/last.pt", weights_only=True)["step"] == 5
    _run(main, base + ["--out", str(tmp_path / "b"), "--max-steps", "12"])  # resumed
    _assert_same(_params(tmp_path / "a"), _params(tmp_path / "b"))


def test_compact_state_resumes_with_rewarm(tmp_path, tiny_data, vq_run, text_cache):
    """A committed compact checkpoint (no optimizer) seeds a new run dir and training goes on
    from its step with the lr warmed up again; --vq accepts the compact VQ file too."""
    from training.train_transformer import main

    size = compact_checkpoint(vq_run / "last.pt", tmp_path / "vq.pt")
    assert size < (vq_run / "last.pt").stat().st_size
    base = ["--data", str(tiny_data), "--vq", str(tmp_path / "vq.pt"), "--config", "tiny"]
    a = _prime(tmp_path / "a", text_cache)
    _run(main, base + ["--out", str(a), "--max-steps", "6"])
    compact_checkpoint(a / "last.pt", tmp_path / "transformer.pt")
    b = _prime(tmp_path / "b", text_cache)
    _run(main, base + ["--out", str(b), "--max-steps", "12", "--resume-from", str(tmp_path / "transformer.pt")])
    st = torch.load(b / "last.pt", weights_only=True)
    assert st["step"] == 12 and st["rewarm_from"] == 6
    import csv

    with open(b / "log.csv") as f:
        lrs = [float(r["lr"]) for r in csv.DictReader(f)]
    assert lrs[0] < lrs[-1] and len(lrs) == 6  # steps 7..12 only, lr ramps up again
    with pytest.raises(FileNotFoundError, match="resume-from"):
        _run(main, base + ["--out", str(tmp_path / "c"), "--resume-from", str(tmp_path / "nope.pt")])


def test_time_budget_stops_cleanly_with_checkpoint(tmp_path, tiny_data):
    from training.train_vq import main

    res = _run(main, ["--data", str(tiny_data), "--config", "tiny", "--out", str(tmp_path),
                      "--max-steps", "100000", "--time-budget-min", "0.03"])
    assert res["stopped"] == "time_budget" and 0 < res["step"] < 100000
    assert torch.load(tmp_path / "last.pt", weights_only=True)["step"] == res["step"]


@pytest.mark.parametrize("stage", ["transformer", "residual"])
def test_token_models_learn_and_resume(stage, tmp_path, tiny_data, vq_run, text_cache):
    import importlib

    main = importlib.import_module(f"training.train_{stage}").main
    base = ["--data", str(tiny_data), "--vq", str(vq_run), "--config", "tiny"]
    a = _prime(tmp_path / "a", text_cache)
    _run(main, base + ["--out", str(a), "--max-steps", "40"])
    loss = _losses(a)
    assert loss[-10:].mean() < loss[:5].mean()
    tokens = torch.load(a / "tokens.pt", weights_only=True)
    assert tokens["codes"][0].shape[1] == 3  # tiny preset: 3 quantizer layers
    b = _prime(tmp_path / "b", text_cache)
    _run(main, base + ["--out", str(b), "--max-steps", "17"])
    _run(main, base + ["--out", str(b), "--max-steps", "40"])
    _assert_same(_params(a), _params(b))


def test_evaluator_learns_and_resumes(tmp_path, tiny_data, text_cache):
    from training.train_evaluator import main

    base = ["--data", str(tiny_data), "--config", "tiny"]
    a = _prime(tmp_path / "a", text_cache)
    res = _run(main, base + ["--out", str(a), "--max-steps", "40"])
    loss = _losses(a)
    assert loss[-10:].mean() < loss[:5].mean()
    assert len(res["val_r_precision"]) == 3
    b = _prime(tmp_path / "b", text_cache)
    _run(main, base + ["--out", str(b), "--max-steps", "9"])
    _run(main, base + ["--out", str(b), "--max-steps", "40"])
    _assert_same(_params(a), _params(b))


def test_bad_inputs_give_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="preset"):
        load_config("no_such_preset")
    with pytest.raises(FileNotFoundError, match="HumanML3D-layout"):
        HumanML3DDir(tmp_path)
    with pytest.raises(ValueError, match="unknown device"):
        torch_device("tpu")


def test_epoch_batches_split_across_ranks():
    one = epoch_batches(12, 2, epoch=0, seed=0, info=DistInfo(0, 1, 0))
    r0 = epoch_batches(12, 2, epoch=0, seed=0, info=DistInfo(0, 2, 0))
    r1 = epoch_batches(12, 2, epoch=0, seed=0, info=DistInfo(1, 2, 0))
    flat = lambda bs: sorted(i for b in bs for i in b)
    assert flat(one) == list(range(12))
    assert len(r0) == len(r1) == 3
    assert sorted(flat(r0) + flat(r1)) == list(range(12))  # disjoint shards cover the data
    assert epoch_batches(12, 2, 1, 0, DistInfo()) != one  # reshuffled each epoch


@pytest.fixture(scope="module")
def runs(tmp_path_factory, tiny_data, vq_run, text_cache) -> Path:
    """RUNS/{vq,transformer,residual,evaluator} trained for a few steps with the tiny preset."""
    from training import train_evaluator, train_residual, train_transformer

    runs = tmp_path_factory.mktemp("runs")
    (runs / "vq").symlink_to(vq_run)
    common = ["--data", str(tiny_data), "--config", "tiny", "--max-steps", "8"]
    _run(train_transformer.main, common + ["--vq", str(vq_run), "--out", str(_prime(runs / "transformer", text_cache))])
    _run(train_residual.main, common + ["--vq", str(vq_run), "--out", str(_prime(runs / "residual", text_cache))])
    _run(train_evaluator.main, common + ["--out", str(_prime(runs / "evaluator", text_cache))])
    return runs


def test_evaluate_prints_full_table(tmp_path, tiny_data, runs, capsys):
    """training.evaluate on the tiny test split: every row of the paper's table is filled."""
    from training import evaluate

    rows = "real,bamm,ar_only,gt_length,refine_low_confidence,refine_official,inpainting,outpainting"
    ev = str(runs / "evaluator")
    res = evaluate.main(["--data", str(tiny_data), "--runs", str(runs), "--evaluator", ev,
                         "--config", "tiny", "--rows", rows, "--out", str(tmp_path / "res.json")])
    out = capsys.readouterr().out
    for row in rows.split(","):
        assert f"| {row} |" in out
        r = res["rows"][row]
        assert 0.0 <= r["top1"][0] <= r["top2"][0] <= r["top3"][0] <= 1.0
        assert r["physical"]["jitter"] >= 0.0
    assert "fid" not in res["rows"]["real"] and res["rows"]["bamm"]["fid"][0] >= 0.0
    assert res["rows"]["bamm"]["multimodality"][0] > 0.0  # different seeds, different motions
    assert (tmp_path / "res.json").is_file()
    with pytest.raises(SystemExit, match="unknown rows"):
        evaluate.main(["--data", str(tiny_data), "--runs", str(runs), "--evaluator", ev,
                       "--config", "tiny", "--rows", "bamm,nonsense"])
    with pytest.raises(SystemExit):  # argparse usage error with the timebase's limits
        evaluate.main(["--data", str(tiny_data), "--runs", str(runs), "--evaluator", ev,
                       "--config", "tiny", "--rows", "bamm", "--min-length", "2"])
    assert "--min-length must be 4..196 frames" in capsys.readouterr().err


def test_evaluate_rows_and_refine_choices_come_from_the_registry():
    from bamm_core.generation.options import SamplingOptions
    from bamm_core.generation.refinement import STRATEGIES
    from training import evaluate

    default = SamplingOptions().refine
    assert {r[len("refine_"):] for r in evaluate.GEN_ROWS if r.startswith("refine_")} == \
        set(STRATEGIES) - {default, "none"}
    assert evaluate.GEN_ROWS["bamm"]["refine"] is None  # the options' strategy (--refine)
    with pytest.raises(SystemExit):
        evaluate.main(["--data", ".", "--evaluator", ".", "--refine", "no_such_strategy"])


def test_run_timebase_follows_the_preset_and_tokenizer():
    from training.config import run_timebase

    tb = run_timebase({"fps": 30, "max_len": 120}, {"down_t": 3, "stride_t": 2})
    assert (tb.fps, tb.frames_per_token, tb.max_tokens, tb.max_frames) == (30.0, 8, 15, 120)
    tb = run_timebase(load_config("tiny")["dataset"], load_config("tiny")["vq"])
    assert (tb.fps, tb.frames_per_token, tb.max_frames) == (20.0, 4, 196)


def test_export_model_loads_in_engine(tmp_path, runs, text_cache):
    """export_model writes a folder Engine.from_pretrained loads; fp16 export is about half
    the fp32 size and generates the same kind of motion."""
    from bamm_core import Engine
    from training import export_model

    f32 = export_model.main(["--runs", str(runs), "--out", str(tmp_path / "m32")])
    f16 = export_model.main(["--runs", str(runs), "--out", str(tmp_path / "m16"), "--fp16"])
    s32, s16 = export_model.folder_size(f32), export_model.folder_size(f16)
    assert s16 < 0.6 * s32
    cache = CaptionCache(text_cache)
    emb = cache(["a person walks forward."])[0]
    for path in (f32, f16):
        eng = Engine.from_pretrained(str(path), device="cpu")
        assert eng.info()["license"].startswith("CC BY-NC 4.0")
        m = eng.generate(text_embedding=emb, length=40, seed=0)
        assert m.joints.shape == (40, 22, 3) and np.isfinite(m.joints).all()
    with pytest.raises(FileNotFoundError, match="last.pt"):
        export_model.main(["--runs", str(tmp_path), "--out", str(tmp_path / "x")])


def test_tune_decoder_keeps_every_code_and_learns(tmp_path, tiny_data, vq_run):
    """The decoder fine-tune (issue #12) changes the decoder only: encoder, codebooks and the
    codes of every clip stay identical, its loss goes down, and its checkpoint still reads as a
    tokenizer whose codes are those of the VQ step it started from."""
    from training.train_vq import codes_step, load_vq
    from training.tune_decoder import main

    out = tmp_path / "dec"
    res = _run(main, ["--data", str(tiny_data), "--config", "tiny", "--vq", str(vq_run), "--out", str(out),
                      "--max-steps", "30"])
    assert res["step"] == 30
    before, st0 = load_vq(vq_run)
    after, st1 = load_vq(out)
    for name, p in before.state_dict().items():
        same = torch.equal(p, after.state_dict()[name])
        assert same != name.startswith("decoder."), name
    data = HumanML3DDir(tiny_data)
    for it in data.items("val"):
        x = torch.from_numpy(((it["features"] - st0["mean"].numpy()) / st0["std"].numpy())[:64]).float()[None]
        assert torch.equal(before.encode(x)[0], after.encode(x)[0])
    assert codes_step(st1) == int(st0["step"]) and int(st1["step"]) == 30
    again = tmp_path / "dec2"  # tuning a tuned decoder again: still the first VQ's codes
    _run(main, ["--data", str(tiny_data), "--config", "tiny", "--vq", str(out), "--out", str(again),
                "--max-steps", "3"])
    assert codes_step(load_vq(again)[1]) == int(st0["step"])
    losses = _losses(out)
    assert losses[-5:].mean() < losses[:5].mean()
    import csv
    with open(out / "log.csv") as f:
        assert {"acc", "foot", "vel", "joints"} <= set(next(csv.DictReader(f)))


def test_motion_loss_is_zero_for_the_real_motion_but_its_feet(shared_dir):
    """motion_loss of a real clip against itself: every term 0 but the foot term, the real feet's
    own horizontal speed while in contact (small); noise raises the velocity/acceleration terms."""
    from training.tune_decoder import motion_loss

    x_raw = np.load(shared_dir / "reference/humanml3d/new_joint_vecs_012314.npy").astype(np.float32)
    mean, std = torch.from_numpy(x_raw.mean(0)), torch.from_numpy(x_raw.std(0) + 1e-2)
    x = ((torch.from_numpy(x_raw) - mean) / std)[None]
    w = {"pos": 1, "joints": 1, "vel": 1, "acc": 1, "foot": 1}
    loss, parts = motion_loss(x, x, mean, std, 22, 20.0, w)
    assert parts["rec"] == parts["joints"] == parts["vel"] == parts["acc"] == 0.0
    assert 0.0 <= parts["foot"] < 0.2 and float(loss) == pytest.approx(parts["foot"])
    noise = torch.from_numpy(np.random.default_rng(0).normal(0, 0.1, x.shape).astype(np.float32))
    _, noisy = motion_loss(x + noise, x, mean, std, 22, 20.0, w)
    assert noisy["acc"] > 0.1 and noisy["vel"] > 0 and noisy["foot"] > parts["foot"]


def test_crop_batches_take_short_clips_only_into_crops_they_fill():
    """tune_decoder's CropBatches: crop lengths are multiples of the token size between
    ``shortest`` and the window; a clip is only drawn for crops it is long enough for; the
    draw is a function of the step (resume-safe) and follows the weights."""
    from training.distributed import DistInfo
    from training.tune_decoder import CropBatches

    lengths = [40, 200, 200, 33]
    b = CropBatches(lengths, np.array([0.7, 0.1, 0.1, 0.1]), 16, window=64, shortest=32, unit=4,
                    seed=1, info=DistInfo())
    seen_crops, short_drawn = set(), 0
    for step in range(300):
        crop, idx = b(step)
        assert crop % 4 == 0 and 32 <= crop <= 64 and len(idx) == 16
        assert all(lengths[i] >= crop for i in idx)
        seen_crops.add(crop)
        short_drawn += crop <= 40 and 0 in idx
    assert seen_crops == set(range(32, 65, 4)) and short_drawn > 50
    assert b(7) == CropBatches(lengths, np.array([0.7, 0.1, 0.1, 0.1]), 16, 64, 32, 4, 1, DistInfo())(7)
