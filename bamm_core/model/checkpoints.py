"""Loading and saving models: the official release layout and our own model folders.

**Official layout** (SPEC §6): run folders each holding ``opt.txt`` and ``model/*.tar``
(``torch.save`` dicts keyed ``vq_model``/``net``, ``t2m_transformer``/``trans``,
``res_transformer``); the VQ folder also holds ``meta/mean.npy`` and ``meta/std.npy``.
Sizes are read from the tensors' shapes; the number of heads (not visible in shapes) and
the dataset kind come from ``opt.txt``.  Files are read with ``torch.load(weights_only=True)``.

**Our model folder** (written by :func:`save_model_dir`)::

    config.json              format/version, name, license, dataset ("t2m"/"kit"), fps,
                             joints_num, dim_pose, text_encoder {name, dim, path?},
                             tokenizer / transformer / residual constructor sizes,
                             optional max_frames (default 196) and decoding defaults
                             {cfg, residual_cfg} (absent: SamplingOptions' defaults)
    tokenizer.safetensors    RVQ-VAE state dict
    transformer.safetensors  BAMM transformer state dict (positional tables omitted:
    residual.safetensors     residual transformer      they are recomputed on load)
    mean.npy, std.npy        feature normalisation (dim_pose,) float32
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..motion.timebase import DATASETS, HUMANML3D, Timebase
from .residual_transformer import ResidualTransformer
from .tokenizer import RVQVAE
from .transformer import BAMMTransformer

FORMAT_NAME = "bamm-motion-model"
FORMAT_VERSION = 1
DEFAULT_MODEL_DIR = Path(__file__).resolve().parents[1] / "models" / "default"
_NOT_SAVED = ("position_enc.pe",)  # deterministic buffers, rebuilt by the constructors


class CheckpointError(RuntimeError):
    """A checkpoint or model folder is missing, malformed or does not match."""


@dataclass
class LoadedModel:
    """Everything the engine needs: the three networks, normalisation and metadata."""

    vq: RVQVAE
    transformer: BAMMTransformer
    residual: ResidualTransformer
    mean: np.ndarray
    std: np.ndarray
    config: dict[str, Any] = field(default_factory=dict)


# ----------------------------------------------------------------------------- opt.txt
def parse_opt_txt(path: str | Path) -> dict[str, Any]:
    """Parse an official ``opt.txt`` ("key: value" lines between a header and footer).

    Values: ``True``/``False`` -> bool, ``d+.d+`` -> float, digits -> int, else str
    (so ``2e-4`` and ``None`` stay strings, as upstream).
    """
    opts: dict[str, Any] = {}
    for line in Path(path).read_text().splitlines():
        line = line.strip()
        if ": " not in line or line.startswith("---"):
            continue
        key, value = line.split(": ", 1)
        if value in ("True", "False"):
            opts[key] = value == "True"
        elif re.fullmatch(r"[-+]?\d+\.\d+", value):
            opts[key] = float(value)
        elif re.fullmatch(r"[-+]?\d+", value):
            opts[key] = int(value)
        else:
            opts[key] = value
    return opts


def write_opt_txt(path: str | Path, opts: dict[str, Any]) -> None:
    """Write ``opts`` in the official format (sorted keys between header and footer)."""
    lines = ["------------ Options -------------"]
    lines += [f"{k}: {v}" for k, v in sorted(opts.items())]
    lines.append("-------------- End ----------------")
    Path(path).write_text("\n".join(lines) + "\n")


# ----------------------------------------------------------------------------- official
_DICT_KEYS = {"vq": ("vq_model", "net"), "transformer": ("t2m_transformer", "trans"),
              "residual": ("res_transformer",)}


def load_official_state(path: str | Path, kind: str) -> dict[str, torch.Tensor]:
    """State dict of an official ``.tar`` (safe load), CLIP keys removed."""
    try:
        ckpt = torch.load(Path(path), map_location="cpu", weights_only=True)
    except Exception as e:
        raise CheckpointError(f"cannot read checkpoint {path}: {e}") from e
    for key in _DICT_KEYS[kind]:
        if isinstance(ckpt, dict) and key in ckpt:
            sd = ckpt[key]
            return {k: v for k, v in sd.items() if not k.startswith("clip_model.")}
    keys = list(ckpt) if isinstance(ckpt, dict) else type(ckpt).__name__
    raise CheckpointError(f"{path}: expected one of the keys {_DICT_KEYS[kind]} "
                          f"(official {kind} checkpoint), found {keys}")


def _count(sd: dict, pattern: str) -> int:
    rx = re.compile(pattern)
    return len({m.group(1) for k in sd if (m := rx.match(k))})


def vq_from_state(sd: dict, opt: dict | None = None) -> RVQVAE:
    """Build an RVQ-VAE matching an official state dict's shapes."""
    opt = opt or {}
    w0 = sd["encoder.model.0.weight"]
    down_t = _count(sd, r"encoder\.model\.(\d+)\.0\.weight") or 2
    stride = sd["encoder.model.2.0.weight"].shape[-1] // 2
    depth = _count(sd, r"encoder\.model\.2\.1\.model\.(\d+)\.conv1\.weight")
    nq = _count(sd, r"quantizer\.layers\.(\d+)\.codebook")
    nb_code, code_dim = sd["quantizer.layers.0.codebook"].shape
    act = opt.get("vq_act", "relu")
    return RVQVAE(input_width=w0.shape[1], nb_code=nb_code, code_dim=code_dim, down_t=down_t,
                  stride_t=stride, width=w0.shape[0], depth=depth,
                  dilation_growth_rate=int(opt.get("dilation_growth_rate", 3)),
                  activation=act if act in ("relu", "silu", "gelu") else "relu",
                  num_quantizers=nq,
                  quantize_dropout_prob=float(opt.get("quantize_dropout_prob", 0.2)),
                  mu=float(opt.get("mu", 0.99)))


