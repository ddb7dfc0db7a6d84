"""Train the judge's classifier on a prepared dataset's train split.

    python -m training.judge.train_classifier --data data_prepared/bandai \\
        --out training_state/judge --seed 1 --threads 1

Class-balanced batches (a class uniformly, then a recording set of it, then one of its clips)
of random crops of the train clips, augmented: each clip also at other speeds (:data:`SPEEDS`,
resampled in time), a share of the crops shorter than the window (edge-padded, as short clips
are at inference), a little feature noise.  A second head learns which recording set (``dataset-1`` / ``dataset-2``) a clip
comes from, and the judge weighs each class by the chance that the clip comes from a set the
class was recorded in (near-synonyms such as bye / wave-right-hand or byebye / wave-both-hands
differ mostly in that).  AdamW with a one-cycle schedule, about 4 minutes on one CPU core;
prints the val and test splits' accuracy (overall, class-balanced, per class) and writes
``<out>/classifier.pt`` (the committed one: ``--seed 1``, chosen on the val split).
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
from ..captions import parse_take_name
from .labels import CLASSES, class_of


def load_split(root: Path, split: str) -> tuple[list[np.ndarray], list[str]]:
    """(joints per clip, class per clip) of a prepared split."""
    names = (root / f"{split}.txt").read_text().split()
    return [np.load(root / "new_joints" / f"{n}.npy") for n in names], [class_of(n) for n in names]


def sources(root: Path, split: str) -> list[str]:
    """The recording set (``dataset-N``) of each clip of a prepared split."""
    return [parse_take_name(n).dataset for n in (root / f"{split}.txt").read_text().split()]


SPEEDS = (0.8, 0.9, 1.0, 1.12, 1.25)   # playback speeds a train clip is also seen at
SHORT = 0.3      # share of crops shorter than the window
MIN_CROP = 24    # frames of the shortest crop
NOISE = 0.05     # std of the noise added to the normalised features


def resample(joints: np.ndarray, speed: float) -> np.ndarray:
    """``joints`` (T, ...) played ``speed`` times as fast (linear interpolation in time)."""
    t = len(joints)
    n = max(2, int(round((t - 1) / speed)) + 1)
    pos = np.linspace(0, t - 1, n)
    lo = np.floor(pos).astype(int)
    hi = np.minimum(lo + 1, t - 1)
    w = (pos - lo).reshape(-1, *([1] * (joints.ndim - 1)))
    return joints[lo] * (1 - w) + joints[hi] * w


def speed_versions(joints: np.ndarray, speeds=SPEEDS, fps: float = 20.0) -> list[np.ndarray]:
    """Features of a clip at each playback speed."""
    return [joint_features(resample(joints, v) if v != 1.0 else joints, fps) for v in speeds]


def random_crop(f: np.ndarray, rng: np.random.Generator, short: float = SHORT) -> np.ndarray:
    """A random ``FRAMES`` window of ``f`` (T, D); a ``short`` share is a shorter crop, padded."""
    length = FRAMES
    if rng.random() < short and len(f) > MIN_CROP:
        length = int(rng.integers(MIN_CROP, min(len(f), FRAMES) + 1))
    start = int(rng.integers(0, max(1, len(f) - length + 1)))
    return fit_length(f[start:start + length], FRAMES)


def _versions(feats) -> list[list[np.ndarray]]:
    """Each clip as a list of feature versions (a plain array is one version)."""
    return [[f] if isinstance(f, np.ndarray) else list(f) for f in feats]


def _group_index(groups) -> tuple[np.ndarray, np.ndarray]:
    """(sorted group names, each clip's index into them)."""
    return np.unique(np.asarray(groups), return_inverse=True)


def _pools(y: np.ndarray, num_classes: int, groups=None) -> list[list[np.ndarray]]:
    """Per class with clips: its clips' indices, split by ``groups`` when given."""
    g = np.zeros(len(y), int) if groups is None else _group_index(groups)[1]
    pools = []
    for c in range(num_classes):
        ix = np.flatnonzero(y == c)
        if len(ix):
            pools.append([ix[g[ix] == k] for k in np.unique(g[ix])])
    return pools


def _draw(pool: list[np.ndarray], rng: np.random.Generator) -> int:
    """One clip of a class: a group uniformly, then a clip of it."""
    return int(rng.choice(pool[int(rng.integers(len(pool)))]))


def train(feats, labels: list[int], classes: list[str], steps: int = 1500, batch: int = 64,
          seed: int = 0, width: int = 96, log=print, lr: float = 2e-3,
          short: float = SHORT, noise: float = NOISE, groups=None, summary: bool = True,
          aux: float = 0.0) -> Judge:
    """Train on per-clip features ``(T, DIM)`` (or a list of versions of them, e.g.
    :func:`speed_versions`) with integer ``labels``; returns the judge.  ``groups`` (one
    hashable per clip, e.g. its source dataset) balances the draw within a class too, and
    with ``aux`` > 0 a second head learns to tell the groups apart (loss weight ``aux``;
    the judge then also weighs each class by how likely the clip comes from a group the
    class was recorded in, :meth:`MotionClassifier.scores`)."""
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    versions = _versions(feats)
    allf = np.concatenate([v[0] for v in versions])
    mean, std = allf.mean(0), allf.std(0) + 1e-3
    g_names, g_all = (None, None) if groups is None else _group_index(groups)
    use_groups = bool(aux) and g_all is not None
    model = MotionClassifier(len(classes), width, allf.shape[1], summary,
                             len(g_names) if use_groups else 0)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-2)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, lr, total_steps=steps)
    y_all = np.asarray(labels)
    by_class = _pools(y_all, len(classes), groups)
    loss_fn = nn.CrossEntropyLoss(label_smoothing=0.05)
    for _ in tqdm(range(steps), desc="judge", unit="step", mininterval=5, disable=log is None):
        # class-balanced: a class uniformly, then one of its clips (rare classes count as much)
        idx = [_draw(by_class[k], rng) for k in rng.integers(0, len(by_class), batch)]
        x = np.stack([random_crop(versions[i][rng.integers(len(versions[i]))], rng, short)
                      for i in idx])
        x = (x - mean) / std + noise * rng.standard_normal(x.shape)
        pooled = model.pooled(torch.from_numpy(x.astype(np.float32)))
        loss = loss_fn(model.head(pooled), torch.from_numpy(y_all[idx]))
        if use_groups:
            loss = loss + aux * loss_fn(model.group_head(pooled), torch.from_numpy(g_all[idx]))
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
    if not use_groups:
        return Judge(model, classes, mean, std)
    return Judge(model, classes, mean, std, groups=[str(g) for g in g_names],
                 class_groups=_class_groups(y_all, g_all, len(classes), len(g_names)))


