"""Train the BAMM masked transformer (``bamm_core.model.transformer.BAMMTransformer``; SPEC §3.4).

    python -m training.train_transformer --data DIR --vq runs/vq --config cpu_small --out runs/transformer

Before the first step, every training clip is encoded once with the trained VQ (eval mode) and
every caption once with the text encoder; both are cached in ``OUT`` (``tokens.pt``,
``text_cache.pt``).  Each step: a batch of clips (``DistributedSampler`` order), a random window
of at most ``max_len // 4`` layer-0 tokens of each clip, one random caption each; the model's
``training_loss`` implements the hybrid masking (uni or bi mask with p = 0.5, 50–100 % of
tokens outside U in bi batches, random-code corruption, text dropped with ``cond_drop_prob``
for CFG).
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch

from . import common as C
from .train_vq import token_cache


def build_transformer(arch: dict) -> torch.nn.Module:
    from bamm_core.model.transformer import BAMMTransformer

    return BAMMTransformer(**C.filter_kwargs(BAMMTransformer.__init__, arch))


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


def setup_tokens_and_text(args, cfg: dict, out: Path, info: C.DistInfo, device) -> tuple[list[dict], C.CaptionCache, dict]:
    """Token + caption caches (built by rank 0, then read by every rank)."""
    ds_cfg = cfg["dataset"]
    data = C.HumanML3DDir(args.data, fps=ds_cfg.get("fps", 20))
    min_len = max(ds_cfg["unit_length"] * 2, ds_cfg["min_len"] // 2)
    if info.is_main:
        items, vq_state = token_cache(args.vq, data, "train", out / "tokens.pt", device, min_len)
        cache = C.CaptionCache(out / "text_cache.pt", cfg["text_encoder"])
        cache.ensure(c for it in items for c in it["captions"])
    if info.world > 1:
        torch.distributed.barrier()
        if not info.is_main:
            items, vq_state = token_cache(args.vq, data, "train", out / "tokens.pt", device, min_len)
            cache = C.CaptionCache(out / "text_cache.pt", cfg["text_encoder"])
    if not items:
        raise RuntimeError(f"no training clips in {args.data}")
    return items, cache, vq_state


def main(argv: list[str] | None = None) -> dict:
    p = C.base_parser(__doc__.splitlines()[0])
    p.add_argument("--vq", required=True, help="train_vq run directory (its last.pt)")
    args = p.parse_args(argv)
    run = C.start_run(args, "transformer")
    cfg, tc, ds_cfg, seed = run.cfg, run.stage, run.dataset, run.seed
    info, device, out = run.info, run.device, run.out

    items, cache, vq_state = setup_tokens_and_text(args, cfg, out, info, device)
    vq_arch = vq_state["arch"]
    n = ds_cfg["max_len"] // ds_cfg["unit_length"]
    arch = {k: tc[k] for k in ("latent_dim", "ff_size", "num_layers", "num_heads", "dropout", "cond_drop_prob")}
    arch.update(num_tokens=vq_arch["nb_code"], code_dim=vq_arch["code_dim"], clip_dim=int(cache.emb.shape[1]))
    model = build_transformer(arch).to(device)
    pad = model.pad_id
    net = C.wrap_ddp(C.LossModule(model, "training_loss"), info, device)
    opt = torch.optim.AdamW(model.parameters(), lr=tc["lr"], betas=tuple(tc.get("betas", (0.9, 0.99))),
                            weight_decay=tc.get("weight_decay", 1e-5))
    batches = C.StepBatches(len(items), tc["batch_size"], seed, info)

    def step_fn(step: int):
        _, idx = batches(step)
        ids, lens = token_windows(items, idx, n, pad, 0)
        caps = [items[i]["captions"][np.random.randint(len(items[i]["captions"]))] for i in idx]
        loss, acc = net(ids.to(device), cache(caps).to(device), lens.to(device))
        return loss, {"acc": float(acc)}

    extra = lambda: {"arch": arch, "config": cfg.get("name", ""), "vq_step": int(vq_state["step"]),
                     "text_encoder": cfg["text_encoder"]}
    res = C.train_loop(model=net, optimizer=opt, run_dir=out, step_fn=step_fn,
                       seed=seed, max_steps=tc["max_steps"], lr=tc["lr"], warmup=tc.get("warmup", 0),
                       milestones=tc.get("milestones", ()), gamma=tc.get("gamma", 0.1),
                       ckpt_every=tc["ckpt_every"], log_every=args.log_every,
                       time_budget_min=args.time_budget_min, info=info, extra_state=extra,
                       desc="transformer", progress=not args.no_progress, init_from=args.resume_from)
    if info.is_main:
        print(f"stopped at step {res['step']} ({res['stopped']})")
    return res


if __name__ == "__main__":
    main(sys.argv[1:])
