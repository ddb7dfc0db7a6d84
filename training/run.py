"""What every ``train_*`` entry point does before building its model: the shared command line,
the preset with overrides, threads, the device (one resolver: ``bamm_core.model.devices``),
torchrun's process group, seeding and the run directory.
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import torch

from bamm_core.model.devices import resolve_device

from .config import load_config, stage_config
from .distributed import DistInfo
from .loop import seed_everything


def torch_device(name: str) -> torch.device:
    """``auto`` | ``cpu`` | ``cuda[:N]`` | ``mps`` -> a ``torch.device`` (ValueError when unknown
    or not on this machine)."""
    return torch.device(resolve_device(name))


def base_parser(description: str) -> argparse.ArgumentParser:
    """Arguments shared by all ``train_*`` entry points."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--data", required=True, help="HumanML3D-layout dataset directory")
    p.add_argument("--config", default="cpu_small", help="preset name (t2m, kit, cpu_small, tiny) or JSON path")
    p.add_argument("--out", required=True, help="run directory (resumes from OUT/last.pt if present)")
    p.add_argument("--device", default="cpu", help="auto | cpu | cuda[:N] | mps")
    p.add_argument("--seed", type=int, default=None, help="default: config 'seed' (else 0)")
    p.add_argument("--max-steps", type=int, default=None, help="total optimisation steps (overrides config)")
    p.add_argument("--batch-size", type=int, default=None)
    p.add_argument("--lr", type=float, default=None)
    p.add_argument("--ckpt-every", type=int, default=None)
    p.add_argument("--log-every", type=int, default=10)
    p.add_argument("--time-budget-min", type=float, default=None,
                   help="stop cleanly (with a checkpoint) after this many minutes")
    p.add_argument("--deadline", type=float, default=None,
                   help="stop cleanly (with a checkpoint) at this wall-clock time (seconds since the epoch)")
    p.add_argument("--threads", type=int, default=None, help="torch.set_num_threads on CPU")
    p.add_argument("--no-progress", action="store_true", help="hide the tqdm bar")
    p.add_argument("--resume-from", default=None,
                   help="start from this checkpoint (e.g. training_state/<stage>.pt) when OUT has none")
    return p


@dataclass
class RunSetup:
    """What every ``train_*`` entry point derives from its arguments before building a model."""

    cfg: dict            # the whole preset
    stage: dict          # the preset's section for this stage, with command-line overrides
    dataset: dict        # the preset's ``dataset`` section
    seed: int
    info: DistInfo
    device: torch.device
    out: Path

    def loop_kwargs(self, args: argparse.Namespace, desc: str) -> dict:
        """The :func:`training.loop.train_loop` arguments that come from the preset's stage
        section and the shared command line."""
        sc = self.stage
        return dict(run_dir=self.out, seed=self.seed, max_steps=sc["max_steps"], lr=sc["lr"],
                    warmup=sc.get("warmup", 0), milestones=sc.get("milestones", ()),
                    gamma=sc.get("gamma", 0.1), ckpt_every=sc["ckpt_every"], log_every=args.log_every,
                    time_budget_min=args.time_budget_min, info=self.info, desc=desc,
                    progress=not args.no_progress, init_from=args.resume_from,
                    rewarm=sc.get("rewarm", 200), deadline=args.deadline)

    def adamw(self, model: torch.nn.Module, weight_decay: float) -> torch.optim.AdamW:
        """AdamW with the stage's ``lr``, ``betas`` and ``weight_decay`` (default given)."""
        sc = self.stage
        return torch.optim.AdamW(model.parameters(), lr=sc["lr"], betas=tuple(sc.get("betas", (0.9, 0.99))),
                                 weight_decay=sc.get("weight_decay", weight_decay))


def start_run(args: argparse.Namespace, stage: str) -> RunSetup:
    """Load the preset, apply overrides, set threads, pick the device (DDP-aware) and seed."""
    cfg = load_config(args.config)
    stage_cfg = stage_config(cfg, stage, {"batch_size": args.batch_size, "lr": args.lr,
                                          "max_steps": args.max_steps, "ckpt_every": args.ckpt_every})
    seed = args.seed if args.seed is not None else cfg.get("seed", 0)
    if args.threads:
        torch.set_num_threads(args.threads)
    info, device = DistInfo.from_env(torch_device(args.device))
    seed_everything(seed)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    return RunSetup(cfg, stage_cfg, cfg["dataset"], seed, info, device, out)


__all__ = ["torch_device", "base_parser", "RunSetup", "start_run"]