def _class_groups(y: np.ndarray, g: np.ndarray, num_classes: int, num_groups: int) -> np.ndarray:
    """(classes, groups) bool: the groups each class has clips in (all, for a class without)."""
    mask = np.zeros((num_classes, num_groups), bool)
    mask[y, g] = True
    mask[~mask.any(1)] = True
    return mask


def predict_all(judge: Judge, joints: list[np.ndarray]) -> list[str]:
    pred = []
    for s in range(0, len(joints), 128):
        pred += judge.predict(joints[s:s + 128])
    return pred


def accuracy(judge: Judge, joints: list[np.ndarray], labels: list[str]) -> float:
    return float(np.mean([p == t for p, t in zip(predict_all(judge, joints), labels)]))


def per_class_accuracy(judge: Judge, joints: list[np.ndarray],
                       labels: list[str]) -> dict[str, tuple[float, int]]:
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
    p.add_argument("--width", type=int, default=96)
    p.add_argument("--aux", type=float, default=1.0,
                   help="weight of the recording-set head (0: none)")
    p.add_argument("--threads", type=int, default=2)
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    joints, names = load_split(a.data, "train")
    feats = [speed_versions(j) for j in tqdm(joints, desc="features", mininterval=5)]
    judge = train(feats, [CLASSES.index(c) for c in names], list(CLASSES), a.steps, seed=a.seed,
                  width=a.width, groups=sources(a.data, "train"), aux=a.aux)
    for split in ("val", "test"):
        sj, sn = load_split(a.data, split)
        per = per_class_accuracy(judge, sj, sn)
        balanced = np.mean([v for v, _ in per.values()])
        print(f"{split}: accuracy {accuracy(judge, sj, sn):.3f} on {len(sn)} clips, "
              f"class-balanced {balanced:.3f} over {len(per)} classes")
        print("  " + ", ".join(f"{c} {v:.2f} ({n})" for c, (v, n) in per.items()))
    judge.save(a.out / "classifier.pt")
    size = (a.out / "classifier.pt").stat().st_size / 1e6
    print(f"wrote {a.out / 'classifier.pt'} ({size:.2f} MB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
