"""Is a new motion learned?  Generate kicks, punches and walks with a fine-tuned model and the
model it started from, and print how high and fast the feet and hands go.

    python benchmarks/bench_fine_tune.py MODEL_DIR [--base default] [--seeds 5] [--dataset DS]

Per prompt and model (``--seeds`` samples each, 4 s long): the highest foot above the floor (m),
the peak foot speed (m/s), the peak wrist speed (m/s) and the root travel (m), as mean over the
samples.  With ``--dataset``, the same for its real clips whose caption contains the prompt's
keyword (the target).  A kick raises a foot high and fast; a punch moves the wrists fast with
little travel; a walk travels.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

PROMPTS = {"kick": "a person kicks with the right leg from a fighting stance.",
           "high kick": "a person does a high kick.",
           "punch": "a person throws punches from a fighting stance.",
           "walk": "a person walks forward."}
FEET, WRISTS = [7, 8, 10, 11], [20, 21]


def stats(j: np.ndarray, fps: float) -> dict[str, float]:
    j = np.asarray(j, dtype=np.float64)
    floor = j[..., 1].min()
    speed = np.linalg.norm(np.diff(j, axis=0), axis=-1) * fps
    return {"foot_top": j[:, FEET, 1].max() - floor, "foot_speed": speed[:, FEET].max(),
            "wrist_speed": speed[:, WRISTS].max(),
            "travel": float(np.linalg.norm(j[-1, 0, [0, 2]] - j[0, 0, [0, 2]]))}


def mean_stats(rows: list[dict]) -> dict[str, float]:
    return {k: float(np.mean([r[k] for r in rows])) for k in rows[0]}


def real_rows(dataset: Path, keyword: str, fps: float) -> list[dict]:
    from bamm_core.motion.features import recover_from_ric
    from training.dataset import HumanML3DDir

    data = HumanML3DDir(dataset)
    names = [n for n in (dataset / "all.txt").read_text().split() if not n.startswith("M")]
    return [stats(recover_from_ric(data.features(n)), fps) for n in names
            if any(keyword in c.text for c in data.captions(n))]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("model")
    p.add_argument("--base", default="default")
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--seconds", type=float, default=4.0)
    p.add_argument("--dataset", default=None)
    args = p.parse_args()
    from bamm_core.generation.engine import Engine

    models = {"base": None if args.base == "default" else args.base, "fine-tuned": args.model}
    print(f"{'prompt':<10} {'model':<11} {'foot_top m':>10} {'foot_speed':>10} {'wrist_speed':>11} {'travel m':>9}")
    for label, path in models.items():
        eng = Engine.from_pretrained(path) if path else Engine.from_pretrained()
        frames = eng.timebase.seconds_to_frames(args.seconds)
        t0 = time.time()
        for key, prompt in PROMPTS.items():
            rows = [stats(eng.generate(prompt, length=frames, seed=s).joints, eng.timebase.fps)
                    for s in range(args.seeds)]
            m = mean_stats(rows)
            print(f"{key:<10} {label:<11} {m['foot_top']:10.2f} {m['foot_speed']:10.2f} "
                  f"{m['wrist_speed']:11.2f} {m['travel']:9.2f}")
        print(f"  ({label}: {time.time() - t0:.0f} s)")
    if args.dataset:
        for key in ("kick", "punch", "walk"):
            rows = real_rows(Path(args.dataset), key, 20.0)
            if rows:
                m = mean_stats(rows)
                print(f"{key:<10} {'real x' + str(len(rows)):<11} {m['foot_top']:10.2f} {m['foot_speed']:10.2f} "
                      f"{m['wrist_speed']:11.2f} {m['travel']:9.2f}")


if __name__ == "__main__":
    main()
