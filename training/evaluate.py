"""Evaluate a text-to-motion model on a held-out split: the paper's table on our data.

    python -m training.evaluate --data DIR --model bamm_core/models/default --evaluator runs/evaluator
    python -m training.evaluate --data DIR --runs runs --evaluator runs/evaluator   # straight from training runs

Metrics (SPEC §7, ``training/metrics.py``), each as mean ± 95 % CI (1.96·std/√repeats) over
``--repeats`` runs with different seeds, caption choices and batch orders:
FID, R-precision top-1/2/3 (batches of 32), MM-Dist, Diversity, MultiModality — all measured in
the embedding space of our contrastive evaluator (``training/evaluator.py``), so the numbers are
comparable between rows of one table, not with the paper's GloVe-evaluator numbers.  Physical
plausibility (foot skating ratio, jitter, ground penetration / float) is computed from joint
positions for the real clips and for every generated row.

Sampling uses one :class:`~bamm_core.generation.options.SamplingOptions`: the model's defaults
(``Engine.default_options``), the preset's ``eval`` guidance (``cond_scale``, ``res_cond_scale``)
when it has one, ``--refine`` and ``--min-length``.  Rows: ``real`` (test motions themselves),
``bamm`` (cascaded: the ``--refine`` strategy, default every-other, predicted length),
``ar_only`` (refine none), ``gt_length`` (given ground-truth length), one row per other
refinement strategy of the registry (``refine_<name>``), and the editing tasks on ground-truth tokens (SPEC §5.5):
``inpainting`` (keep first and last 25 %, regenerate the middle), ``outpainting`` (keep the
middle 50 %), ``prefix`` (keep the first half), ``suffix`` (keep the second half).  Editing
re-samples the missing layer-0 tokens under the hybrid mask with the kept tokens and [END]
visible, conditioned on the text (the official ``edit2`` intent), then runs the residual
transformer over the whole clip.

Test clips are cut to their first ``max_len`` frames (the model's longest motion), a multiple of
its frames per token.  ``--max-samples``
keeps CPU time sane (rounded down to whole batches of 32).
"""
from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from bamm_core.generation.options import SamplingOptions
from bamm_core.generation.refinement import STRATEGIES
from bamm_core.motion.timebase import Timebase

from . import metrics as M
from .checkpoints import write_json
from .config import load_config
from .dataset import HumanML3DDir
from .evaluator import EvaluatorBundle
from .run import torch_device
from .text_cache import CaptionCache
from .train_vq import encode_tokens

EDIT_ROWS = ("inpainting", "outpainting", "prefix", "suffix")


def generation_rows(default_refine: str) -> dict[str, dict]:
    """Row name -> what it generates: ``refine`` (None = the options' strategy) and ``length``
    (``pred``/``gt``), or ``edit``.  One ``refine_<name>`` row per other registered strategy."""
    rows = {"bamm": {"refine": None, "length": "pred"},
            "ar_only": {"refine": "none", "length": "pred"},
            "gt_length": {"refine": None, "length": "gt"}}
    rows.update({f"refine_{name}": {"refine": name, "length": "pred"}
                 for name in STRATEGIES if name not in (default_refine, "none")})
    rows.update({name: {"edit": name} for name in EDIT_ROWS})
    return rows


GEN_ROWS = generation_rows(SamplingOptions().refine)
DEFAULT_ROWS = ["real", *(r for r in GEN_ROWS if r not in ("prefix", "suffix"))]