def _encoder_sizes(sd: dict, opt: dict) -> dict:
    """Sizes shared by both token transformers: from the state dict where it shows them,
    heads and dropout from opt.txt."""
    latent, clip_dim = sd["cond_emb.weight"].shape
    return {"latent_dim": latent, "clip_dim": clip_dim,
            "ff_size": sd["seqTransEncoder.layers.0.linear1.weight"].shape[0],
            "num_layers": _count(sd, r"seqTransEncoder\.layers\.(\d+)\."),
            "num_heads": int(opt.get("n_heads", 6)), "dropout": float(opt.get("dropout", 0.2))}


def transformer_from_state(sd: dict, opt: dict | None = None) -> BAMMTransformer:
    """Build a BAMM transformer matching an official state dict (heads from opt.txt)."""
    opt = opt or {}
    n_tok, code_dim = sd["token_emb.weight"].shape
    if sd["output_process.poseFinal.weight"].shape[0] != n_tok - 2:
        raise CheckpointError(
            f"not a BAMM transformer: token_emb has {n_tok} rows but the head has "
            f"{sd['output_process.poseFinal.weight'].shape[0]} classes (MoMask's masked "
            "transformer has no END class)")
    return BAMMTransformer(num_tokens=n_tok - 3, code_dim=code_dim,
                           cond_drop_prob=float(opt.get("cond_drop_prob", 0.1)),
                           **_encoder_sizes(sd, opt))


def residual_from_state(sd: dict, opt: dict | None = None) -> ResidualTransformer:
    """Build a residual transformer matching an official state dict (heads from opt.txt)."""
    opt = opt or {}
    if "embed_proj_shared_weight" not in sd:
        raise CheckpointError("only share_weight=True residual transformers are supported "
                              "(the released configuration)")
    nshared, n_tok, code_dim = sd["embed_proj_shared_weight"].shape
    return ResidualTransformer(num_tokens=n_tok - 1, code_dim=code_dim,
                               num_quantizers=nshared + 2,
                               cond_drop_prob=float(opt.get("cond_drop_prob", 0.2)),
                               **_encoder_sizes(sd, opt))


