"""A model folder as the starting point of training runs (``bamm train --from MODEL_DIR``).

:func:`base_checkpoints` turns the three networks of a model folder
(:func:`bamm_core.model.checkpoints.load_model_dir`) into ``train_*`` checkpoints: the
tokenizer as a finished VQ run (its normalisation and the dataset section the trainers
derive the timebase from), both transformers as compact checkpoints at step 0 that
``--resume-from`` (``train_loop``'s ``init_from``) starts a run from.  :func:`stage_arch` gives
the preset entries that rebuild exactly the folder's architectures.
"""
from __future__ import annotations

from pathlib import Path

import torch

from bamm_core.model.checkpoints import CheckpointError, load_model_dir, read_config, FORMAT_NAME
from bamm_core.motion.timebase import Timebase

from .checkpoints import save_checkpoint
from .text_cache import encoder_alias

TEXT_ENCODERS = ("minilm", "clip")  # encoders a caption cache can rebuild by name


def read_base_config(path: Path) -> dict:
    """The ``config.json`` of a BAMM Motion model folder; ValueError (one line) otherwise."""
    try:
        cfg = read_config(path) if Path(path).is_dir() else None
    except CheckpointError as e:
        raise ValueError(str(e)) from None
    if cfg is None or cfg.get("format") != FORMAT_NAME:
        raise ValueError(f"--from {path} is not a BAMM Motion model folder (config.json with format "
                         f"'{FORMAT_NAME}'; official checkpoint trees and other engines' models cannot be "
                         "fine-tuned)")
    name = encoder_alias(str(cfg.get("text_encoder", {}).get("name", "clip")))
    if name not in TEXT_ENCODERS:
        raise ValueError(f"--from {path}: its text encoder {name!r} cannot be trained on (use a model "
                         f"with one of {', '.join(TEXT_ENCODERS)})")
    return cfg


def dataset_section(cfg: dict) -> dict:
    """A preset's ``dataset`` section matching a model config's timebase."""
    tb = Timebase.from_config(cfg)
    return {"kind": cfg.get("dataset", "t2m"), "dim_pose": int(cfg.get("dim_pose", 263)),
            "joints_num": int(cfg.get("joints_num", 22)), "fps": tb.fps, "min_len": tb.default_min_frames,
            "max_len": tb.max_frames, "unit_length": tb.frames_per_token}


def stage_arch(cfg: dict, stage: str) -> dict:
    """The architecture entries of a preset's ``stage`` section (``vq``, ``transformer``,
    ``residual``) that rebuild the model folder's network."""
    if stage == "vq":
        arch = dict(cfg["tokenizer"])
        arch.pop("input_width", None)
        arch.setdefault("output_emb_width", arch["code_dim"])
        return arch
    arch = {k: v for k, v in cfg[stage].items() if k not in ("num_tokens", "code_dim", "clip_dim",
                                                               "num_quantizers")}
    if stage == "residual":
        arch["share_weight"] = True  # the only residual layout model folders hold
    return arch


def _quantizer_state(vq: torch.nn.Module) -> dict:
    """EMA statistics consistent with the trained codebooks (count 1, sum = code), so that a
    run continuing the tokenizer keeps its codes instead of re-initialising them."""
    out = {}
    for name, m in vq.named_modules():
        if hasattr(m, "code_sum") and hasattr(m, "codebook"):
            out[name] = {"code_sum": m.codebook.detach().float().clone(),
                         "code_count": torch.ones(m.codebook.shape[0]), "initialised": True}
    return out


def base_checkpoints(model_dir: Path, dest: Path) -> dict[str, Path]:
    """Write ``dest/{vq,transformer,residual}.pt`` from the model folder; returns their paths."""
    cfg = read_base_config(model_dir)
    m = load_model_dir(model_dir)
    ds = dataset_section(cfg)
    vq_arch = {**stage_arch(cfg, "vq"), "input_width": m.vq.input_width}
    paths = {k: Path(dest) / f"{k}.pt" for k in ("vq", "transformer", "residual")}
    save_checkpoint(paths["vq"], {
        "model": m.vq.state_dict(), "arch": vq_arch, "step": 0, "seed": 0,
        "mean": torch.from_numpy(m.mean), "std": torch.from_numpy(m.std), "dataset": ds,
        "config": f"model folder {cfg.get('name', model_dir.name)}", "quantizer_state": _quantizer_state(m.vq)})
    for stage, net in (("transformer", m.transformer), ("residual", m.residual)):
        save_checkpoint(paths[stage], {"model": net.state_dict(), "arch": dict(net.hparams), "step": 0,
                                       "text_encoder": cfg["text_encoder"]["name"]})
    return paths


__all__ = ["read_base_config", "dataset_section", "stage_arch", "base_checkpoints", "TEXT_ENCODERS"]
