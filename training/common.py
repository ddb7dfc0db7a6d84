"""Shared plumbing for every training entry point.

What lives here (and nothing model-specific):

- configs: named presets in ``training/configs/<name>.json`` or a path to a JSON file;
- seeding: ``seed_everything`` and the *per-step* reseeding that makes resuming bit-exact;
- devices and DDP: ``pick_device``, ``DistInfo.from_env`` (torchrun's ``WORLD_SIZE``/``RANK``/
  ``LOCAL_RANK``), ``LossModule`` (so DDP wraps a model's ``training_loss``);
- data: ``HumanML3DDir`` (a reader for the HumanML3D directory layout: ``new_joint_vecs/``,
  ``texts/``, ``train.txt``/``val.txt``/``test.txt``, ``Mean.npy``/``Std.npy``) and
  ``epoch_batches`` (``DistributedSampler`` order, indexed by the global step);
- text: ``CaptionCache`` (sentence embeddings computed once per caption and cached on disk);
- the loop: ``train_loop`` (lr schedule, tqdm, CSV + TensorBoard, checkpoint every N steps and at
  exit / SIGTERM / time budget, resume from ``RUN_DIR/last.pt``).

Reproducibility contract: all randomness of step ``s`` comes from RNGs reseeded from
``(seed, s, rank)`` at the start of that step, and data order is a pure function of
``(seed, epoch)``.  A run stopped after N steps and resumed therefore reaches exactly the
parameters of an uninterrupted run.  Checkpoints hold only tensors, dicts, lists and numbers,
so they load with ``torch.load(path, weights_only=True)``.
"""
from __future__ import annotations

import argparse
import csv
import json
import math
import os
import random
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from .dataset import HumanML3DDir  # noqa: F401  (re-exported: the one HumanML3D-layout reader)

CONFIG_DIR = Path(__file__).resolve().parent / "configs"

# HumanML3D feature groups that the official code divides the std by ``feat_bias`` (=5):
# root (0:4) and foot contacts (259:263) for the 263-d layout.
FEAT_BIAS = 5.0


# --------------------------------------------------------------------------- configs
def load_config(name_or_path: str) -> dict:
    """Return a config dict from a preset name (``t2m``, ``kit``, ``cpu_small``, ``tiny``) or a
    JSON file path."""
    p = Path(name_or_path)
    if not p.suffix and not p.exists():
        p = CONFIG_DIR / f"{name_or_path}.json"
    if not p.is_file():
        presets = sorted(q.stem for q in CONFIG_DIR.glob("*.json"))
        raise FileNotFoundError(f"config {name_or_path!r} is neither a file nor a preset {presets}")
    with open(p) as f:
        cfg = json.load(f)
    cfg.setdefault("name", p.stem)
    return cfg


def stage_config(cfg: dict, stage: str, overrides: dict | None = None) -> dict:
    """The ``cfg[stage]`` sub-dict with command-line overrides applied (``None`` = keep)."""
    if stage not in cfg:
        raise KeyError(f"config {cfg.get('name')!r} has no {stage!r} section")
    out = dict(cfg[stage])
    for k, v in (overrides or {}).items():
        if v is not None:
            out[k] = v
    return out


def filter_kwargs(fn: Callable, kwargs: dict) -> dict:
    """Keep only the keyword arguments ``fn`` accepts (configs may carry training-only keys)."""
    import inspect

    sig = inspect.signature(fn)
    if any(p.kind == p.VAR_KEYWORD for p in sig.parameters.values()):
        return dict(kwargs)
    return {k: v for k, v in kwargs.items() if k in sig.parameters}


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


# --------------------------------------------------------------------------- devices / DDP
def pick_device(name: str = "cpu") -> torch.device:
    """``cpu`` | ``cuda`` | ``cuda:N`` | ``mps``, with a clear error when unavailable."""
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError("--device cuda requested but torch.cuda.is_available() is False")
    if name == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise RuntimeError("--device mps requested but the MPS backend is not available")
    if name not in ("cpu", "mps") and not name.startswith("cuda"):
        raise ValueError(f"unknown device {name!r} (use cpu, cuda or mps)")
    return torch.device(name)