def load_strict(module: nn.Module, sd: dict, what: str, allow_missing: tuple[str, ...] = ()) -> None:
    """``load_state_dict`` with exact key and shape matching (clear error otherwise)."""
    own = module.state_dict()
    missing = [k for k in own if k not in sd and not k.endswith(allow_missing)]
    unexpected = [k for k in sd if k not in own]
    wrong = [f"{k}: {tuple(sd[k].shape)} vs {tuple(own[k].shape)}"
             for k in own if k in sd and sd[k].shape != own[k].shape]
    if missing or unexpected or wrong:
        raise CheckpointError(f"{what}: state dict does not match: missing {missing[:5]}, "
                              f"unexpected {unexpected[:5]}, wrong shapes {wrong[:5]}")
    module.load_state_dict(sd, strict=not allow_missing)


_TAR_PREFERENCE = {"vq": ("net_best_fid.tar", "latest.tar", "finest.tar"),
                   "transformer": ("latest.tar", "net_best_fid.tar", "finest.tar"),
                   "residual": ("net_best_fid.tar", "latest.tar", "finest.tar")}


def pick_tar(run_dir: Path, kind: str) -> Path:
    """The checkpoint file the official scripts would use in ``run_dir/model/``."""
    model = Path(run_dir) / "model"
    for name in _TAR_PREFERENCE[kind]:
        if (model / name).is_file():
            return model / name
    tars = sorted(model.glob("*.tar"))
    if not tars:
        raise CheckpointError(f"no model/*.tar in {run_dir}")
    return tars[0]


def _read_opt(run_dir: Path) -> dict:
    p = Path(run_dir) / "opt.txt"
    return parse_opt_txt(p) if p.is_file() else {}


def load_official(transformer_dir: str | Path, vq_dir: str | Path, residual_dir: str | Path,
                  device: str = "cpu") -> LoadedModel:
    """Load the three official run folders (each ``opt.txt`` + ``model/*.tar``)."""
    vq_dir, transformer_dir, residual_dir = Path(vq_dir), Path(transformer_dir), Path(residual_dir)
    for d in (vq_dir, transformer_dir, residual_dir):
        if not d.is_dir():
            raise CheckpointError(f"checkpoint folder not found: {d}")
    vq_opt, mt_opt, rt_opt = _read_opt(vq_dir), _read_opt(transformer_dir), _read_opt(residual_dir)
    sd = load_official_state(pick_tar(vq_dir, "vq"), "vq")
    vq = vq_from_state(sd, vq_opt)
    load_strict(vq, sd, f"VQ {vq_dir}")
    sd = load_official_state(pick_tar(transformer_dir, "transformer"), "transformer")
    mt = transformer_from_state(sd, mt_opt)
    load_strict(mt, sd, f"transformer {transformer_dir}")
    sd = load_official_state(pick_tar(residual_dir, "residual"), "residual")
    rt = residual_from_state(sd, rt_opt)
    load_strict(rt, sd, f"residual transformer {residual_dir}")
    meta = vq_dir / "meta"
    if not (meta / "mean.npy").is_file() or not (meta / "std.npy").is_file():
        raise CheckpointError(f"{meta}/mean.npy and std.npy are required (the VQ's statistics)")
    mean = np.load(meta / "mean.npy").astype(np.float32)
    std = np.load(meta / "std.npy").astype(np.float32)
    dataset = str(vq_opt.get("dataset_name", mt_opt.get("dataset_name", "t2m")))
    config = _official_timebase_config([mt_opt, vq_opt, rt_opt])
    config.update({
        "format": FORMAT_NAME, "version": FORMAT_VERSION,
        "name": f"BAMM official ({mt_opt.get('name', transformer_dir.name)})",
        "license": "see the official BAMM/MoMask release terms",
        "dataset": dataset,
        "joints_num": 22 if dataset == "t2m" else 21, "dim_pose": int(mean.shape[0]),
        "text_encoder": {"name": "clip", "dim": mt.clip_dim, "version": "ViT-B/32"},
        "tokenizer": vq.hparams, "transformer": mt.hparams, "residual": rt.hparams,
        "source": {"transformer": str(transformer_dir), "vq": str(vq_dir),
                   "residual": str(residual_dir)},
    })
    return LoadedModel(vq.to(device).eval(), mt.to(device).eval(), rt.to(device).eval(),
                       mean, std, config)


