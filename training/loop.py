"""The training loop shared by every ``train_*`` entry point.

``train_loop`` runs optimisation steps with a learning-rate schedule (``lr_at``), a tqdm bar, CSV
+ TensorBoard logs (``Logger``), a checkpoint ``RUN_DIR/last.pt`` every N steps and at exit /
SIGTERM / Ctrl-C (``bamm_core.interrupts.StopRequest``) / time budget, and resumes from that checkpoint.

Reproducibility contract: all randomness of step ``s`` comes from RNGs reseeded from
``(seed, s, rank)`` at the start of that step (``step_seed``), and data order is a pure function
of ``(seed, epoch)`` (:mod:`training.distributed`).  A run stopped after N steps and resumed
therefore reaches exactly the parameters of an uninterrupted run.
"""
from __future__ import annotations

import csv
import random
import signal
import time
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
from torch import nn

from bamm_core.interrupts import StopRequest

from .checkpoints import load_checkpoint, save_checkpoint
from .distributed import DistInfo, unwrap


# --------------------------------------------------------------------------- seeding
def seed_everything(seed: int) -> None:
    """Seed Python ``random``, numpy and torch (CPU and CUDA)."""
    seed = int(seed) % (2**32)
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def step_seed(seed: int, step: int, rank: int = 0) -> int:
    """The seed used for all global RNGs during ``step`` on ``rank`` (deterministic mixing)."""
    return (int(seed) * 1_000_003 + int(step) * 7919 + int(rank) * 104_729) % (2**32)


# --------------------------------------------------------------------------- logging
class Logger:
    """Append scalars to ``run_dir/log.csv`` and (if installed) TensorBoard ``run_dir/tb``."""

    def __init__(self, run_dir: Path, enabled: bool = True):
        self.enabled = enabled
        self.csv_path = run_dir / "log.csv"
        self.tb = None
        if enabled:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self.tb = SummaryWriter(str(run_dir / "tb"))
            except Exception:  # tensorboard missing: CSV only
                self.tb = None

    def log(self, step: int, values: dict[str, float]) -> None:
        if not self.enabled:
            return
        row = {"step": step, "time": round(time.time(), 1), **{k: float(v) for k, v in values.items()}}
        new = not self.csv_path.exists()
        with open(self.csv_path, "a", newline="") as f:
            w = csv.writer(f)
            if new:
                w.writerow(list(row))
            w.writerow(list(row.values()))
        if self.tb is not None:
            for k, v in values.items():
                self.tb.add_scalar(k, float(v), step)

    def close(self) -> None:
        if self.tb is not None:
            self.tb.close()


# --------------------------------------------------------------------------- lr schedule
def lr_at(step: int, lr: float, warmup: int = 0, milestones: Sequence[int] = (), gamma: float = 0.1) -> float:
    """Linear warm-up over ``warmup`` steps, then ×``gamma`` at each milestone (MultiStepLR)."""
    f = min(1.0, (step + 1) / warmup) if warmup > 0 else 1.0
    return lr * f * gamma ** sum(step >= m for m in milestones)


