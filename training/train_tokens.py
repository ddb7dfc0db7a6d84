"""One trainer for the two token models of the cascade (SPEC §3.4, §4).

* ``transformer``: the BAMM masked transformer (``bamm_core.model.transformer.BAMMTransformer``)
  on layer-0 tokens;
* ``residual``: the residual transformer (``bamm_core.model.residual_transformer.
  ResidualTransformer``) on all Q quantizer layers.

Both read the same token and caption caches (``OUT/tokens.pt``, ``OUT/text_cache.pt``): before
the first step every training clip is encoded once with the trained VQ (eval mode) and every
caption once with the text encoder.  Each step: a batch of clips (``DistributedSampler`` order),
a random window of at most the timebase's ``max_tokens`` tokens of each clip, one random caption
each; the model's own ``training_loss`` does the rest.  The stage section's
``captions_per_take`` and ``class_balance`` add paraphrased captions and draw rare motions more
often, ``caption_mix`` and ``text_noise`` train on condition points between and around a take's
captions (:mod:`training.paraphrases`).  ``training.train_transformer`` and
``training.train_residual`` are the command lines.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from .captions import CaptionScheme
from .checkpoints import load_checkpoint
from .config import filter_kwargs, run_timebase
from .dataset import HumanML3DDir
from .distributed import DistInfo, LossModule, StepBatches, wrap_ddp
from .loop import train_loop
from .paraphrases import WeightedBatches, add_paraphrases, balance_weights, wording_jitter
from .run import base_parser, start_run
from .text_cache import CaptionCache
from .train_vq import codes_step, token_cache, vq_checkpoint

ARCH_KEYS = ("latent_dim", "ff_size", "num_layers", "num_heads", "dropout", "cond_drop_prob")


def build_transformer(arch: dict) -> torch.nn.Module:
    from bamm_core.model.transformer import BAMMTransformer

    return BAMMTransformer(**filter_kwargs(BAMMTransformer.__init__, arch))


def build_residual(arch: dict) -> torch.nn.Module:
    from bamm_core.model.residual_transformer import ResidualTransformer

    return ResidualTransformer(**filter_kwargs(ResidualTransformer.__init__, arch))


@dataclass(frozen=True)
class TokenModel:
    """What differs between the two token models: how to build one, which quantizer layers a
    training window holds, and the architecture entries taken from the VQ / the stage."""

    build: Callable[[dict], torch.nn.Module]
    layers: slice | int
    extra_arch: Callable[[dict, dict], dict] = lambda vq_arch, stage: {}


TOKEN_MODELS: dict[str, TokenModel] = {
    "transformer": TokenModel(build_transformer, 0),
    "residual": TokenModel(build_residual, slice(None), lambda vq_arch, stage: {
        "num_quantizers": vq_arch["num_quantizers"], "share_weight": stage.get("share_weight", True)}),
}


def token_windows(items: list[dict], idx: list[int], n: int, pad: int, layers: slice | int = 0
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """Random windows (global numpy RNG) of at most ``n`` tokens -> ids (B, n[, Q]) padded with
    ``pad`` and lengths (B,) in tokens."""
    chunks, lens = [], []
    for i in idx:
        c = items[i]["codes"][:, layers]
        L = min(len(c), n)
        off = np.random.randint(0, len(c) - L + 1)
        chunks.append(c[off:off + L])
        lens.append(L)
    shape = (len(idx), n) + tuple(chunks[0].shape[1:])
    ids = torch.full(shape, pad, dtype=torch.long)
    for b, c in enumerate(chunks):
        ids[b, : len(c)] = c
    return ids, torch.tensor(lens, dtype=torch.long)


def setup_tokens_and_text(data_dir: str, vq_dir: str, cfg: dict, out: Path, info: DistInfo, device,
                          min_len: int, stage: dict | None = None) -> tuple[list[dict], CaptionCache, dict]:
    """Token + caption caches (built by rank 0, then read by every rank); the ``stage``
    section's ``captions_per_take`` paraphrases (:mod:`training.paraphrases`) join the captions."""
    data = HumanML3DDir(data_dir, fps=cfg["dataset"].get("fps"))
    stage = stage or {}

    def read():
        items, vq_state = token_cache(vq_dir, data, "train", out / "tokens.pt", device, min_len)
        scheme = CaptionScheme.load(stage["paraphrases"]) if "paraphrases" in stage else None
        add_paraphrases(items, int(stage.get("captions_per_take", 0)), scheme)  # default: PARAPHRASES
        return items, CaptionCache(out / "text_cache.pt", cfg["text_encoder"]), vq_state

    if info.is_main:
        items, cache, vq_state = read()
        cache.ensure(c for it in items for c in it["captions"])
    info.barrier()
    if not info.is_main:
        items, cache, vq_state = read()
    if not items:
        raise RuntimeError(f"no training clips in {data_dir}")
    return items, cache, vq_state


