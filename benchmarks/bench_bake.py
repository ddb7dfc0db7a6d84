"""Batch-baking throughput: jobs/minute for a 20-job batch through scripts/bake.py.

    python benchmarks/bench_bake.py [--jobs 20] [--model DIR] [--device cpu]

Builds a .blend with two SMPL-22 armatures ("Hero", "Villain", made by the add-on's
create_armature operator), writes a 20-job file (generation with predicted and fixed lengths,
inpainting of earlier jobs' actions, 2 FBX + 2 BVH exports) and runs
``python scripts/bake.py --blend ... --jobs ... --out ...`` in a fresh process, as a user would.
Prints the wall time of the whole command (Python + bpy start, engine load, jobs, save) and the
batch alone (as reported by bake.py), in jobs/minute.

Uses the bundled default model; when it is not shipped yet, a tiny random model (with a printed
note: those figures measure the pipeline, not the real network).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

PROMPTS = [
    "a person walks forward",
    "a person jumps up and lands",
    "a person waves with the right hand",
    "a person runs in a circle",
    "a person sits down on a chair",
    "a person kicks with the left leg",
    "a person turns around and walks back",
    "a person bows politely",
    "a person dances happily",
    "a person crouches and stands up",
]


def make_arch_model(path: Path, config: Path) -> str:
    """A randomly initialised model folder with the architecture and text encoder of a training
    config (``training/configs/cpu_small.json`` = the shipped default's): same compute as the
    trained model, random weights."""
    import inspect

    import numpy as np
    import torch

    from bamm_core.model.checkpoints import rest_pose_mean, save_model_dir
    from bamm_core.model.residual_transformer import ResidualTransformer
    from bamm_core.model.tokenizer import RVQVAE
    from bamm_core.model.transformer import BAMMTransformer

    cfg = json.loads(config.read_text())

    def kw(cls, d):
        names = inspect.signature(cls.__init__).parameters
        return {k: v for k, v in d.items() if k in names}

    text = cfg.get("text_encoder", "minilm")
    dim = {"minilm": 384, "clip": 512, "hash": 512}[text]
    torch.manual_seed(0)
    vq = RVQVAE(input_width=263, **kw(RVQVAE, cfg["vq"]))
    for layer in vq.quantizer.layers:
        layer.codebook.normal_()
    nb, cd = cfg["vq"]["nb_code"], cfg["vq"]["code_dim"]
    mt = BAMMTransformer(num_tokens=nb, code_dim=cd, clip_dim=dim, **kw(BAMMTransformer, cfg["transformer"]))
    rt = ResidualTransformer(num_tokens=nb, code_dim=cd, clip_dim=dim, **kw(ResidualTransformer, cfg["residual"]))
    save_model_dir(path, vq, mt, rt, rest_pose_mean(263), np.full(263, 0.05, np.float32),
                   {"name": f"random-{config.stem}", "license": "CC0 (random weights)", "dataset": "t2m",
                    "text_encoder": {"name": text, "dim": dim}})
    return str(path)


def make_jobs(n: int, out_dir: Path) -> list[dict]:
    jobs: list[dict] = []
    for i in range(n):
        arm = "Hero" if i % 2 == 0 else "Villain"
        job: dict = {"prompt": PROMPTS[i % len(PROMPTS)], "armature": arm, "seed": i, "action": f"take_{i:02d}"}
        if i >= 4 and i % 5 == 4:  # inpaint the armature's current action (made 2 jobs earlier)
            job = {"prompt": "a person jumps", "armature": arm, "seed": i, "inpaint": [[20, 50]]}
        elif i % 3 == 1:
            job["seconds"] = 3
        elif i % 3 == 2:
            job["seconds"] = 6
        if i in (0, 1):
            job["export"] = str(out_dir / f"take_{i:02d}.fbx")
        if i in (2, 3):
            job["export"] = str(out_dir / f"take_{i:02d}.bvh")
        jobs.append(job)
    return jobs


def make_scene(path: Path, model: str | None) -> None:
    """Two SMPL-22 armatures named Hero and Villain, saved to ``path`` (in a child process)."""
    code = f"""
import sys, bpy
sys.path.insert(0, {str(REPO)!r})
sys.path.insert(0, {str(REPO / 'scripts')!r})
import bake_runner
bpy.ops.wm.read_homefile(use_empty=True)
bake_runner.enable_addon({model!r}, None)
for name in ("Hero", "Villain"):
    before = set(bpy.data.objects)
    bpy.ops.bamm.create_armature()
    new = [o for o in bpy.data.objects if o not in before and o.type == "ARMATURE"][0]
    new.name = name
    new.location.x = 1.5 if name == "Villain" else 0.0
bpy.ops.wm.save_as_mainfile(filepath={str(path)!r})
"""
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=20)
    ap.add_argument("--model", default=None, help="model folder (default: the bundled model)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--arch", default=None, metavar="CONFIG_JSON",
                    help="when the default model is not shipped: random weights with this training config's "
                         "architecture (e.g. training/configs/cpu_small.json) instead of the tiny model")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench_bake_") as tmp:
        tmp = Path(tmp)
        model, label = args.model, args.model or "bundled default model"
        if model is None:
            from bamm_core.model.checkpoints import DEFAULT_MODEL_DIR, is_model_dir

            if not is_model_dir(DEFAULT_MODEL_DIR):
                if args.arch:
                    model = make_arch_model(tmp / "arch", Path(args.arch))
                    label = f"RANDOM weights, architecture of {Path(args.arch).name}"
                    print(f"note: no bundled default model at {DEFAULT_MODEL_DIR} yet; using random weights "
                          f"with the architecture and text encoder of {args.arch} (same compute)")
                else:
                    from bamm_core.model.checkpoints import make_random_model_dir

                    model = str(make_random_model_dir(tmp / "tiny", size="tiny", seed=0))
                    label = "TINY RANDOM model"
                    print(f"note: no bundled default model at {DEFAULT_MODEL_DIR} yet; using a tiny random "
                          "model, so these figures measure the baking pipeline, not the real network")
        scene = tmp / "scene.blend"
        make_scene(scene, model)
        jobs_file = tmp / "jobs.json"
        jobs_file.write_text(json.dumps(make_jobs(args.jobs, tmp), indent=1))

        cmd = [sys.executable, str(REPO / "scripts" / "bake.py"), "--blend", str(scene), "--jobs", str(jobs_file),
               "--out", str(tmp / "baked.blend"), "--device", args.device, "-q"]
        if model is not None:
            cmd += ["--model", model]
        t0 = time.perf_counter()
        r = subprocess.run(cmd, capture_output=True, text=True)
        wall = time.perf_counter() - t0
        if r.returncode != 0:
            print(r.stdout, r.stderr, sep="\n")
            print(f"bake.py failed with exit code {r.returncode}")
            return 1
        m = re.search(r"(\d+) jobs in ([\d.]+) s", r.stdout)
        batch = float(m.group(2)) if m else float("nan")
        m = re.search(r"\+ ([\d.]+) s engine load", r.stdout)
        load = float(m.group(1)) if m else float("nan")
        ok = r.stdout.count(" ok ")
        per_job = [float(x) for x in re.findall(r"\[([\d.]+) s\]", r.stdout)]
        gen_t = [t for t, ln in zip(per_job, [l for l in r.stdout.splitlines() if l.endswith(" s]")])
                 if "action '" in ln and "inpainted" not in ln]
        inp_t = [t for t, ln in zip(per_job, [l for l in r.stdout.splitlines() if l.endswith(" s]")])
                 if "inpainted" in ln]
        exported = sorted(p.name for p in tmp.glob("take_*.*"))

    n = args.jobs
    print(f"bench_bake: {n} jobs ({ok} ok), model: {label}, device {args.device}, "
          f"{os.cpu_count()} CPU cores, torch threads default, {platform.python_version()}")
    print(f"  exports written: {', '.join(exported)}")
    print(f"  whole command (start + engine load + jobs + save): {wall:6.1f} s = {60 * n / wall:6.1f} jobs/min")
    print(f"  jobs alone (as reported by bake.py):               {batch:6.1f} s = {60 * n / batch:6.1f} jobs/min")
    if per_job:
        import statistics

        print(f"  engine + text encoder load (before the jobs): {load:.1f} s; first job {per_job[0]:.1f} s; median generate job "
              f"{statistics.median(gen_t[1:] or gen_t):.2f} s, median inpaint job "
              f"{statistics.median(inp_t) if inp_t else float('nan'):.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
