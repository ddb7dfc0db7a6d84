"""Train the RVQ-VAE motion tokenizer (``bamm_core.model.tokenizer.RVQVAE``; SPEC §2).

    python -m training.train_vq --data DIR --config cpu_small --out runs/vq

Each step: a batch of random ``window``-frame crops (64 at release) of training clips,
normalised with the dataset mean and the *model* std (dataset std with root and foot-contact
groups divided by 5, SPEC §1.4).  Loss (SPEC §2.3):

    SmoothL1(recon, x) + loss_vel · SmoothL1(recon[..., 4:4+3(J−1)], x[..., same]) + commit · L_commit

(the official "vel" term compares the RIFKE joint positions).  The codebook is trained by the
quantiser's own EMA/reset updates in train mode.  The checkpoint (``OUT/last.pt``) also stores
the architecture kwargs and the normalisation statistics the other stages and the exporter use.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .checkpoints import load_checkpoint, save_checkpoint
from .config import filter_kwargs, run_timebase
from .dataset import HumanML3DDir
from .distributed import StepBatches, wrap_ddp
from .loop import train_loop
from .run import base_parser, start_run

VQ_ARCH_KEYS = ("nb_code", "code_dim", "output_emb_width", "down_t", "stride_t", "width", "depth",
                "dilation_growth_rate", "activation", "norm", "num_quantizers", "shared_codebook",
                "quantize_dropout_prob", "mu")

# HumanML3D feature groups that the official code divides the std by ``feat_bias`` (=5):
# root (0:4) and foot contacts (the last 4 dims) for the 263-d layout.
FEAT_BIAS = 5.0


def model_std(std: np.ndarray) -> np.ndarray:
    """The std the official models normalise with: dataset std, root (0:4) and foot contacts
    (last 4 dims) divided by ``FEAT_BIAS`` (SPEC §1.4)."""
    s = std.astype(np.float32).copy()
    s[0:4] /= FEAT_BIAS
    s[-4:] /= FEAT_BIAS
    return s


def build_vq(arch: dict) -> torch.nn.Module:
    """Construct the engine's RVQVAE from our arch dict (unknown keys are dropped)."""
    from bamm_core.model.tokenizer import RVQVAE

    return RVQVAE(**filter_kwargs(RVQVAE.__init__, arch))


def vq_arch(vc: dict, ds_cfg: dict) -> dict:
    arch = {k: vc[k] for k in VQ_ARCH_KEYS if k in vc}
    d = int(ds_cfg["dim_pose"])
    arch.update(input_width=d, dim_pose=d, input_dim=d, in_dim=d)  # whichever name RVQVAE uses
    return arch


def quantizer_state(vq: torch.nn.Module) -> dict:
    """EMA statistics and init flags of every codebook: non-persistent in the engine's
    ``QuantizeEMAReset`` state dict, but needed to resume training exactly."""
    out = {}
    for name, m in vq.named_modules():
        if hasattr(m, "code_sum") and hasattr(m, "code_count"):
            out[name] = {"code_sum": m.code_sum.detach().cpu().clone(),
                         "code_count": m.code_count.detach().cpu().clone(),
                         "initialised": bool(getattr(m, "initialised", True))}
    return out


def restore_quantizer_state(vq: torch.nn.Module, state: dict) -> None:
    mods = dict(vq.named_modules())
    for name, st in state.items():
        m = mods[name]
        m.code_sum.copy_(st["code_sum"])
        m.code_count.copy_(st["code_count"])
        if hasattr(m, "initialised"):
            m.initialised = bool(st["initialised"])


def vq_checkpoint(run_dir: str | Path) -> dict:
    """The checkpoint dict (``arch``, ``mean``, ``std``, ``step``, ...) of a train_vq run dir (its
    ``last.pt``) or of a checkpoint file (e.g. ``training_state/vq.pt``)."""
    path = Path(run_dir)
    return load_checkpoint(path if path.is_file() else path / "last.pt")


def codes_step(st: dict) -> int:
    """The tokenizer step whose codes the checkpoint ``st`` produces: its own step, or for a
    decoder fine-tune (:mod:`training.tune_decoder`) the step it started from (codes unchanged)."""
    return int(st.get("decoder_from_step", st["step"]))


def load_vq(run_dir: str | Path, device: str | torch.device = "cpu") -> tuple[torch.nn.Module, dict]:
    """(VQ in eval mode, its checkpoint dict) from a run dir or checkpoint file (:func:`vq_checkpoint`)."""
    st = vq_checkpoint(run_dir)
    vq = build_vq(st["arch"])
    vq.load_state_dict(st["model"])
    if "quantizer_state" in st:
        restore_quantizer_state(vq, st["quantizer_state"])
    return vq.to(device).eval(), st


