"""Time of ``Engine.compose`` (a prompt timeline) with the bundled model on the CPU.

Two takes: 3 segments (4 + 3 + 3 s = 10 s: target under 1 s) and 8 segments of 7.5 s (60 s).
Each compose includes encoding its prompts (MiniLM), generating segment 1, outpainting the
others and refining every seam.  Also times one ``recompose`` of the middle segment of the
3-segment take.

    .venv/bin/python benchmarks/bench_compose.py [--threads 2] [--runs 5] [--omp-wait-policy PASSIVE]

``--omp-wait-policy PASSIVE`` is the setting for a shared, busy CPU (see bench_generate.py).
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

PROMPTS = ["a person walks forward", "a person waves both hands", "a person bows",
           "a person turns around", "a person jogs in place", "a person sits down",
           "a person stands up", "a person jumps"]
TAKES = {
    "3 segments, 10 s (4+3+3 s)": [(PROMPTS[0], 80), (PROMPTS[1], 60), (PROMPTS[2], 60)],
    "8 segments, 60 s (8 x 7.5 s)": [(p, 150) for p in PROMPTS],
}


def _timed(fn, runs: int) -> tuple[list[float], object]:
    times, out = [], None
    for r in range(runs):
        t0 = time.perf_counter()
        out = fn(r)
        times.append(time.perf_counter() - t0)
    return times, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--omp-wait-policy", default="",
                    help="OMP_WAIT_POLICY (set before torch loads; default: leave it as it is)")
    args = ap.parse_args()
    if args.omp_wait_policy:
        os.environ["OMP_WAIT_POLICY"] = args.omp_wait_policy
    import torch

    from bamm_core.generation.engine import Engine

    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    eng = Engine.from_pretrained()
    eng.encode_text(PROMPTS)  # loads the text encoder
    load = time.perf_counter() - t0
    print(f"compose: bundled model ({eng.info()['name']}), CPU, {args.threads} threads, median of "
          f"{args.runs} after 1 warm-up, OMP_WAIT_POLICY="
          f"{os.environ.get('OMP_WAIT_POLICY', '(unset)')}, load average "
          f"{os.getloadavg()[0]:.1f}; model + text encoder load {load:.1f} s")
    print(f"{'take':34s} {'median':>8s} {'min':>8s} {'max':>8s} {'seconds':>8s} {'x realtime':>10s}")
    three = None
    for name, segments in TAKES.items():
        eng.compose(segments, seed=0)  # warm-up
        times, m = _timed(lambda r: eng.compose(segments, seed=r), args.runs)
        three = three or m
        med = statistics.median(times)
        print(f"{name:34s} {med:7.3f}s {min(times):7.3f}s {max(times):7.3f}s "
              f"{m.seconds:7.1f}s {m.seconds / med:9.0f}x")
    times, _ = _timed(lambda r: eng.recompose(three, 1, "a person claps", seed=r), args.runs)
    print(f"{'recompose the 3 s middle segment':34s} {statistics.median(times):7.3f}s "
          f"{min(times):7.3f}s {max(times):7.3f}s")


if __name__ == "__main__":
    main()
