"""How well a kept tokenizer represents a new dataset (``bamm train`` without
``--retrain-tokenizer``).

Fine-tuning the transformers cannot teach a motion the tokenizer cannot write: a high kick
decoded from the bundled tokenizer's codes keeps the foot below the knee.  :func:`tokenizer_fit`
encodes and decodes (eval mode) up to ``max_clips`` training clips and measures, in metres, how
far the decoded joints are from the clip's, relative to the root (mean over frames and joints, and the peak); clips
above :data:`POOR_FIT_M` are named so that the user can retrain the tokenizer.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from .dataset import HumanML3DDir
from .train_vq import load_vq

POOR_FIT_M = 0.08  # mean joint error of a clip (m) above which the tokenizer does not represent it
POOR_PEAK_M = 0.5  # or a joint this far off at some frame


def local_joints(features: np.ndarray, joints_num: int = 22) -> np.ndarray:
    """(T, J-1, 3) joint positions relative to the root on the ground plane, facing +Z, heights
    absolute (the features' ``ric`` part), so that root drift does not count."""
    n = 3 * (joints_num - 1)
    return features[:, 4:4 + n].reshape(len(features), joints_num - 1, 3)


@torch.no_grad()
def tokenizer_fit(vq_checkpoint: str | Path, data: HumanML3DDir, max_clips: int = 64,
                  unit: int = 4) -> dict:
    """``{"clips", "mean_m", "poor": {name: mean error m}, "peak_m": {name: peak error m}}``."""
    vq, st = load_vq(vq_checkpoint)
    mean, std = st["mean"].numpy(), st["std"].numpy()
    items = [it for it in data.items("train", min_len=unit, max_len=10**9) if not it["name"].startswith("M")]
    if len(items) > max_clips:
        items = [items[i] for i in np.linspace(0, len(items) - 1, max_clips).round().astype(int)]
    errors, peaks = {}, {}
    for it in items:
        f = it["features"][: len(it["features"]) // unit * unit]
        x = torch.from_numpy(((f - mean) / std).astype(np.float32))[None]
        rec = vq(x)[0][0].numpy() * std + mean
        d = np.linalg.norm(local_joints(rec) - local_joints(f), axis=-1)
        errors[it["name"]], peaks[it["name"]] = float(d.mean()), float(d.max())
    poor = {k: round(v, 3) for k, v in sorted(errors.items(), key=lambda kv: -kv[1])
            if v > POOR_FIT_M or peaks[k] > POOR_PEAK_M}
    return {"clips": len(errors), "mean_m": float(np.mean(list(errors.values()))) if errors else 0.0,
            "poor": poor, "peak_m": {k: round(peaks[k], 3) for k in poor}}


__all__ = ["tokenizer_fit", "local_joints", "POOR_FIT_M", "POOR_PEAK_M"]
