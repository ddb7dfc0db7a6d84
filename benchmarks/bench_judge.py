"""The judge's table (issue #12): real test clips, the tokenizer round trip and the bundled model.

    .venv/bin/python -m training.judge.train_classifier --data data_prepared/bandai \\
        --out training_state/judge --seed 1 --threads 1
    .venv/bin/python benchmarks/bench_judge.py [--data data_prepared/bandai] [--per-class 12]
        [--seeds 2] [--threads 1] [--model DIR]

Rows: real test clips; real val clips (as many per class: the real-vs-real floor of every
column); the test clips encoded and decoded by the bundled model's tokenizer
(``Engine.motion_from_joints`` + ``Engine.decode_tokens``); the bundled model
(``Engine.from_pretrained().generate``) prompted with each clip's first caption (caption
wording, the clip's length) and with the held-out free-wording prompts of
``training/judge/prompts.json`` (model-predicted length), each as delivered (rigid skeleton,
planted feet) and as predicted (``Motion.raw_joints``).  Columns: the share the judge's
classifier puts in the asked class; FID against the real test clips on the judge's embedding
(:meth:`Judge.embed`, :mod:`training.judge.frechet`; over the classes that have test clips);
jerk (m/s^3) and foot skating share, each also as ``/real`` - the class-balanced ratio over the
classes with test clips: the sum of the row's class means over the sum of the real clips'
(:func:`training.judge.physics.per_class_ratio`), so rows with different class mixes compare
fairly (skating: over the classes whose real clips skate in at least 1 % of contact steps;
"-" when none do, as real mocap under this contact rule hardly ever slides); floor
penetration and floating (m), the share that goes where asked
(:mod:`training.judge.locomotion`) and the bone-length variation
(:mod:`training.judge.physics`); then right-class share per class.
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
from training.judge.frechet import frechet_distance  # noqa: E402
from training.judge.labels import CLASSES, class_of  # noqa: E402
from training.judge.locomotion import goes_where_asked  # noqa: E402
from training.judge.physics import NAMES, per_class_ratio, physical  # noqa: E402
from training.judge.prompts import load_prompts  # noqa: E402


def pick_clips(root: Path, per_class: int, split: str = "test") -> list[str]:
    """``per_class`` clips of each class of a split, evenly spread over the class's clips in
    ``<split>.txt`` order (which groups a class's takes by style, so the first few would all be
    one style)."""
    by_class: dict[str, list[str]] = defaultdict(list)
    for n in (root / f"{split}.txt").read_text().split():
        by_class[class_of(n)].append(n)
    chosen = {}
    for c, names in by_class.items():
        picks = np.unique(np.linspace(0, len(names) - 1, min(per_class, len(names))).round())
        chosen[c] = [names[int(i)] for i in picks]
    return [n for c in CLASSES for n in chosen.get(c, [])]


def first_caption(root: Path, name: str) -> str:
    return (root / "texts" / f"{name}.txt").read_text(encoding="utf-8").splitlines()[0].split("#")[0]


def round_trip(engine: Engine, joints: np.ndarray) -> np.ndarray:
    m = engine.motion_from_joints(joints)
    ids = torch.as_tensor(m.tokens)[None]
    frames = min(len(joints), ids.shape[1] * engine.timebase.frames_per_token)
    return engine.decode_tokens(ids, [frames])[0][1]


def score(judge: Judge, items: list[tuple[str, np.ndarray]]) -> dict:
    """items: (asked class, joints) -> the row's figures and per-class hits."""
    pred = judge.predict([j for _, j in items])
    phys = [physical(j) for _, j in items]
    row = {"n": len(items), "class": float(np.mean([p == c for p, (c, _) in zip(pred, items)])),
           "where": float(np.mean([goes_where_asked(j, c) for c, j in items]))}
    row.update({k: float(np.mean([p[k] for p in phys])) for k in NAMES})
    per, where = defaultdict(list), defaultdict(list)
    for p, (c, j) in zip(pred, items):
        per[c].append(p == c)
        where[c].append(goes_where_asked(j, c))
    row["per_class"] = {c: float(np.mean(v)) for c, v in per.items()}
    row["per_class_where"] = {c: float(np.mean(v)) for c, v in where.items()}
    row["classes"] = [c for c, _ in items]
    row["clip"] = {k: [p[k] for p in phys] for k in ("jerk", "skating")}
    row["embedding"] = judge.embed([j for _, j in items])
    return row


RATIO_FLOOR = {"jerk": 0.0, "skating": 0.01}   # a class's real mean must exceed this


