"""Train the judge's classifier on a prepared dataset's train split.

    python -m training.judge.train_classifier --data data_prepared/bandai --out training_state/judge

Class-balanced batches of random 6 s crops of the train clips, AdamW, a few minutes on 2 CPU cores; prints the val
and test splits' accuracy (overall, class-balanced, per class) and writes ``<out>/classifier.pt``.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from .classifier import Judge, MotionClassifier
from .joint_features import FRAMES, fit_length, joint_features
from .labels import CLASSES, class_of


def load_split(root: Path, split: str) -> tuple[list[np.ndarray], list[str]]:
    """(joints per clip, class per clip) of a prepared split."""
    names = (root / f"{split}.txt").read_text().split()
    return [np.load(root / "new_joints" / f"{n}.npy") for n in names], [class_of(n) for n in names]


def train(feats: list[np.ndarray], labels: list[int], classes: list[str], steps: int = 1500,
          batch: int = 64, seed: int = 0, width: int = 96, log=print) -> Judge:
    """Train on per-clip features ``(T, DIM)`` with integer ``labels``; returns the judge."""
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    allf = np.concatenate(feats)
    mean, std = allf.mean(0), allf.std(0) + 1e-3
    model = MotionClassifier(len(classes), width)
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=1e-2)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, 2e-3, total_steps=steps)
    y_all = np.asarray(labels)
    by_class = [np.flatnonzero(y_all == c) for c in range(len(classes))]
    by_class = [ix for ix in by_class if len(ix)]
    loss_fn = nn.CrossEntropyLoss(label_smoothing=0.05)
    for step in tqdm(range(steps), desc="judge", unit="step", mininterval=5):
        # class-balanced: a class uniformly, then one of its clips (rare classes count as much)
        idx = [int(rng.choice(by_class[k])) for k in rng.integers(0, len(by_class), batch)]
        x = np.stack([fit_length(feats[i], FRAMES, int(rng.integers(0, max(1, len(feats[i]) - FRAMES + 1))))
                      for i in idx])
        x = (x - mean) / std
        loss = loss_fn(model(torch.from_numpy(x.astype(np.float32))), torch.from_numpy(y_all[idx]))
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
    return Judge(model, classes, mean, std)


def predict_all(judge: Judge, joints: list[np.ndarray]) -> list[str]:
    pred = []
    for s in range(0, len(joints), 128):
        pred += judge.predict(joints[s:s + 128])
    return pred


def accuracy(judge: Judge, joints: list[np.ndarray], labels: list[str]) -> float:
    return float(np.mean([p == t for p, t in zip(predict_all(judge, joints), labels)]))


def per_class_accuracy(judge: Judge, joints: list[np.ndarray], labels: list[str]) -> dict[str, tuple[float, int]]:
    """``{class: (accuracy, clips)}`` in :data:`CLASSES` order (classes with clips only)."""
    hits = [p == t for p, t in zip(predict_all(judge, joints), labels)]
    return {c: (float(np.mean([h for h, t in zip(hits, labels) if t == c])), labels.count(c))
            for c in CLASSES if c in labels}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, required=True, help="prepared dataset (bamm dataset --out)")
    p.add_argument("--out", type=Path, default=Path("training_state/judge"))
    p.add_argument("--steps", type=int, default=1500)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args(argv)
    torch.set_num_threads(2)
    joints, names = load_split(a.data, "train")
    feats = [joint_features(j) for j in tqdm(joints, desc="features", mininterval=5)]
    judge = train(feats, [CLASSES.index(c) for c in names], list(CLASSES), a.steps, seed=a.seed)
    for split in ("val", "test"):
        sj, sn = load_split(a.data, split)
        per = per_class_accuracy(judge, sj, sn)
        balanced = np.mean([v for v, _ in per.values()])
        print(f"{split}: accuracy {accuracy(judge, sj, sn):.3f} on {len(sn)} clips, "
              f"class-balanced {balanced:.3f} over {len(per)} classes")
        print("  " + ", ".join(f"{c} {v:.2f} ({n})" for c, (v, n) in per.items()))
    judge.save(a.out / "classifier.pt")
    print(f"wrote {a.out / 'classifier.pt'} ({(a.out / 'classifier.pt').stat().st_size / 1e6:.2f} MB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