def _official_timebase_config(opts: list[dict]) -> dict:
    """fps (HumanML3D 20, KIT 12.5) and the longest motion (``max_motion_length``, which
    the official option parser sets to 196) of official runs' ``opt.txt`` options."""
    merged: dict = {}
    for o in reversed(opts):  # the first run's values win
        merged.update(o)
    dataset = str(merged.get("dataset_name", "t2m"))
    return {"fps": DATASETS.get(dataset, HUMANML3D).fps,
            "max_frames": int(merged.get("max_motion_length", HUMANML3D.max_frames))}


def find_official_runs(root: str | Path, dataset: str | None = None, max_depth: int = 5
                       ) -> dict[str, Path]:
    """Locate the VQ, BAMM-transformer and residual run folders under an official
    ``checkpoints/`` (or repository) tree by their checkpoints' contents."""
    root = Path(root)
    found: dict[str, list[Path]] = {"vq": [], "transformer": [], "residual": []}
    for opt in sorted(root.rglob("opt.txt")):
        run = opt.parent
        if len(run.relative_to(root).parts) > max_depth or not (run / "model").is_dir():
            continue
        if dataset is not None and parse_opt_txt(opt).get("dataset_name", dataset) != dataset:
            continue
        for tar in sorted((run / "model").glob("*.tar")):
            try:
                ck = torch.load(tar, map_location="cpu", weights_only=True, mmap=True)
            except Exception:
                continue
            if not isinstance(ck, dict):
                continue
            if any(k in ck for k in _DICT_KEYS["vq"]):
                found["vq"].append(run)
            elif "res_transformer" in ck:
                found["residual"].append(run)
            elif any(k in ck for k in _DICT_KEYS["transformer"]):
                sd = ck.get("t2m_transformer", ck.get("trans"))
                if sd["token_emb.weight"].shape[0] == sd["output_process.poseFinal.weight"].shape[0] + 2:
                    found["transformer"].append(run)  # BAMM (has END); MoMask's is skipped
            break
    out: dict[str, Path] = {}
    for kind in ("transformer", "residual", "vq"):
        runs = sorted(set(found[kind]))
        if not runs:
            raise CheckpointError(f"no official {kind} run (opt.txt + model/*.tar) under {root}")
        if kind == "vq" and len(runs) > 1:
            # the release keeps a copy of the VQ run under log/vq/; the transformer's opt.txt
            # names the VQ it was trained with, and only the real one has meta/mean.npy
            vq_name = parse_opt_txt(out["transformer"] / "opt.txt").get("vq_name")
            named = [r for r in runs if r.name == vq_name] or runs
            with_meta = [r for r in named if (r / "meta" / "mean.npy").is_file()] or named
            runs = with_meta if len({r.name for r in with_meta}) == 1 else runs
            runs = runs[:1] if len({r.name for r in runs}) == 1 else runs
        if len(runs) > 1:
            raise CheckpointError(f"several official {kind} runs under {root}: "
                                  f"{[str(r) for r in runs]}; use Engine.from_official(...)")
        out[kind] = runs[0]
    return out


# ----------------------------------------------------------------------------- our format
def read_config(path: str | Path) -> dict | None:
    """The parsed ``config.json`` of folder ``path`` (None when there is none);
    CheckpointError when it cannot be read or is not valid JSON."""
    f = Path(path) / "config.json"
    if not f.is_file():
        return None
    try:
        cfg = json.loads(f.read_text())
    except OSError as e:
        raise CheckpointError(f"config.json in {Path(path)} cannot be read: {e}") from None
    except ValueError as e:  # JSONDecodeError, UnicodeDecodeError
        raise CheckpointError(f"config.json in {Path(path)} is not valid JSON: {e}") from None
    if not isinstance(cfg, dict):
        raise CheckpointError(f"config.json in {Path(path)} is not valid JSON: expected an "
                              f"object, got {type(cfg).__name__}")
    return cfg


def is_model_dir(path: str | Path) -> bool:
    try:
        cfg = read_config(path)
    except CheckpointError:
        return False
    return cfg is not None and cfg.get("format") == FORMAT_NAME