def compare_with_real(rows: dict[str, dict], real: dict) -> None:
    """Add each row's FID against ``real`` and its per-class jerk and skating ratios to it
    (both over the classes ``real`` has)."""
    known = set(real["classes"])
    for r in rows.values():
        keep = [i for i, c in enumerate(r["classes"]) if c in known]
        r["fid"] = (frechet_distance(r["embedding"][keep], real["embedding"])
                    if len(keep) > 1 else float("nan"))
        for k in ("jerk", "skating"):
            r[f"{k}_ratio"] = per_class_ratio(r["clip"][k], r["classes"], real["clip"][k],
                                              real["classes"], RATIO_FLOOR[k])


def print_tables(rows: dict[str, dict]) -> None:
    print(f"\n{'row':34s} {'n':>4s} {'class':>6s} {'FID':>6s} {'jerk':>7s} {'/real':>6s} "
          f"{'skate':>6s} {'/real':>6s} {'pen m':>6s} {'float m':>7s} {'where':>6s} "
          f"{'bone var':>8s}")
    for name, r in rows.items():
        print(f"{name:34s} {r['n']:4d} {r['class']:6.2f} {r['fid']:6.2f} {r['jerk']:7.1f} "
              f"{_cell(r['jerk_ratio'])} {r['skating']:6.3f} {_cell(r['skating_ratio'])} "
              f"{r['penetration']:6.3f} {r['floating']:7.3f} {r['where']:6.2f} "
              f"{r['bone_var']:8.4f}")
    for key, title in (("per_class", "right class"), ("per_class_where", "goes where asked")):
        print_per_class(rows, key, title)


def _cell(v: float) -> str:
    return f"{'-':>6s}" if np.isnan(v) else f"{v:6.2f}"


def print_per_class(rows: dict[str, dict], key: str, title: str) -> None:
    short = ["real", "real val", "tokenizer", "caption", "caption raw", "free",
             "free raw"][:len(rows)]
    print(f"\n{title} per class\n{'class':20s} " + " ".join(f"{s:>12s}" for s in short))
    for c in CLASSES:
        cells = [rows[k][key].get(c) for k in rows]
        print(f"{c:20s} " + " ".join(f"{'-':>12s}" if v is None else f"{v:12.2f}" for v in cells))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=Path("data_prepared/bandai"))
    p.add_argument("--judge", type=Path, default=Path("training_state/judge/classifier.pt"))
    p.add_argument("--per-class", type=int, default=12, help="test (and val) clips per class")
    p.add_argument("--seeds", type=int, default=2, help="samples per prompt")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--model", default=None, help="model folder (default: the bundled model)")
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    if not (a.data / "test.txt").is_file():
        sys.exit(f"no prepared dataset at {a.data}: run `bamm dataset ../shared/data/bandai-namco "
                 f"--out {a.data} --captions ../shared/data/bandai-namco/captions.json` first")
    t0 = time.perf_counter()
    judge, engine = Judge.load(a.judge), Engine.from_pretrained(a.model)
    names = pick_clips(a.data, a.per_class)
    max_f = engine.timebase.max_frames  # every row sees at most the model's longest clip
    clips = [(class_of(n), np.load(a.data / "new_joints" / f"{n}.npy")[:max_f]) for n in names]
    val = [(class_of(n), np.load(a.data / "new_joints" / f"{n}.npy")[:max_f])
           for n in pick_clips(a.data, a.per_class, "val")]
    rows = {"real test clips": score(judge, clips),
            "real val clips (floor)": score(judge, val),
            "tokenizer round trip": score(judge, [(c, round_trip(engine, j)) for c, j in clips])}
    cap, cap_raw, free, free_raw = [], [], [], []
    for n, (c, j) in zip(names, clips):
        for m in engine.generate(first_caption(a.data, n), min(len(j), max_f), seed=0,
                                 num_samples=max(2, a.seeds))[:a.seeds]:
            cap.append((c, m.joints))
            cap_raw.append((c, m.raw_joints))
    for c, prompts in load_prompts("held_out").items():
        for text in prompts:
            for m in engine.generate(text, None, seed=0, num_samples=max(2, a.seeds))[:a.seeds]:
                free.append((c, m.joints))
                free_raw.append((c, m.raw_joints))
    rows["model, caption wording"] = score(judge, cap)
    rows["model, caption wording (raw)"] = score(judge, cap_raw)
    rows["model, free wording held-out"] = score(judge, free)
    rows["model, free held-out (raw)"] = score(judge, free_raw)
    compare_with_real(rows, rows["real test clips"])
    print_tables(rows)
    print(f"\n{len(names)} test clips, {len(val)} val clips, {a.seeds} seed(s) per prompt; FID and "
          f"/real over the {len(set(rows['real test clips']['classes']))} classes with test clips; "
          f"{time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