def load_token_model(path: str | Path, stage: str, device="cpu") -> tuple[torch.nn.Module, dict]:
    """(``stage`` model in eval mode, its checkpoint) from a run checkpoint ``path``."""
    st = load_checkpoint(Path(path))
    model = TOKEN_MODELS[stage].build(st["arch"])
    model.load_state_dict(st["model"])
    return model.to(device).eval(), st


def main(stage: str, argv: list[str] | None = None, description: str = "") -> dict:
    """Train the token model ``stage`` (a key of :data:`TOKEN_MODELS`) from the command line
    ``argv``; resumes from ``OUT/last.pt``.  Returns ``{"step", "stopped"}``."""
    spec = TOKEN_MODELS[stage]
    p = base_parser(description or f"Train the {stage} token model")
    p.add_argument("--vq", required=True, help="train_vq run directory (its last.pt)")
    args = p.parse_args(argv)
    run = start_run(args, stage)
    sc, info, device = run.stage, run.info, run.device

    vq_arch = vq_checkpoint(args.vq)["arch"]
    tb = run_timebase(run.dataset, vq_arch)
    min_len = max(tb.min_frames, run.dataset["min_len"] // 2)
    items, cache, vq_state = setup_tokens_and_text(args.data, args.vq, run.cfg, run.out, info, device, min_len, sc)
    arch = {k: sc[k] for k in ARCH_KEYS if k in sc}
    arch.update(num_tokens=vq_arch["nb_code"], code_dim=vq_arch["code_dim"], clip_dim=int(cache.emb.shape[1]),
                **spec.extra_arch(vq_arch, sc))
    model = spec.build(arch).to(device)
    net = wrap_ddp(LossModule(model, "training_loss"), info, device)
    if float(sc.get("class_balance", 0.0)) > 0:  # rare motions drawn more often
        weights = balance_weights([it["name"] for it in items], float(sc["class_balance"]))
        batches = WeightedBatches(weights, sc["batch_size"], run.seed, info)
    else:
        batches = StepBatches(len(items), sc["batch_size"], run.seed, info)

    mix, noise = float(sc.get("caption_mix", 0.0)), float(sc.get("text_noise", 0.0))

    def step_fn(step: int):
        _, idx = batches(step)
        ids, lens = token_windows(items, idx, tb.max_tokens, model.pad_id, spec.layers)
        caps = [items[i]["captions"][np.random.randint(len(items[i]["captions"]))] for i in idx]
        cond = cache(caps)
        if mix or noise:  # a second caption of each take, for points between wordings
            alt = [items[i]["captions"][np.random.randint(len(items[i]["captions"]))] for i in idx]
            cond = wording_jitter(cond, cache(alt), mix, noise, np.random.default_rng([run.seed, step]))
        loss, acc = net(ids.to(device), cond.to(device), lens.to(device))
        return loss, {"acc": float(acc)}

    extra = lambda: {"arch": arch, "config": run.cfg.get("name", ""), "vq_step": codes_step(vq_state),
                     "text_encoder": run.cfg["text_encoder"]}
    res = train_loop(model=net, optimizer=run.adamw(model, 1e-5), step_fn=step_fn, extra_state=extra,
                     **run.loop_kwargs(args, stage))
    if info.is_main:
        print(f"stopped at step {res['step']} ({res['stopped']})")
    return res


__all__ = ["TOKEN_MODELS", "TokenModel", "build_transformer", "build_residual", "token_windows",
           "setup_tokens_and_text", "load_token_model", "main"]