@torch.no_grad()
def encode_tokens(vq: torch.nn.Module, feats_norm: list[np.ndarray], device, unit: int) -> list[torch.Tensor]:
    """Eval-mode codes of whole clips: list of (T_i // unit, Q) int64 CPU tensors (``unit``: the
    tokenizer's frames per token)."""
    vq.eval()
    out = []
    for f in feats_norm:
        f = f[: len(f) // unit * unit]
        res = vq.encode(torch.from_numpy(np.ascontiguousarray(f))[None].to(device))
        codes = res[0] if isinstance(res, (tuple, list)) else res
        out.append(codes[0].long().cpu())
    return out


def token_cache(vq_dir: str | Path, data: HumanML3DDir, split: str, cache_path: Path, device,
                min_len: int) -> tuple[list[dict], dict]:
    """Items of ``split`` with their VQ codes (``item["codes"]`` (tokens, Q)), cached in
    ``cache_path`` and recomputed when the VQ checkpoint step changes."""
    vq, st = load_vq(vq_dir, device)
    items = data.items(split, min_len=min_len, max_len=10**9)
    key = {"vq_step": codes_step(st), "names": [it["name"] for it in items]}
    if cache_path.is_file():
        c = load_checkpoint(cache_path)
        if c["vq_step"] == key["vq_step"] and c["names"] == key["names"]:
            for it, codes in zip(items, c["codes"]):
                it["codes"] = codes
            return items, st
    mean, std = st["mean"].numpy(), st["std"].numpy()
    unit = run_timebase(st.get("dataset", {}), st["arch"]).frames_per_token
    codes = encode_tokens(vq, [(it["features"] - mean) / std for it in items], device, unit)
    for it, c in zip(items, codes):
        it["codes"] = c
    save_checkpoint(cache_path, {**key, "codes": codes})
    return items, st


def vq_loss(recon: torch.Tensor, x: torch.Tensor, commit: torch.Tensor, joints_num: int,
            loss_vel: float, w_commit: float) -> tuple[torch.Tensor, dict[str, float]]:
    rec = F.smooth_l1_loss(recon, x)
    sl = slice(4, 4 + 3 * (joints_num - 1))
    pos = F.smooth_l1_loss(recon[..., sl], x[..., sl])
    loss = rec + loss_vel * pos + w_commit * commit
    return loss, {"rec": float(rec.detach()), "pos": float(pos.detach()), "commit": float(commit.detach())}


def windows(items: list[dict], idx: list[int], window: int) -> np.ndarray:
    """Random ``window``-frame crops (global numpy RNG) of the clips ``idx`` -> (B, window, D)."""
    out = []
    for i in idx:
        f = items[i]["norm"]
        off = np.random.randint(0, len(f) - window + 1)
        out.append(f[off:off + window])
    return np.stack(out)


@torch.no_grad()
def reconstruction_error(vq: torch.nn.Module, items: list[dict], device, unit: int) -> float:
    """Mean SmoothL1 of eval-mode reconstructions of whole clips (normalised space), each cut to
    a multiple of ``unit`` (the tokenizer's frames per token)."""
    vq.eval()
    errs = []
    for it in items:
        f = it["norm"][: len(it["norm"]) // unit * unit]
        x = torch.from_numpy(f)[None].to(device)
        recon = vq(x)[0]
        errs.append(float(F.smooth_l1_loss(recon, x)))
    return float(np.mean(errs)) if errs else float("nan")


def main(argv: list[str] | None = None) -> dict:
    p = base_parser(__doc__.splitlines()[0])
    args = p.parse_args(argv)
    run = start_run(args, "vq")
    cfg, vc, ds_cfg, seed = run.cfg, run.stage, run.dataset, run.seed
    info, device = run.info, run.device

    data = HumanML3DDir(args.data, fps=ds_cfg.get("fps"))
    mean, std = data.mean, model_std(data.std)
    if args.resume_from:  # continuing a tokenizer: keep the normalisation its codes were learned with
        init = vq_checkpoint(args.resume_from)
        if "mean" in init and "std" in init:
            mean, std = init["mean"].numpy(), init["std"].numpy()
    window = int(vc["window"])
    items = [it for it in data.items("train", min_len=window, max_len=10**9)]
    if not items:
        raise RuntimeError(f"no training clip in {args.data} is at least {window} frames long")
    for it in items:
        it["norm"] = ((it["features"] - mean) / std).astype(np.float32)

    arch = vq_arch(vc, ds_cfg)
    model = build_vq(arch).to(device)
    net = wrap_ddp(model, info, device)
    batches = StepBatches(len(items), vc["batch_size"], seed, info)
    J = int(ds_cfg["joints_num"])

    def step_fn(step: int):
        _, idx = batches(step)
        x = torch.from_numpy(windows(items, idx, window)).to(device)
        recon, commit, perplexity = net(x)
        loss, sc = vq_loss(recon, x, commit, J, vc["loss_vel"], vc["commit"])
        sc["perplexity"] = float(perplexity.detach())
        return loss, sc

    extra = lambda: {"arch": arch, "mean": torch.from_numpy(mean), "std": torch.from_numpy(std),
                     "dataset_std": torch.from_numpy(data.std), "config": cfg.get("name", ""),
                     "dataset": dict(ds_cfg), "quantizer_state": quantizer_state(model)}
    res = train_loop(model=net, optimizer=run.adamw(model, 0.0), step_fn=step_fn, extra_state=extra,
                     on_resume=lambda st: restore_quantizer_state(model, st["quantizer_state"]),
                     **run.loop_kwargs(args, "vq"))
    if info.is_main:
        try:
            val = data.items("val", min_len=16, max_len=ds_cfg["max_len"])
        except FileNotFoundError:
            val = []
        for it in val:
            it["norm"] = ((it["features"] - mean) / std).astype(np.float32)
        if val:
            err = reconstruction_error(model, val, device, run_timebase(ds_cfg, arch).frames_per_token)
            res["val_recon_smoothl1"] = err
            print(f"[val] reconstruction SmoothL1 (normalised) = {err:.4f} over {len(val)} clips")
        print(f"stopped at step {res['step']} ({res['stopped']})")
    return res


if __name__ == "__main__":
    main(sys.argv[1:])