@dataclass
class DistInfo:
    """Process-group facts; ``world == 1`` means plain single-process training."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @classmethod
    def from_env(cls, device: torch.device) -> tuple["DistInfo", torch.device]:
        """Read torchrun's env vars; when ``WORLD_SIZE > 1`` init the process group
        (NCCL on CUDA, Gloo otherwise) and pin this rank's CUDA device."""
        world = int(os.environ.get("WORLD_SIZE", "1"))
        if world <= 1:
            return cls(), device
        rank = int(os.environ["RANK"])
        local = int(os.environ.get("LOCAL_RANK", "0"))
        if device.type == "cuda":
            torch.cuda.set_device(local)
            device = torch.device("cuda", local)
        if not dist.is_initialized():
            dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
        return cls(rank, world, local), device


class LossModule(nn.Module):
    """Wrap ``model.<method>`` as ``forward`` so DistributedDataParallel hooks see it."""

    def __init__(self, model: nn.Module, method: str):
        super().__init__()
        self.model = model
        self.method = method

    def forward(self, *args, **kwargs):
        return getattr(self.model, self.method)(*args, **kwargs)


def wrap_ddp(module: nn.Module, info: DistInfo, device: torch.device) -> nn.Module:
    if info.world <= 1:
        return module
    from torch.nn.parallel import DistributedDataParallel as DDP

    ids = [device.index] if device.type == "cuda" else None
    return DDP(module, device_ids=ids, find_unused_parameters=True)


def unwrap(module: nn.Module) -> nn.Module:
    while hasattr(module, "module"):
        module = module.module
    if isinstance(module, LossModule):
        module = module.model
    return module


# --------------------------------------------------------------------------- data
def model_std(std: np.ndarray) -> np.ndarray:
    """The std the official models normalise with: dataset std, root (0:4) and foot contacts
    (last 4 dims) divided by ``FEAT_BIAS`` (SPEC §1.4)."""
    s = std.astype(np.float32).copy()
    s[0:4] /= FEAT_BIAS
    s[-4:] /= FEAT_BIAS
    return s


def epoch_batches(n: int, batch: int, epoch: int, seed: int, info: DistInfo) -> list[list[int]]:
    """This rank's batches for ``epoch``: ``DistributedSampler`` shuffled order (seeded by
    ``seed`` and the epoch), cut into ``batch``-sized lists (last partial batch dropped; if the
    dataset is smaller than one batch, the permutation is tiled)."""
    from torch.utils.data import DistributedSampler

    class _Len:
        def __len__(self):
            return n

    sampler = DistributedSampler(_Len(), num_replicas=info.world, rank=info.rank, shuffle=True,
                                 seed=seed, drop_last=n >= info.world)
    sampler.set_epoch(epoch)
    idx = list(iter(sampler))
    if len(idx) < batch:  # tiny datasets: repeat the order
        idx = (idx * math.ceil(batch / max(1, len(idx))))[:batch]
    return [idx[i:i + batch] for i in range(0, len(idx) - batch + 1, batch)]


class StepBatches:
    """Map a global step to this rank's batch indices (pure function: resume-safe)."""

    def __init__(self, n: int, batch: int, seed: int, info: DistInfo):
        self.n, self.batch, self.seed, self.info = n, batch, seed, info
        self._cache: tuple[int, list[list[int]]] | None = None
        self.per_epoch = len(epoch_batches(n, batch, 0, seed, info))

    def __call__(self, step: int) -> tuple[int, list[int]]:
        epoch, b = divmod(step, self.per_epoch)
        if self._cache is None or self._cache[0] != epoch:
            self._cache = (epoch, epoch_batches(self.n, self.batch, epoch, self.seed, self.info))
        return epoch, self._cache[1][b]