def read_timebase(path: str | Path | None = None) -> Timebase:
    """The timebase of a model without loading its weights: a model folder's
    ``config.json``, an official tree's ``opt.txt`` files, or (``None``) the bundled default
    model (HumanML3D's timebase if it is not installed)."""
    if path is None:
        cfg = read_config(DEFAULT_MODEL_DIR) if DEFAULT_MODEL_DIR.is_dir() else None
        return Timebase.from_config(cfg) if cfg else Timebase()
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"model path not found: {path}")
    cfg = read_config(path) if path.is_dir() else None
    if cfg is not None and cfg.get("format") == FORMAT_NAME:
        return Timebase.from_config(cfg)
    opts = [parse_opt_txt(p) for p in sorted(path.rglob("opt.txt"))
            if len(p.relative_to(path).parts) <= 6] if path.is_dir() else []
    if not opts:
        raise CheckpointError(f"{path} is neither a model folder (config.json) nor an "
                              "official checkpoints/ tree (opt.txt)")
    t2m = [o for o in opts if o.get("dataset_name", "t2m") == "t2m"] or opts
    tok = next((o for o in t2m if "down_t" in o), {})
    config = _official_timebase_config(t2m)
    config["tokenizer"] = {"down_t": tok.get("down_t", 2), "stride_t": tok.get("stride_t", 2)}
    return Timebase.from_config(config)


def build_modules(config: dict) -> tuple[RVQVAE, BAMMTransformer, ResidualTransformer]:
    """Construct (untrained) networks from a model-folder config."""
    return (RVQVAE(**config["tokenizer"]), BAMMTransformer(**config["transformer"]),
            ResidualTransformer(**config["residual"]))


