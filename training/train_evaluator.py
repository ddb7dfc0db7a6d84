"""Train the text–motion matching evaluator (``training/evaluator.py``) contrastively.

    python -m training.train_evaluator --data DIR --config cpu_small --out runs/evaluator

Each step: a batch of training clips (``DistributedSampler`` order), one random caption per
clip, a random crop of at most ``max_len`` frames (a multiple of the evaluator's 4-frame step), features normalised with the
dataset ``Mean``/``Std``; loss = symmetric InfoNCE.  At the end it prints R-precision and
MM-Dist of real motions on the validation split (``--eval-split``).
"""
from __future__ import annotations

import sys

import numpy as np
import torch

from .dataset import HumanML3DDir
from .distributed import LossModule, StepBatches, wrap_ddp
from .evaluator import FRAMES_PER_STEP, EvaluatorBundle, TextMotionEvaluator, pad_batch
from .loop import train_loop
from .metrics import r_precision_and_mm_dist
from .run import base_parser, start_run
from .text_cache import CaptionCache


def crop(feats: np.ndarray, max_len: int, unit: int = FRAMES_PER_STEP) -> np.ndarray:
    """Random crop (global numpy RNG) of at most ``max_len`` frames, length a multiple of ``unit``."""
    n = min(len(feats), max_len) // unit * unit
    off = np.random.randint(0, len(feats) - n + 1)
    return feats[off:off + n]


def crop_end(feats: np.ndarray, unit: int = FRAMES_PER_STEP) -> np.ndarray:
    """The first ``len // unit * unit`` frames."""
    return feats[: len(feats) // unit * unit]


def evaluate_real(bundle: EvaluatorBundle, items: list[dict], cache: CaptionCache,
                  batch_size: int = 32, seed: int = 0) -> tuple[np.ndarray, float]:
    """R-precision and MM-Dist of real motions with their first caption, in a shuffled order."""
    order = np.random.default_rng(seed).permutation(len(items))
    feats = [crop_end(items[i]["features"]) for i in order]
    caps = [items[i]["captions"][0] for i in order]
    t = bundle.text_embeddings(sentence_emb=cache(caps))
    m = bundle.motion_embeddings(feats)
    return r_precision_and_mm_dist(t, m, batch_size=min(batch_size, len(items)))


def main(argv: list[str] | None = None) -> dict:
    p = base_parser(__doc__.splitlines()[0])
    p.add_argument("--eval-split", default="val")
    args = p.parse_args(argv)
    run = start_run(args, "evaluator")
    cfg, ec, ds_cfg, seed = run.cfg, run.stage, run.dataset, run.seed
    info, device, out = run.info, run.device, run.out

    data = HumanML3DDir(args.data, fps=ds_cfg.get("fps"))
    items = data.items("train", ds_cfg["min_len"], 10**9)  # whole clips; random crops per step
    if not items:
        raise RuntimeError(f"no training clips in {args.data}")
    cache = CaptionCache(out / "text_cache.pt", cfg["text_encoder"])
    if info.is_main:
        cache.ensure(c for it in items for c in it["captions"])
    info.barrier()
    if not info.is_main:
        cache = CaptionCache(out / "text_cache.pt", cfg["text_encoder"])
    mean, std = data.mean, data.std
    arch = dict(text_dim=int(cache.emb.shape[1]), dim_pose=int(ds_cfg["dim_pose"]), emb_dim=ec["emb_dim"],
                text_hidden=ec["text_hidden"], motion_hidden=ec["motion_hidden"], dropout=ec["dropout"],
                temperature=ec["temperature"])
    model = TextMotionEvaluator(**arch).to(device)
    net = wrap_ddp(LossModule(model, "training_loss"), info, device)
    opt = torch.optim.AdamW(model.parameters(), lr=ec["lr"], weight_decay=ec["weight_decay"])
    batches = StepBatches(len(items), ec["batch_size"], seed, info)

    def step_fn(step: int):
        _, idx = batches(step)
        feats, caps = [], []
        for i in idx:
            it = items[i]
            caps.append(it["captions"][np.random.randint(len(it["captions"]))])
            feats.append((crop(it["features"], ds_cfg["max_len"]) - mean) / std)
        x, lens = pad_batch(feats)
        loss, acc = net(x.to(device), lens, cache(caps).to(device))
        return loss, {"acc": float(acc)}

    extra = lambda: {"arch": arch, "mean": torch.from_numpy(mean), "std": torch.from_numpy(std),
                     "text_encoder": cfg["text_encoder"], "config": cfg.get("name", "")}
    res = train_loop(model=model, optimizer=opt, step_fn=step_fn, extra_state=extra, grad_clip=1.0,
                     **run.loop_kwargs(args, "evaluator"))
    if info.is_main:
        try:
            val = data.items(args.eval_split, ds_cfg["min_len"], ds_cfg["max_len"])
        except FileNotFoundError:
            val = []
        if len(val) >= 2:
            cache.ensure(it["captions"][0] for it in val)
            bundle = EvaluatorBundle.load(out, device="cpu")
            r, mm = evaluate_real(bundle, val, cache, batch_size=32, seed=seed)
            res.update({"val_r_precision": [float(v) for v in r], "val_mm_dist": float(mm)})
            print(f"[{args.eval_split}] real motions: R-precision top1/2/3 = "
                  f"{r[0]:.3f}/{r[1]:.3f}/{r[2]:.3f}  MM-Dist = {mm:.3f}  (n={len(val)})")
        print(f"stopped at step {res['step']} ({res['stopped']})")
    return res


if __name__ == "__main__":
    main(sys.argv[1:])