@dataclass
class ModelParts:
    """What evaluation needs from a model: the three networks, normalisation stats, its
    timebase and default sampling options."""

    vq: torch.nn.Module
    mt: torch.nn.Module
    rt: torch.nn.Module
    mean: np.ndarray
    std: np.ndarray
    text_encoder: str
    timebase: Timebase
    options: SamplingOptions
    joints_num: int = 22

    @classmethod
    def from_runs(cls, runs: str | Path, device="cpu") -> "ModelParts":
        """From training run dirs ``RUNS/{vq,transformer,residual}/last.pt``."""
        from .runs import load_runs

        r = load_runs(runs, device)
        return cls(r.vq, r.transformer, r.residual, r.vq_state["mean"].numpy(), r.vq_state["std"].numpy(),
                   r.transformer_state.get("text_encoder", "minilm"), r.timebase, SamplingOptions(),
                   int(r.dataset.get("joints_num", 22)))

    @classmethod
    def from_model_dir(cls, path: str | Path | None, device="cpu") -> "ModelParts":
        """From one of our model dirs (or ``None`` = bundled default) via ``Engine``."""
        from bamm_core import Engine

        eng = Engine.from_pretrained(path, device=str(device))
        te = eng.config.get("text_encoder", {})
        enc_name = te.get("name", "minilm") if isinstance(te, dict) else str(te)
        return cls(eng.vq.eval(), eng.transformer.eval(), eng.residual.eval(),
                   eng.mean.float().cpu().numpy(), eng.std.float().cpu().numpy(), enc_name,
                   eng.timebase, eng.default_options, eng.joints_num)


# --------------------------------------------------------------------------- generation
@torch.inference_mode()
def generate_features(parts: ModelParts, cond: torch.Tensor, row: dict, gt_tokens: list[torch.Tensor],
                      gen: torch.Generator, options: SamplingOptions) -> list[np.ndarray]:
    """One batch: text embeddings (B, D) -> list of de-normalised (T_i, D) feature arrays.
    ``options``: guidance, sampling, the strategy of rows without their own and
    ``min_length`` (frames; the shortest predicted length)."""
    from bamm_core.generation import decoding as dec

    mt, rt, tb = parts.mt, parts.rt, parts.timebase
    b = cond.shape[0]
    n_slots = tb.max_tokens + 1
    gt_len = torch.tensor([min(len(t), tb.max_tokens) for t in gt_tokens], dtype=torch.long)
    if "edit" in row:
        ids0 = torch.full((b, n_slots), mt.pad_id, dtype=torch.long)
        for i, t in enumerate(gt_tokens):
            L = int(gt_len[i])
            ids0[i, :L] = t[:L, 0]
            ids0[i, L] = mt.end_id
        slot = torch.arange(n_slots)[None]
        L = gt_len[:, None]
        q1, half, q3 = L // 4, L // 2, (3 * L) // 4
        regen = {"inpainting": (slot >= q1) & (slot < q3),
                 "outpainting": (slot < q1) | (slot >= q3),
                 "prefix": slot >= half,
                 "suffix": slot < half}[row["edit"]] & (slot < L)
        ids0, _ = dec.refinement_round(mt, cond, ids0, gt_len, regen, options.refine_cfg,
                                       options.temperature, options.top_k, gen)
        lengths = gt_len
        all_ids = dec.residual_layers(rt, ids0, lengths, cond, options.residual_cfg, options.temperature,
                                      generator=gen)
    else:
        lengths = gt_len if row["length"] == "gt" else None
        res = dec.generate_ids(mt, rt, cond, lengths, options.replace(refine=row["refine"]), gen,
                               max_tokens=tb.max_tokens, min_tokens=tb.tokens_for(options.min_length))
        all_ids, lengths = res.ids, res.lengths
    feats = parts.vq.forward_decoder(all_ids).float().cpu().numpy()  # (B, frames, F), normalised
    feats = feats * parts.std + parts.mean
    return [feats[i, : int(lengths[i]) * tb.frames_per_token] for i in range(b)]


def joints_of(features: list[np.ndarray], joints_num: int = 22) -> list[np.ndarray]:
    from bamm_core.motion.features import recover_from_ric

    return [np.asarray(recover_from_ric(f, joints_num), dtype=np.float32) for f in features]


# --------------------------------------------------------------------------- table
def fmt(mean: float, ci: float, digits: int = 3) -> str:
    return f"{mean:.{digits}f} ± {ci:.{digits}f}"


