"""Latency and peak memory of ``Engine.generate`` at the released model sizes.

Random weights (the released sizes: RVQ-VAE 512x512x6, transformers 8 layers x 384,
CLIP-sized 512-d text vectors given directly, so no text encoder runs), CPU, 196 frames.
Each mode runs in a fresh subprocess so that its peak resident memory is its own.

    .venv/bin/python benchmarks/bench_generate.py [--threads 2] [--runs 5] [--frames 196]
    .venv/bin/python benchmarks/bench_generate.py --bundled    # the bundled model, from a prompt

``--bundled`` times the bundled default model instead, prompted with text (so the text
encoder, "understood as" and ``prompt_snap`` run too), as ``bamm generate`` does after loading.

The workers run with OpenMP's default wait policy, as users do.  ``--omp-wait-policy
PASSIVE`` measures the setting for a shared, busy CPU (other jobs on the same cores, where
spinning barriers wait for descheduled threads, 5-20x slower in our measurements): on an
idle machine PASSIVE costs a thread wake-up per matrix product, which makes the
two-thread default mode ~1.9x slower (one thread is then faster than two).

Reference: the official code takes 2.66 s for one 196-frame generation on the team's
2-core CPU (SPEC §8, median of 3, plus 0.058 s of CLIP text encoding).
"""
from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import resource
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

MODES = [
    ("default (every_other, KV cache)", dict(refine="every_other", use_cache=True)),
    ("default (every_other, no cache)", dict(refine="every_other", use_cache=False)),
    ("predicted length (every_other, cache)", dict(refine="every_other", use_cache=True,
                                                   length=None)),
    ("default, 4 s clip (80 frames)", dict(refine="every_other", use_cache=True, length=80)),
    ("low_confidence (cache)", dict(refine="low_confidence", use_cache=True)),
    ("official (bit-exact, no cache)", dict(refine="official", use_cache=False)),
]


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _build_engine():
    import numpy as np
    import torch

    from bamm_core.model.checkpoints import SIZES, LoadedModel, rest_pose_mean
    from bamm_core.generation.engine import Engine
    from bamm_core.model.residual_transformer import ResidualTransformer
    from bamm_core.model.tokenizer import RVQVAE
    from bamm_core.model.transformer import BAMMTransformer

    torch.manual_seed(0)
    vq_kw, mt_kw, text = SIZES["release"]
    vq = RVQVAE(input_width=263, **vq_kw)
    for layer in vq.quantizer.layers:
        layer.codebook.normal_()
    mt = BAMMTransformer(num_tokens=512, code_dim=512, clip_dim=512, **mt_kw)
    rt = ResidualTransformer(num_tokens=512, code_dim=512, clip_dim=512, **mt_kw)
    cfg = {"name": "random-release", "dataset": "t2m", "joints_num": 22,
           "text_encoder": text}
    return Engine(LoadedModel(vq, mt, rt, rest_pose_mean(), np.full(263, 0.05, np.float32), cfg))


def _worker(mode: dict, threads: int, runs: int, frames: int, queue, bundled: bool = False) -> None:
    import numpy as np
    import torch

    torch.set_num_threads(threads)
    if bundled:
        from bamm_core.generation.engine import Engine

        eng = Engine.from_pretrained()
        cond = {"text": "a person walks forward happily."}
    else:
        eng = _build_engine()
        cond = {"text_embedding": np.random.default_rng(0).standard_normal(512).astype(np.float32)}
    kw = dict(mode)
    length = kw.pop("length", frames)
    base = _peak_mb()
    eng.generate(**cond, length=length, seed=0, **kw)  # warm-up
    times = []
    out = None
    for r in range(runs):
        t0 = time.perf_counter()
        out = eng.generate(**cond, length=length, seed=r, **kw)
        times.append(time.perf_counter() - t0)
    queue.put({"median_s": statistics.median(times), "min_s": min(times), "max_s": max(times),
               "frames": int(out.joints.shape[0]), "peak_rss_mb": _peak_mb(),
               "peak_increase_mb": _peak_mb() - base})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--frames", type=int, default=196)
    ap.add_argument("--modes", default="all", help="comma-separated indices into the mode list")
    ap.add_argument("--json", action="store_true", help="print JSON lines instead of a table")
    ap.add_argument("--bundled", action="store_true", help="the bundled default model, prompted with text")
    ap.add_argument("--omp-wait-policy", default="",
                    help='OMP_WAIT_POLICY for the workers (default: leave it as it is)')
    args = ap.parse_args()
    if args.omp_wait_policy:
        os.environ["OMP_WAIT_POLICY"] = args.omp_wait_policy
    chosen = MODES if args.modes == "all" else [MODES[int(i)] for i in args.modes.split(",")]
    ctx = mp.get_context("spawn")
    what = "the bundled model, a text prompt" if args.bundled else "released sizes, random weights"
    print(f"generate: {what}, CPU, {args.threads} threads, "
          f"{args.frames} frames, median of {args.runs} after 1 warm-up, "
          f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', '(unset)')}, "
          f"load average {os.getloadavg()[0]:.1f}")
    print(f"{'mode':40s} {'median':>8s} {'min':>8s} {'max':>8s} {'frames':>6s} "
          f"{'peak RSS':>9s} {'+during':>8s}")
    for name, mode in chosen:
        q = ctx.Queue()
        p = ctx.Process(target=_worker, args=(mode, args.threads, args.runs, args.frames, q, args.bundled))
        p.start()
        r = q.get()
        p.join()
        if args.json:
            print(json.dumps({"mode": name, **r}))
        else:
            print(f"{name:40s} {r['median_s']:7.3f}s {r['min_s']:7.3f}s {r['max_s']:7.3f}s "
                  f"{r['frames']:6d} {r['peak_rss_mb']:7.0f}MB {r['peak_increase_mb']:6.0f}MB")


if __name__ == "__main__":
    main()