# --------------------------------------------------------------------------- text cache
def encoder_alias(name: str) -> str:
    """Engine encoder name for a config name (``all-MiniLM-L6-v2`` -> ``minilm``)."""
    aliases = {"all-minilm-l6-v2": "minilm", "sentence-transformers/all-minilm-l6-v2": "minilm",
               "vit-b/32": "clip"}
    return aliases.get(name.lower(), name)


def load_text_encoder(name: str = "minilm", device: str = "cpu"):
    """The engine's text encoder by name (``minilm`` = all-MiniLM-L6-v2, 384-d; ``clip``;
    ``hash``), via ``bamm_core.model.text_encoders.build_text_encoder``.  Returns a callable
    ``list[str] -> (N, D) float32 tensor``."""
    from bamm_core.model.text_encoders import build_text_encoder

    enc = build_text_encoder(encoder_alias(name), device=device)
    return lambda texts: enc.encode(list(texts)).float().cpu()


class CaptionCache:
    """Sentence embeddings, one per distinct caption, computed once and stored in
    ``path`` (a ``{"captions": [...], "emb": (N, D) tensor}`` file)."""

    def __init__(self, path: str | os.PathLike, encoder_name: str = "minilm"):
        self.path = Path(path)
        self.encoder_name = encoder_name
        self.index: dict[str, int] = {}
        self.emb = torch.zeros(0, 0)
        if self.path.is_file():
            d = torch.load(self.path, weights_only=True)
            if d.get("encoder") == encoder_name:
                self.index = {c: i for i, c in enumerate(d["captions"])}
                self.emb = d["emb"]

    def ensure(self, captions: Iterable[str], batch: int = 256) -> None:
        missing = sorted({c for c in captions if c not in self.index})
        if not missing:
            return
        enc = load_text_encoder(self.encoder_name)
        new = [enc(missing[i:i + batch]) for i in range(0, len(missing), batch)]
        new_emb = torch.cat(new).float()
        self.emb = new_emb if self.emb.numel() == 0 else torch.cat([self.emb, new_emb])
        for c in missing:
            self.index[c] = len(self.index)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        caps = sorted(self.index, key=self.index.get)
        torch.save({"encoder": self.encoder_name, "captions": caps, "emb": self.emb}, self.path)

    def __call__(self, captions: Sequence[str]) -> torch.Tensor:
        return self.emb[[self.index[c] for c in captions]]


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


