"""Train the residual transformer (``bamm_core.model.residual_transformer.ResidualTransformer``; SPEC §4).

    python -m training.train_residual --data DIR --vq runs/vq --config cpu_small --out runs/residual

Shares the token and caption caches of ``train_transformer`` (same ``OUT`` layout: ``tokens.pt``,
``text_cache.pt``).  Each step: a batch of clips, a random window of at most ``max_len // 4``
tokens with all Q quantizer layers, one random caption each; the model's ``training_loss``
draws the active layer ``q`` per sample (cosine schedule favouring low layers), sums the
ground-truth embeddings of layers < q and predicts layer q (text dropped with
``cond_drop_prob`` for CFG).
"""
from __future__ import annotations

import sys

import numpy as np
import torch

from . import common as C
from .train_transformer import setup_tokens_and_text, token_windows


def build_residual(arch: dict) -> torch.nn.Module:
    from bamm_core.model.residual_transformer import ResidualTransformer

    return ResidualTransformer(**C.filter_kwargs(ResidualTransformer.__init__, arch))


def main(argv: list[str] | None = None) -> dict:
    p = C.base_parser(__doc__.splitlines()[0])
    p.add_argument("--vq", required=True, help="train_vq run directory (its last.pt)")
    args = p.parse_args(argv)
    run = C.start_run(args, "residual")
    cfg, rc, ds_cfg, seed = run.cfg, run.stage, run.dataset, run.seed
    info, device, out = run.info, run.device, run.out

    items, cache, vq_state = setup_tokens_and_text(args, cfg, out, info, device)
    vq_arch = vq_state["arch"]
    n = ds_cfg["max_len"] // ds_cfg["unit_length"]
    arch = {k: rc[k] for k in ("latent_dim", "ff_size", "num_layers", "num_heads", "dropout", "cond_drop_prob")
            if k in rc}
    arch.update(num_tokens=vq_arch["nb_code"], code_dim=vq_arch["code_dim"],
                num_quantizers=vq_arch["num_quantizers"], clip_dim=int(cache.emb.shape[1]),
                share_weight=rc.get("share_weight", True))
    model = build_residual(arch).to(device)
    net = C.wrap_ddp(C.LossModule(model, "training_loss"), info, device)
    opt = torch.optim.AdamW(model.parameters(), lr=rc["lr"], betas=tuple(rc.get("betas", (0.9, 0.99))),
                            weight_decay=rc.get("weight_decay", 1e-5))
    batches = C.StepBatches(len(items), rc["batch_size"], seed, info)

    def step_fn(step: int):
        _, idx = batches(step)
        ids, lens = token_windows(items, idx, n, model.pad_id, slice(None))
        caps = [items[i]["captions"][np.random.randint(len(items[i]["captions"]))] for i in idx]
        loss, acc = net(ids.to(device), cache(caps).to(device), lens.to(device))
        return loss, {"acc": float(acc)}

    extra = lambda: {"arch": arch, "config": cfg.get("name", ""), "vq_step": int(vq_state["step"]),
                     "text_encoder": cfg["text_encoder"]}
    res = C.train_loop(model=net, optimizer=opt, run_dir=out, step_fn=step_fn, seed=seed,
                       max_steps=rc["max_steps"], lr=rc["lr"], warmup=rc.get("warmup", 0),
                       milestones=rc.get("milestones", ()), gamma=rc.get("gamma", 0.1),
                       ckpt_every=rc["ckpt_every"], log_every=args.log_every,
                       time_budget_min=args.time_budget_min, info=info, extra_state=extra,
                       desc="residual", progress=not args.no_progress, init_from=args.resume_from)
    if info.is_main:
        print(f"stopped at step {res['step']} ({res['stopped']})")
    return res


if __name__ == "__main__":
    main(sys.argv[1:])