# --------------------------------------------------------------------------- the loop
def train_loop(*, model: nn.Module, optimizer: torch.optim.Optimizer, run_dir: Path,
               step_fn: Callable[[int], tuple[torch.Tensor, dict[str, float]]],
               seed: int, max_steps: int, lr: float, warmup: int = 0,
               milestones: Sequence[int] = (), gamma: float = 0.1, grad_clip: float | None = None,
               ckpt_every: int = 500, log_every: int = 10, time_budget_min: float | None = None,
               info: DistInfo = DistInfo(), extra_state: Callable[[], dict] | None = None,
               desc: str = "train", progress: bool = True, after_step: Callable[[int], None] | None = None,
               on_resume: Callable[[dict], None] | None = None, init_from: str | Path | None = None,
               rewarm: int = 200, deadline: float | None = None) -> dict:
    """Run optimisation steps ``[resume_step, max_steps)``.

    ``step_fn(step)`` builds the batch for global ``step`` and returns ``(loss, scalars)``; the
    loop reseeds all RNGs from ``(seed, step, rank)`` before calling it, sets the lr, runs
    backward / clip / optimizer step, logs, and checkpoints ``run_dir/last.pt`` every
    ``ckpt_every`` steps, at ``max_steps``, on SIGTERM/SIGINT and when ``time_budget_min`` is
    spent.  ``model`` is the module whose ``state_dict`` is saved (unwrapped from DDP).
    ``extra_state()`` adds entries to every checkpoint; ``on_resume(checkpoint)`` restores
    whatever the state dict does not hold.  Without ``run_dir/last.pt``, ``init_from`` (a
    compact checkpoint from :func:`compact_checkpoint`: weights and step, no optimizer moments)
    seeds the run; the lr is then warmed up again over ``rewarm`` steps.  ``deadline`` (a
    ``time.time()`` value) stops the run like the time budget, counted from before the setup.
    Returns ``{"step": last step reached, "stopped": reason}``.
    """
    from tqdm import tqdm

    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    ckpt = run_dir / "last.pt"
    core = unwrap(model)
    step = 0
    rewarm_from = None  # resumed without optimizer moments: warm the lr up again
    src = ckpt if ckpt.is_file() else (Path(init_from) if init_from else None)
    if src is not None:
        if not src.is_file():
            raise FileNotFoundError(f"--resume-from {src} does not exist")
        st = load_checkpoint(src)
        core.load_state_dict(st["model"])
        step = int(st["step"])
        if "optimizer" in st:
            optimizer.load_state_dict(st["optimizer"])
            rewarm_from = st.get("rewarm_from")
        else:
            rewarm_from = step
        if on_resume is not None:
            on_resume(st)
    logger = Logger(run_dir, enabled=info.is_main)
    t0 = time.time()
    reason = "max_steps"

    def save():
        if info.is_main:
            state = {"model": core.state_dict(), "optimizer": optimizer.state_dict(), "step": step,
                     "seed": seed, "rng_torch": torch.get_rng_state()}
            if rewarm_from is not None:
                state["rewarm_from"] = rewarm_from
            if extra_state is not None:
                state.update(extra_state())
            save_checkpoint(ckpt, state)

    bar = tqdm(total=max_steps, initial=step, desc=desc, disable=not (progress and info.is_main),
               dynamic_ncols=True, mininterval=2.0)
    model.train()
    with StopRequest(signal.SIGTERM, signal.SIGINT) as stop:  # checkpoint, then exit
        try:
            while step < max_steps:
                if stop.requested:
                    reason = "signal"
                    break
                if time_budget_min is not None and (time.time() - t0) > time_budget_min * 60:
                    reason = "time_budget"
                    break
                if deadline is not None and time.time() > deadline:
                    reason = "time_budget"
                    break
                seed_everything(step_seed(seed, step, info.rank))
                cur_lr = lr_at(step, lr, warmup, milestones, gamma)
                if rewarm_from is not None and rewarm > 0:
                    cur_lr *= min(1.0, (step - rewarm_from + 1) / rewarm)
                for g in optimizer.param_groups:
                    g["lr"] = cur_lr
                loss, scalars = step_fn(step)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                if grad_clip:
                    torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
                optimizer.step()
                if after_step is not None:
                    after_step(step)
                step += 1
                bar.update(1)
                if step % log_every == 0 or step == max_steps:
                    vals = {"loss": float(loss.detach()), "lr": cur_lr, **scalars}
                    logger.log(step, vals)
                    bar.set_postfix({k: f"{v:.4g}" for k, v in list(vals.items())[:4]})
                if ckpt_every and step % ckpt_every == 0:
                    save()
        finally:
            save()
            bar.close()
            logger.close()
    return {"step": step, "stopped": reason}


__all__ = ["seed_everything", "step_seed", "Logger", "lr_at", "train_loop"]
