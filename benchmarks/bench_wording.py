"""Free wording, prompt by prompt (issue #12): which motion each judge prompt gets.

    .venv/bin/python benchmarks/bench_wording.py [--part tuning] [--seeds 4] [--model DIR]
        [--prompt-snap S] [--threads 1]

For every prompt of one part of ``training/judge/prompts.json`` (``tuning`` by default: the
prompts that may steer choices; ``held_out`` only measures), ``--seeds`` samples of the model
at its predicted length (``Engine.generate``, engine defaults unless ``--prompt-snap``), each
named by the judge's classifier; prints the share in the asked class, what the judge called
each sample and its length in frames, then the total and the per-class shares.  The quick
companion of ``bench_judge.py`` (whose free-wording row is the held-out part of this).
"""
from __future__ import annotations

import argparse
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bamm_core.generation.engine import Engine  # noqa: E402
from training.judge.classifier import Judge  # noqa: E402
from training.judge.prompts import PARTS, load_prompts  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--part", choices=PARTS, default="tuning")
    p.add_argument("--seeds", type=int, default=4, help="samples per prompt")
    p.add_argument("--model", default=None, help="model folder (default: the bundled model)")
    p.add_argument("--judge", type=Path, default=Path("training_state/judge/classifier.pt"))
    p.add_argument("--prompt-snap", type=float, default=None,
                   help="SamplingOptions.prompt_snap (default: the model's own)")
    p.add_argument("--threads", type=int, default=1)
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    t0 = time.perf_counter()
    judge, engine = Judge.load(a.judge), Engine.from_pretrained(a.model)
    options = {} if a.prompt_snap is None else {"prompt_snap": a.prompt_snap}
    hits, per_class = [], defaultdict(list)
    print(f"{'class':20s} {'right':>5s}  prompt -> judge's class of each sample (frames)")
    for c, prompts in load_prompts(a.part).items():
        for text in prompts:
            motions = engine.generate(text, None, seed=0, num_samples=a.seeds, **options)
            said = judge.predict([m.joints for m in motions])
            ok = [s == c for s in said]
            hits += ok
            per_class[c] += ok
            samples = ", ".join(f"{s} ({len(m.joints)})" for s, m in zip(said, motions))
            print(f"{c:20s} {np.mean(ok):5.2f}  {text!r} -> {samples}")
    print(f"\nright class {np.mean(hits):.3f} of {len(hits)} samples ({a.part} prompts, "
          f"{a.seeds} seed(s) each); {time.perf_counter() - t0:.0f} s")
    print("per class: " + ", ".join(f"{c} {np.mean(v):.2f}" for c, v in per_class.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
