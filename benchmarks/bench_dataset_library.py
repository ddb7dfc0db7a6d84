"""`bamm dataset` against `training.prepare_bvh` on the same takes: does the general path give
the Bandai-specific one's training set?

    python -m training.prepare_bvh --src SRC --out OLD --captions captions.json
    bamm dataset SRC --out NEW --captions captions.json
    python benchmarks/bench_dataset_library.py OLD NEW

Prints takes, motions, frames, hours and splits of both, the motions only one of them has, and
per motion: equal frame counts, the largest joint difference (metres) and feature difference,
and whether the caption files are identical.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np


def compare(old: Path, new: Path) -> dict:
    so, sn = (json.loads((d / "summary.json").read_text()) for d in (old, new))
    for key in ("takes_found", "takes_prepared", "motions_written", "frames", "hours", "splits"):
        print(f"{key:16s} prepare_bvh {so[key]!s:28s} bamm dataset {sn[key]!s}")
    a = set((old / "all.txt").read_text().split())
    b = set((new / "all.txt").read_text().split())
    print(f"motions only in prepare_bvh: {sorted(a - b)[:10]} ({len(a - b)})")
    print(f"motions only in bamm dataset: {sorted(b - a)[:10]} ({len(b - a)})")
    joint_diff, feat_diff, frames_differ, texts_differ = [], [], [], 0
    for name in sorted(a & b):
        jo, jn = (np.load(d / "new_joints" / f"{name}.npy") for d in (old, new))
        if jo.shape != jn.shape:
            frames_differ.append(name)
            continue
        joint_diff.append(float(np.abs(jo - jn).max()))
        fo, fn = (np.load(d / "new_joint_vecs" / f"{name}.npy") for d in (old, new))
        feat_diff.append(float(np.abs(fo - fn).max()))
        texts_differ += (old / "texts" / f"{name}.txt").read_text() != (new / "texts" / f"{name}.txt").read_text()
    jd = np.array(joint_diff or [0.0])
    print(f"common motions {len(a & b)}: frame counts differ in {len(frames_differ)}; per-file max joint "
          f"difference: max {jd.max():.2e} m, median {np.median(jd):.2e} m; max feature difference "
          f"{max(feat_diff or [0.0]):.2e}; caption files differ in {texts_differ}")
    same_splits = all((old / f"{s}.txt").read_text() == (new / f"{s}.txt").read_text()
                      for s in ("train", "val", "test"))
    print(f"identical splits: {same_splits}; identical Mean/Std: "
          f"{np.array_equal(np.load(old / 'Mean.npy'), np.load(new / 'Mean.npy'))}/"
          f"{np.array_equal(np.load(old / 'Std.npy'), np.load(new / 'Std.npy'))}")
    print(f"skipped: prepare_bvh {len(so['skipped'])}, bamm dataset {len(sn['skipped'])}; "
          f"seconds: {so['seconds']} / {sn['seconds']}")
    return {"max_joint_difference": float(jd.max()), "frames_differ": frames_differ}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("old", type=Path, help="dataset from python -m training.prepare_bvh")
    p.add_argument("new", type=Path, help="dataset from bamm dataset")
    args = p.parse_args()
    compare(args.old, args.new)


if __name__ == "__main__":
    main()
