"""``bamm train``: a model of your own from a prepared dataset, in a time budget, resumable.

    bamm train DATASET --out MODEL_DIR [--from default|MODEL_DIR|scratch] [--minutes N]

* ``--from default`` (or another model folder): the folder's tokenizer is kept (its codes and
  normalisation; ``retrain_tokenizer`` continues training it on the dataset first), both
  transformers are fine-tuned from its weights (:mod:`.base_model`) with a lower learning rate
  than from scratch and a schedule sized to the dataset (:func:`fine_tune_schedule`);
* ``scratch``: the whole pipeline (VQ, transformer, residual) with a preset.

The stages run one after the other through the ordinary trainers (:mod:`.train_vq`,
:mod:`.train_tokens`), sharing the time budget: each gets an absolute deadline, so the setup
(text encoder, token cache) counts too, and a reserve is kept for the export and the model
card.  Everything lives in ``MODEL_DIR/run/`` (``state.json``: the request, the time spent and
each stage's result; ``config.json``: the preset; one run folder per stage): Ctrl-C checkpoints
the running stage, and the same command continues it with the rest of the budget; a finished run
is not redone.  The result is a model folder (:func:`training.export_model.export`) with
``captions.json`` (the caption index) and ``MODEL_CARD.md`` (:mod:`.model_card`).
"""
from __future__ import annotations

import json
import math
import os
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from bamm_core.model.checkpoints import DEFAULT_MODEL_DIR

from .base_model import base_checkpoints, dataset_section, read_base_config, stage_arch
from .checkpoints import write_json
from .config import load_config
from .dataset import HumanML3DDir
from .tokenizer_fit import tokenizer_fit

RUN = "run"
FINISH_RESERVE_S = 20.0      # export + model card, kept out of the training budget
SHARES = {"vq": 0.3, "transformer": 0.55, "residual": 0.45}
FINE_TUNE_LR = 1e-4          # from scratch: 3e-4 (cpu_small) / 2e-4 (t2m)


class TrainError(ValueError):
    """Bad input for ``bamm train`` (one line; nothing written)."""


class TrainInterrupted(Exception):
    """The run was stopped (Ctrl-C / SIGTERM) after a checkpoint; the same command continues it."""


@dataclass
class TrainRequest:
    dataset: str
    out: str
    base: str = "default"            # default | MODEL_DIR | scratch
    minutes: float = 30.0
    device: str = "cpu"
    config: str = "cpu_small"        # preset of a scratch run
    name: str | None = None
    license: str = "unspecified (set with --license)"
    retrain_tokenizer: bool = False
    max_steps: int | None = None     # per stage (testing, or a fixed schedule)
    batch_size: int | None = None
    lr: float | None = None
    seed: int = 0
    overwrite: bool = False
    progress: bool = True
    eval_clips: int = 4

    def signature(self) -> dict:
        """What must match for a second invocation to continue the same run."""
        return {"dataset": str(Path(self.dataset).resolve()), "base": self.base_path_text(),
                "config": self.config if self.base == "scratch" else None,
                "retrain_tokenizer": self.retrain_tokenizer, "seed": self.seed}

    def base_path_text(self) -> str:
        return "scratch" if self.base == "scratch" else str(base_dir(self.base).resolve())


def base_dir(base: str) -> Path:
    return DEFAULT_MODEL_DIR if base == "default" else Path(base)


# --- checks ---------------------------------------------------------------------------------------

def check_dataset(path: str) -> tuple[HumanML3DDir, dict]:
    """The prepared dataset and its ``summary.json`` (``bamm dataset``'s; {} for other folders)."""
    root = Path(path)
    if not root.is_dir():
        raise TrainError(f"dataset {root} does not exist (prepare one with `bamm dataset`)")
    try:
        data = HumanML3DDir(root)
        names = data.names("train")
    except (FileNotFoundError, ValueError) as e:
        raise TrainError(f"{root} is not a prepared dataset ({e}); prepare one with `bamm dataset`") from None
    if not names or not (root / "Mean.npy").is_file():
        raise TrainError(f"{root} is not a prepared dataset (no training motions or no Mean.npy)")
    summary = {}
    if (root / "summary.json").is_file():
        summary = json.loads((root / "summary.json").read_text())
    return data, summary