# --------------------------------------------------------------------------- checkpoints
def save_checkpoint(path: Path, state: dict) -> None:
    """Atomic ``torch.save`` (write to a temp file, then rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def load_checkpoint(path: Path, map_location="cpu") -> dict:
    return torch.load(path, map_location=map_location, weights_only=True)


def compact_checkpoint(src: Path, dst: Path) -> int:
    """Copy a run checkpoint without its optimizer state (about 1/3 of the size) for
    committing; ``--resume-from dst`` continues from it (fresh Adam moments, lr re-warm-up).
    Returns the bytes written."""
    st = load_checkpoint(src)
    st.pop("optimizer", None)
    st.pop("rng_torch", None)
    st.pop("rewarm_from", None)
    save_checkpoint(Path(dst), st)
    return Path(dst).stat().st_size


class StopFlag:
    """Set by SIGTERM/SIGINT; the loop checkpoints and exits at the next step boundary."""

    def __init__(self):
        self.stop = False
        self._old = {}
        for sig in (signal.SIGTERM, signal.SIGINT):
            try:
                self._old[sig] = signal.signal(sig, self._handle)
            except ValueError:  # not the main thread
                pass

    def _handle(self, signum, frame):
        self.stop = True

    def restore(self):
        for sig, h in self._old.items():
            signal.signal(sig, h)


def train_loop(*, model: nn.Module, optimizer: torch.optim.Optimizer, run_dir: Path,
               step_fn: Callable[[int], tuple[torch.Tensor, dict[str, float]]],
               seed: int, max_steps: int, lr: float, warmup: int = 0,
               milestones: Sequence[int] = (), gamma: float = 0.1, grad_clip: float | None = None,
               ckpt_every: int = 500, log_every: int = 10, time_budget_min: float | None = None,
               info: DistInfo = DistInfo(), extra_state: Callable[[], dict] | None = None,
               desc: str = "train", progress: bool = True, after_step: Callable[[int], None] | None = None,
               on_resume: Callable[[dict], None] | None = None, init_from: str | Path | None = None,
               rewarm: int = 200) -> dict:
    """Run optimisation steps ``[resume_step, max_steps)``.

    ``step_fn(step)`` builds the batch for global ``step`` and returns ``(loss, scalars)``; the
    loop reseeds all RNGs from ``(seed, step, rank)`` before calling it, sets the lr, runs
    backward / clip / optimizer step, logs, and checkpoints ``run_dir/last.pt`` every
    ``ckpt_every`` steps, at ``max_steps``, on SIGTERM/SIGINT and when ``time_budget_min`` is
    spent.  ``model`` is the module whose ``state_dict`` is saved (unwrapped from DDP).
    ``extra_state()`` adds entries to every checkpoint; ``on_resume(checkpoint)`` restores
    whatever the state dict does not hold.  Without ``run_dir/last.pt``, ``init_from`` (a
    compact checkpoint from :func:`compact_checkpoint`: weights and step, no optimizer moments)
    seeds the run; the lr is then warmed up again over ``rewarm`` steps.
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
    stop = StopFlag()
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
    try:
        while step < max_steps:
            if stop.stop:
                reason = "signal"
                break
            if time_budget_min is not None and (time.time() - t0) > time_budget_min * 60:
                reason = "time_budget"
                break
            s = step_seed(seed, step, info.rank)
            random.seed(s)
            np.random.seed(s)
            torch.manual_seed(s)
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
        stop.restore()
    return {"step": step, "stopped": reason}


# --------------------------------------------------------------------------- CLI helpers
def base_parser(description: str) -> argparse.ArgumentParser:
    """Arguments shared by all ``train_*`` entry points."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--data", required=True, help="HumanML3D-layout dataset directory")
    p.add_argument("--config", default="cpu_small", help="preset name (t2m, kit, cpu_small, tiny) or JSON path")
    p.add_argument("--out", required=True, help="run directory (resumes from OUT/last.pt if present)")
    p.add_argument("--device", default="cpu", help="cpu | cuda | mps")
    p.add_argument("--seed", type=int, default=None, help="default: config 'seed' (else 0)")
    p.add_argument("--max-steps", type=int, default=None, help="total optimisation steps (overrides config)")
    p.add_argument("--batch-size", type=int, default=None)
    p.add_argument("--lr", type=float, default=None)
    p.add_argument("--ckpt-every", type=int, default=None)
    p.add_argument("--log-every", type=int, default=10)
    p.add_argument("--time-budget-min", type=float, default=None,
                   help="stop cleanly (with a checkpoint) after this many minutes")
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
    info: "DistInfo"
    device: torch.device
    out: Path


def start_run(args: argparse.Namespace, stage: str) -> RunSetup:
    """Load the preset, apply overrides, set threads, pick the device (DDP-aware) and seed."""
    cfg = load_config(args.config)
    stage_cfg = stage_config(cfg, stage, {"batch_size": args.batch_size, "lr": args.lr,
                                          "max_steps": args.max_steps, "ckpt_every": args.ckpt_every})
    seed = args.seed if args.seed is not None else cfg.get("seed", 0)
    if args.threads:
        torch.set_num_threads(args.threads)
    info, device = DistInfo.from_env(pick_device(args.device))
    seed_everything(seed)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    return RunSetup(cfg, stage_cfg, cfg["dataset"], seed, info, device, out)


def write_json(path: Path, obj: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as f:
        json.dump(obj, f, indent=2, sort_keys=True)