def save_model_dir(path: str | Path, vq: RVQVAE, transformer: BAMMTransformer,
                   residual: ResidualTransformer, mean, std, config: dict | None = None) -> Path:
    """Write a model folder.

    ``config`` may hold ``name``, ``license``, ``dataset``, ``text_encoder``
    ({"name": "minilm"|"clip"|"hash", "dim": D}), ``decoding`` and any extra metadata;
    module sizes are taken from the modules themselves.
    """
    from safetensors.torch import save_file

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    cfg = dict(config or {})
    mean = np.asarray(mean, dtype=np.float32).reshape(-1)
    std = np.asarray(std, dtype=np.float32).reshape(-1)
    if mean.shape != std.shape or mean.shape[0] != vq.input_width:
        raise CheckpointError(f"mean/std must have shape ({vq.input_width},), got "
                              f"{mean.shape} and {std.shape}")
    if transformer.clip_dim != residual.clip_dim:
        raise CheckpointError("transformer and residual use different text-embedding sizes")
    dataset = cfg.get("dataset", "t2m")
    cfg.update({
        "format": FORMAT_NAME, "version": FORMAT_VERSION,
        "name": cfg.get("name", path.name), "license": cfg.get("license", "unspecified"),
        "dataset": dataset, "fps": cfg.get("fps", DATASETS.get(dataset, HUMANML3D).fps),
        "joints_num": cfg.get("joints_num", (vq.input_width + 1) // 12),
        "dim_pose": vq.input_width,
        "text_encoder": cfg.get("text_encoder", {"name": "clip", "dim": transformer.clip_dim}),
        "tokenizer": vq.hparams, "transformer": transformer.hparams,
        "residual": residual.hparams,
    })
    if int(cfg["text_encoder"].get("dim", transformer.clip_dim)) != transformer.clip_dim:
        raise CheckpointError("text_encoder.dim does not match the transformer's clip_dim")
    for name, module in (("tokenizer", vq), ("transformer", transformer), ("residual", residual)):
        sd = {k: v.detach().cpu().contiguous() for k, v in module.state_dict().items()
              if not k.endswith(_NOT_SAVED)}
        save_file(sd, str(path / f"{name}.safetensors"), metadata={"format": FORMAT_NAME})
    np.save(path / "mean.npy", mean)
    np.save(path / "std.npy", std)
    (path / "config.json").write_text(json.dumps(cfg, indent=1, default=float))
    return path


def load_model_dir(path: str | Path, device: str = "cpu") -> LoadedModel:
    """Load a folder written by :func:`save_model_dir`."""
    from safetensors.torch import load_file

    path = Path(path)
    cfg = read_config(path)
    if cfg is None or cfg.get("format") != FORMAT_NAME:
        raise CheckpointError(f"{path} is not a BAMM Motion model folder (config.json with "
                              f"format '{FORMAT_NAME}' missing)")
    if int(cfg.get("version", 0)) > FORMAT_VERSION:
        raise CheckpointError(f"{path}: model format version {cfg['version']} is newer than "
                              f"this engine supports ({FORMAT_VERSION})")
    vq, mt, rt = build_modules(cfg)
    for name, module in (("tokenizer", vq), ("transformer", mt), ("residual", rt)):
        f = path / f"{name}.safetensors"
        if not f.is_file():
            raise CheckpointError(f"missing {f}")
        load_strict(module, load_file(str(f)), f"{f}", allow_missing=_NOT_SAVED)
    mean = np.load(path / "mean.npy").astype(np.float32)
    std = np.load(path / "std.npy").astype(np.float32)
    return LoadedModel(vq.to(device).eval(), mt.to(device).eval(), rt.to(device).eval(),
                       mean, std, cfg)


# ----------------------------------------------------------------------------- random
SIZES = {
    # name: (vq kwargs, transformer kwargs (without clip_dim), text encoder)
    "tiny": (dict(nb_code=32, code_dim=32, width=32, depth=1),
             dict(latent_dim=32, ff_size=64, num_layers=1, num_heads=2),
             {"name": "hash", "dim": 32}),
    "small": (dict(nb_code=64, code_dim=64, width=64, depth=3),
              dict(latent_dim=64, ff_size=128, num_layers=2, num_heads=4),
              {"name": "hash", "dim": 512}),
    "release": (dict(nb_code=512, code_dim=512, width=512, depth=3),
                dict(latent_dim=384, ff_size=1024, num_layers=8, num_heads=6),
                {"name": "clip", "dim": 512}),
}


def rest_pose_mean(dim_pose: int = 263) -> np.ndarray:
    """A feature mean describing a person standing still (HumanML3D rest pose), so that
    random models decode to human-looking joint sets."""
    mean = np.zeros(dim_pose, dtype=np.float32)
    try:
        from ..motion.skeleton import HUMANML3D

        off = np.asarray(HUMANML3D.target_offsets(), dtype=np.float64)  # (22, 3)
        parents = HUMANML3D.parents
        pos = np.zeros_like(off)
        for j in range(1, len(parents)):
            pos[j] = pos[parents[j]] + off[j]
        pos[:, 1] -= pos[:, 1].min()
        mean[3] = pos[0, 1]
        mean[4:4 + 63] = (pos[1:] - np.array([pos[0, 0], 0.0, pos[0, 2]])).reshape(-1)
    except Exception:  # skeleton constants unavailable: a 0.9 m root height only
        mean[3] = 0.9
    return mean


def make_random_model_dir(path: str | Path, size: str = "tiny", seed: int = 0) -> Path:
    """Write a randomly initialised model folder (for tests, demos and benchmarks).

    ``tiny``: ~0.4 MB, hashing text encoder (32-d), generation well under a second.
    ``small``: the official dump's sizes.  ``release``: the released sizes with CLIP.
    Codebooks are N(0, 1); mean is a standing rest pose, std 0.05 (small random motion).
    """
    if size not in SIZES:
        raise ValueError(f"unknown size {size!r}; choose from {list(SIZES)}")
    vq_kw, mt_kw, text = SIZES[size]
    g = torch.random.fork_rng()
    with g:
        torch.manual_seed(seed)
        vq = RVQVAE(input_width=263, **vq_kw)
        for layer in vq.quantizer.layers:
            layer.codebook.normal_()
        nb, cd = vq_kw["nb_code"], vq_kw["code_dim"]
        mt = BAMMTransformer(num_tokens=nb, code_dim=cd, clip_dim=text["dim"], **mt_kw)
        rt = ResidualTransformer(num_tokens=nb, code_dim=cd, clip_dim=text["dim"], **mt_kw)
    mean = rest_pose_mean(263)
    std = np.full(263, 0.05, dtype=np.float32)
    return save_model_dir(path, vq, mt, rt, mean, std, {
        "name": f"random-{size}-seed{seed}", "license": "CC0 (random weights)",
        "dataset": "t2m", "text_encoder": text})