def check_out(out: Path, req: TrainRequest) -> dict | None:
    """The saved state of the same run in ``out`` (None: a new run); TrainError when ``out``
    cannot be written or holds something else."""
    state_file = out / RUN / "state.json"
    if out.exists() and not out.is_dir():
        raise TrainError(f"cannot write to --out {out}: it is a file")
    if out.is_dir() and any(out.iterdir()):
        if req.overwrite:
            return None
        if not state_file.is_file():
            raise TrainError(f"--out {out} exists and is not empty (pass --overwrite to replace it)")
        state = json.loads(state_file.read_text())
        if state.get("request") != req.signature():
            raise TrainError(f"--out {out} holds a run of other settings ({state.get('request')}); use another "
                             "--out or pass --overwrite")
        return state
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".write_test"
        probe.write_text("")
        probe.unlink()
    except OSError as e:
        raise TrainError(f"cannot write to --out {out}: {e.strerror or e}") from None
    return None


# --- the plan -------------------------------------------------------------------------------------

def fine_tune_schedule(n_clips: int, batch_size: int | None = None, lr: float | None = None,
                       max_steps: int | None = None) -> dict:
    """Batch, lr and steps for fine-tuning on ``n_clips`` training clips: batches of up to 32,
    about 100 epochs (at least 2000, at most 6000 steps: on a CPU the time budget ends it first),
    a short warm-up, the lr divided by 10 for the last fifth."""
    batch = batch_size or max(2, min(32, n_clips))
    steps = max_steps or int(min(6000, max(2000, 100 * math.ceil(n_clips / batch))))
    return {"batch_size": batch, "lr": lr or FINE_TUNE_LR, "warmup": min(20, max(1, steps // 10)), "rewarm": 0,
            "milestones": [int(steps * 0.8)] if steps >= 50 else [], "gamma": 0.1, "max_steps": steps,
            "ckpt_every": max(1, min(250, steps // 10)), "betas": [0.9, 0.99], "weight_decay": 1e-5}


def plan_config(req: TrainRequest, data: HumanML3DDir) -> tuple[dict, list[str]]:
    """The preset of the run (written to ``run/config.json``) and its stages in order."""
    if req.base == "scratch":
        cfg = load_config(req.config)
        cfg["name"] = f"scratch-{cfg.get('name', 'preset')}"
        for st in ("vq", "transformer", "residual"):
            cfg[st].update({k: v for k, v in (("batch_size", req.batch_size), ("lr", req.lr),
                                              ("max_steps", req.max_steps)) if v is not None})
            if req.max_steps is not None:
                cfg[st]["ckpt_every"] = max(1, min(cfg[st]["ckpt_every"], req.max_steps // 2 or 1))
        return cfg, ["vq", "transformer", "residual"]
    base_cfg = read_base_config(base_dir(req.base))
    ds = dataset_section(base_cfg)
    if abs(float(data.fps) - ds["fps"]) > 1e-6 or data.info["dim"] != ds["dim_pose"]:
        raise TrainError(f"the dataset has {data.info['dim']}-d features at {data.fps:g} fps, the model "
                         f"{ds['dim_pose']}-d at {ds['fps']:g} fps (prepare it with --fps-out {ds['fps']:g})")
    n = len(data.items("train", min_len=max(ds["unit_length"], ds["min_len"] // 2), max_len=10**9))
    if n == 0:
        raise TrainError(f"{data.root} has no training motion of at least {ds['min_len'] // 2} frames")
    sched = fine_tune_schedule(n, req.batch_size, req.lr, req.max_steps)
    cfg = {"name": f"fine-tune of {base_cfg.get('name', req.base)}", "dataset": ds,
           "text_encoder": base_cfg["text_encoder"]["name"], "seed": req.seed,
           "transformer": {**stage_arch(base_cfg, "transformer"), **sched},
           "residual": {**stage_arch(base_cfg, "residual"), **sched},
           "vq": {**stage_arch(base_cfg, "vq"), "window": 64, "loss_vel": 0.5, "commit": 0.02,
                  **sched, "batch_size": max(4, min(64, 2 * n)), "lr": req.lr or FINE_TUNE_LR}}
    return cfg, (["vq"] if req.retrain_tokenizer else []) + ["transformer", "residual"]


# --- the run --------------------------------------------------------------------------------------

def _stage_argv(req: TrainRequest, stage: str, run: Path, deadline: float, init: dict | None) -> list[str]:
    argv = ["--data", str(req.dataset), "--config", str(run / "config.json"), "--out", str(run / stage),
            "--device", req.device, "--seed", str(req.seed), "--deadline", f"{deadline:.3f}"]
    if not req.progress:
        argv.append("--no-progress")
    if stage != "vq":
        argv += ["--vq", str(run / "vq")]
    if init is not None:
        argv += ["--resume-from", str(init[stage])]
    return argv


def _run_stage(stage: str, argv: list[str]) -> dict:
    if stage == "vq":
        from .train_vq import main as train
        return train(argv)
    from .train_tokens import main as train_tokens
    return train_tokens(stage, argv)


def _deadline(state: dict, stages: list[str], stage: str, train_budget: float) -> float:
    """This stage's share of the training time left (stages still to run share it)."""
    left = max(0.0, train_budget - state["spent_s"])
    todo = [s for s in stages if not state["stages"].get(s, {}).get("done")]
    return time.time() + left * SHARES[stage] / sum(SHARES[s] for s in todo)


def train_model(req: TrainRequest, log=print) -> Path:
    """Run (or continue) the request; returns the model folder.  TrainError on bad input,
    TrainInterrupted when stopped (state saved).  Under torchrun, rank 0 checks, prepares,
    exports and writes the card; the other ranks join each stage."""
    t_start = time.time()
    out = Path(req.out)
    run = out / RUN
    is_main = int(os.environ.get("RANK", "0")) == 0
    if is_main:
        state, data, summary = _prepare(req, out, log)
        if state.get("finished"):
            log(f"{out}: this run has finished already (pass --overwrite to train again)")
            return out
    else:
        state = _wait_for_state(run)
    stages = state["stages_order"]
    init = _init_paths(req, run)
    total = req.minutes * 60.0
    train_budget = max(total - FINISH_RESERVE_S - 3.0 * req.eval_clips, 0.6 * total)
    left = [s for s in stages if not state["stages"].get(s, {}).get("done")]
    end = time.localtime(t_start + total - state["spent_s"])
    log(f"training {', '.join(left)} until about {time.strftime('%H:%M', end)} (then export and model card); "
        "Ctrl-C stops after a checkpoint, the same command continues")
    for stage in stages:
        if state["stages"].get(stage, {}).get("done"):
            continue
        deadline = min(_deadline(state, stages, stage, train_budget), t_start + train_budget)
        log(f"{stage}: training until {time.strftime('%H:%M:%S', time.localtime(deadline))} "
            f"(run folder {run / stage})")
        t0 = time.time()
        res = _run_stage(stage, _stage_argv(req, stage, run, deadline, init if stage in init else None))
        state["spent_s"] += time.time() - t0
        state["stages"][stage] = {"step": int(res["step"]), "stopped": res["stopped"],
                                  "done": res["stopped"] != "signal"}
        if is_main:
            write_json(run / "state.json", state)
        if res["stopped"] == "signal":
            raise TrainInterrupted(f"stopped during {stage} at step {res['step']} (checkpoint saved); "
                                   "run the same command again to continue")
    if not is_main:
        return out
    from .model_card import finish_model
    finish_model(req, out, run, data, summary, state, log)
    state["finished"] = True
    state["total_s"] = state.get("total_s", 0.0) + (time.time() - t_start)
    write_json(run / "state.json", state)
    return out


def _prepare(req: TrainRequest, out: Path, log) -> tuple[dict, HumanML3DDir, dict]:
    """Check the request; start a new run (plan, base checkpoints, state) or read the saved one."""
    if not req.minutes or req.minutes <= 0:
        raise TrainError(f"--minutes must be positive, got {req.minutes:g}")
    data, summary = check_dataset(req.dataset)
    if req.base != "scratch":
        try:
            read_base_config(base_dir(req.base))
        except ValueError as e:
            raise TrainError(str(e)) from None
    created = not out.exists()
    state = check_out(out, req)
    if state is not None:
        return state, data, summary
    try:
        cfg, stages = plan_config(req, data)
    except TrainError:
        if created:
            shutil.rmtree(out, ignore_errors=True)
        raise
    if req.overwrite and out.is_dir():
        _clear(out)
    _start_run(req, out / RUN, cfg, stages)
    state = _read_state(out / RUN)
    if "vq" not in stages:  # a kept tokenizer: does it write these motions?
        state["tokenizer_fit"] = fit = tokenizer_fit(out / RUN / "vq" / "last.pt", data,
                                                     unit=cfg["dataset"]["unit_length"])
        if fit["poor"]:
            worst = next(iter(fit["poor"]))
            log(f"warning: the kept tokenizer does not represent {len(fit['poor'])} of {fit['clips']} clips "
                f"(e.g. {worst}: joints {fit['poor'][worst]:.2f} m off on average, {fit['peak_m'][worst]:.2f} m "
                "at worst); fine-tuning cannot teach them: pass --retrain-tokenizer")
        write_json(out / RUN / "state.json", state)
    return state, data, summary


def _wait_for_state(run: Path, timeout: float = 600.0) -> dict:
    t0 = time.time()
    while not (run / "state.json").is_file():
        if time.time() - t0 > timeout:
            raise TrainError(f"rank 0 did not prepare {run} in {timeout:.0f} s")
        time.sleep(0.5)
    return _read_state(run)


def _clear(out: Path) -> None:
    for p in out.iterdir():
        shutil.rmtree(p) if p.is_dir() and not p.is_symlink() else p.unlink()


def _start_run(req: TrainRequest, run: Path, cfg: dict, stages: list[str]) -> None:
    run.mkdir(parents=True, exist_ok=True)
    write_json(run / "config.json", cfg)
    if req.base != "scratch":
        paths = base_checkpoints(base_dir(req.base), run / "init")
        if not req.retrain_tokenizer:  # the kept tokenizer is a finished VQ run
            (run / "vq").mkdir(exist_ok=True)
            shutil.copyfile(paths["vq"], run / "vq" / "last.pt")
    write_json(run / "state.json", {"request": req.signature(), "settings": asdict(req), "stages_order": stages,
                                    "stages": {}, "spent_s": 0.0, "minutes": req.minutes,
                                    "started": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())})


def _read_state(run: Path) -> dict:
    return json.loads((run / "state.json").read_text())


def _init_paths(req: TrainRequest, run: Path) -> dict:
    if req.base == "scratch":
        return {}
    init = {k: run / "init" / f"{k}.pt" for k in ("transformer", "residual")}
    if req.retrain_tokenizer:
        init["vq"] = run / "init" / "vq.pt"
    return init


__all__ = ["TrainRequest", "TrainError", "TrainInterrupted", "train_model", "fine_tune_schedule",
           "check_dataset", "check_out", "plan_config"]