def markdown_table(results: dict) -> str:
    head = ("| row | R-prec top-1 | top-2 | top-3 | FID ↓ | MM-Dist ↓ | Diversity → | MModality ↑ "
            "| skating ↓ | jitter (m/s³) | penetration (m) | float (m) |")
    lines = [head, "|" + "---|" * 12]
    for name, r in results["rows"].items():
        cells = [name]
        for k in ("top1", "top2", "top3", "fid", "mm_dist", "diversity", "multimodality"):
            cells.append(fmt(*r[k]) if k in r else "–")
        p = r.get("physical", {})
        cells += [f"{p[k]:.3f}" if k in p else "–" for k in ("skating", "jitter", "penetration", "float")]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


# --------------------------------------------------------------------------- main
def sampling_options(model_options: SamplingOptions, protocol: dict, refine: str | None,
                     min_length: int | None, timebase: Timebase, parser: argparse.ArgumentParser
                     ) -> SamplingOptions:
    """The model's default options with the preset's ``eval`` guidance (``cond_scale`` =
    [round 1, refinement], ``res_cond_scale``), ``--refine`` and ``--min-length`` (default the
    timebase's) applied; a bad ``--min-length`` is a usage error."""
    scales = protocol.get("cond_scale")
    options = model_options.replace(
        cfg=None if scales is None else scales[0], refine_cfg=None if scales is None else scales[-1],
        residual_cfg=protocol.get("res_cond_scale"), refine=refine, min_length=min_length)
    frames = timebase.default_min_frames if options.min_length is None else options.min_length
    try:
        timebase.check_frames(frames, "--min-length")
    except ValueError as e:
        parser.error(str(e))
    return options.replace(min_length=frames)


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", required=True, help="HumanML3D-layout dataset directory")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--model", default=None, help="model dir for Engine.from_pretrained (default: bundled)")
    src.add_argument("--runs", default=None, help="dir with vq/, transformer/, residual/ training runs")
    p.add_argument("--evaluator", required=True, help="train_evaluator run dir")
    p.add_argument("--config", default="cpu_small", help="preset whose 'eval' section sets the protocol")
    p.add_argument("--split", default="test")
    p.add_argument("--rows", default=",".join(DEFAULT_ROWS),
                   help=f"comma-separated rows from: real,{','.join(GEN_ROWS)}")
    p.add_argument("--repeats", type=int, default=None)
    p.add_argument("--max-samples", type=int, default=None)
    p.add_argument("--mm-repeats", type=int, default=None, help="generations per prompt for MultiModality (0 = skip)")
    p.add_argument("--min-length", type=int, default=None, metavar="FRAMES",
                   help="shortest predicted length in frames (default: the model's timebase "
                        "default, as Engine.generate; one token's frames = the official rule)")
    p.add_argument("--refine", default=None, choices=list(STRATEGIES),
                   help="refinement strategy of the bamm and gt_length rows (default: the model's)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu", help="auto | cpu | cuda[:N] | mps")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--out", default=None, help="write the results as JSON here")
    args = p.parse_args(argv)

    t_start = time.time()
    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = load_config(args.config)
    ev = cfg["eval"]
    ds_cfg = cfg["dataset"]
    repeats = args.repeats or ev["repeats"]
    bs = ev["batch_size"]
    mm_rep = ev["mm_repeats"] if args.mm_repeats is None else args.mm_repeats
    device = torch_device(args.device)
    rows = [r.strip() for r in args.rows.split(",") if r.strip()]
    bad = [r for r in rows if r != "real" and r not in GEN_ROWS]
    if bad:
        raise SystemExit(f"unknown rows {bad}; choose from real,{','.join(GEN_ROWS)}")

    parts = ModelParts.from_runs(args.runs, device) if args.runs else ModelParts.from_model_dir(args.model, device)
    bundle = EvaluatorBundle.load(args.evaluator, device=str(device))
    tb = parts.timebase
    options = sampling_options(parts.options, ev, args.refine, args.min_length, tb, p)
    data = HumanML3DDir(args.data, fps=ds_cfg.get("fps"))
    items = data.items(args.split, ds_cfg["min_len"], tb.max_frames)
    unit = tb.frames_per_token
    for it in items:
        it["features"] = it["features"][: len(it["features"]) // unit * unit]
    order = np.random.default_rng(args.seed).permutation(len(items))
    n = len(items) if args.max_samples is None else min(len(items), args.max_samples)
    n = n // bs * bs
    if n == 0:
        raise SystemExit(f"split {args.split!r} has {len(items)} clips; need at least one batch of {bs}")
    items = [items[i] for i in order[:n]]

    # caches: caption embeddings for the generator's encoder and for the evaluator's
    all_caps = sorted({c for it in items for c in it["captions"]})
    gen_cache = CaptionCache(Path(args.evaluator) / f"eval_text_{parts.text_encoder}.pt", parts.text_encoder)
    gen_cache.ensure(all_caps)
    ev_cache = gen_cache if bundle.text_encoder_name == parts.text_encoder else \
        CaptionCache(Path(args.evaluator) / "text_cache.pt", bundle.text_encoder_name)
    ev_cache.ensure(all_caps)
    # ground-truth tokens (for GT length and editing rows)
    gt_tokens = encode_tokens(parts.vq, [(it["features"] - parts.mean) / parts.std for it in items], device, unit)
    real_feats = [it["features"] for it in items]
    real_emb = bundle.motion_embeddings(real_feats)
    diversity_times = min(ev["diversity_times"], n)
    mm_times = min(ev["mm_times"], mm_rep) if mm_rep else 0

    results: dict = {"rows": {}, "n_samples": n, "repeats": repeats, "split": args.split,
                     "model": args.runs or args.model or "default", "evaluator": args.evaluator,
                     "options": options.as_dict()}
    for row in rows:
        per = {k: [] for k in ("top1", "top2", "top3", "fid", "mm_dist", "diversity", "multimodality")}
        physical = None
        for r in tqdm(range(repeats), desc=row, dynamic_ncols=True, mininterval=2.0):
            rng = np.random.default_rng(args.seed * 1000 + r)
            caps = [it["captions"][rng.integers(len(it["captions"]))] for it in items]
            perm = rng.permutation(n)  # batch composition for R-precision
            text_emb = bundle.text_embeddings(sentence_emb=ev_cache(caps))
            if row == "real":
                emb, feats = real_emb, real_feats
            else:
                gen = torch.Generator().manual_seed(args.seed * 1000 + r)
                feats = []
                for s in range(0, n, bs):
                    cond = gen_cache(caps[s:s + bs]).to(device)
                    feats += generate_features(parts, cond, GEN_ROWS[row], gt_tokens[s:s + bs], gen,
                                               options)
                emb = bundle.motion_embeddings(feats)
                per["fid"].append(M.fid(real_emb, emb))
                if mm_times >= 2:
                    cond = gen_cache(caps[:bs]).to(device)
                    reps = [bundle.motion_embeddings(generate_features(parts, cond, GEN_ROWS[row], gt_tokens[:bs],
                                                                       gen, options))
                            for _ in range(mm_rep)]
                    per["multimodality"].append(M.multimodality(np.stack(reps, 1), mm_times, rng))
            rp, mm = M.r_precision_and_mm_dist(text_emb[perm], emb[perm], batch_size=bs)
            for k in range(3):
                per[f"top{k + 1}"].append(rp[k])
            per["mm_dist"].append(mm)
            per["diversity"].append(M.diversity(emb, diversity_times, rng))
            if physical is None:
                physical = M.physical_metrics(joints_of(feats, parts.joints_num), fps=tb.fps)
        results["rows"][row] = {k: M.mean_ci(v) for k, v in per.items() if v}
        results["rows"][row]["physical"] = physical
    results["seconds"] = round(time.time() - t_start, 1)
    table = markdown_table(results)
    print(f"\n{args.split} split: {n} clips, {repeats} repeats, evaluator {args.evaluator}, "
          f"model {results['model']}, {results['seconds']} s\n")
    print(table)
    results["table"] = table
    if args.out:
        write_json(Path(args.out), results)
    return results


if __name__ == "__main__":
    main(sys.argv[1:])
