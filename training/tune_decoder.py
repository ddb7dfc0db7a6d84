"""Fine-tune the tokenizer's decoder on joint motion, keeping every code (issue #12, item 2).

    python -m training.tune_decoder --data DIR --config cpu_small_cycle3 --vq training_state/vq.pt \
        --out runs/decoder

The RVQ-VAE's reconstruction loss (:mod:`training.train_vq`) compares 263-d features frame by
frame, so nothing in it asks the decoded *joints* to move like real ones: its round trip has
about twice the jerk of real mocap and its feet slide while in contact.  This stage trains the
decoder alone on the same random crops, with the encoder and the codebooks frozen (eval mode: the
arg-min codes of every quantizer layer, no EMA updates), so the codes of every clip, and with them
both transformers trained on those codes, stay valid.  Loss, on the decoded features ``y`` and the
real ones ``x`` (joints ``P = recover_from_ric``, metres, from the crop's first root position):

    SmoothL1(y, x) + pos · SmoothL1(RIC part)
    + joints · L1(P_y, P_x) + vel · fps · L1(ΔP_y, ΔP_x) + acc · fps² · L1(Δ²P_y, Δ²P_x)
    + foot · fps · mean over the real contact frames of the foot's horizontal speed in ``y``

(Δ: frame differences; the contacts are the real clip's foot-contact channels).  The checkpoint
has the layout of a ``train_vq`` checkpoint (same architecture, normalisation and codebooks,
``decoder_step`` added), so the exporter and the transformer stages read it as a tokenizer.
"""
from __future__ import annotations

import sys

import numpy as np
import torch
import torch.nn.functional as F

from bamm_core.motion.features import recover_from_ric
from bamm_core.motion.skeleton import HUMANML3D, KIT

from .dataset import HumanML3DDir
from .distributed import StepBatches
from .loop import train_loop
from .run import base_parser, start_run
from .train_vq import codes_step, load_vq, quantizer_state, windows

LOSS_KEYS = ("pos", "joints", "vel", "acc", "foot")


def feet_of(joints_num: int) -> list[int]:
    """Ankle and toe joints, left then right: the order of the features' 4 contact channels."""
    d = HUMANML3D if joints_num == HUMANML3D.num_joints else KIT
    return [*d.feet_left, *d.feet_right]


def motion_loss(recon: torch.Tensor, x: torch.Tensor, mean: torch.Tensor, std: torch.Tensor,
                joints_num: int, fps: float, w: dict[str, float]) -> tuple[torch.Tensor, dict[str, float]]:
    """The loss of the module docstring for normalised features ``recon``/``x`` (B, T, D)."""
    rec = F.smooth_l1_loss(recon, x)
    ric = slice(4, 4 + 3 * (joints_num - 1))
    parts = {"rec": rec, "pos": F.smooth_l1_loss(recon[..., ric], x[..., ric])}
    y_raw, x_raw = recon * std + mean, x * std + mean
    py, px = recover_from_ric(y_raw, joints_num), recover_from_ric(x_raw, joints_num)
    parts["joints"] = F.l1_loss(py, px)
    vy, vx = py[:, 1:] - py[:, :-1], px[:, 1:] - px[:, :-1]
    parts["vel"] = F.l1_loss(vy, vx) * fps
    parts["acc"] = F.l1_loss(vy[:, 1:] - vy[:, :-1], vx[:, 1:] - vx[:, :-1]) * fps ** 2
    contact = (x_raw[:, 1:, -4:] > 0.5).float()                      # (B, T-1, 4)
    foot_speed = vy[:, :, feet_of(joints_num)][..., [0, 2]].norm(dim=-1) * fps
    parts["foot"] = (foot_speed * contact).sum() / contact.sum().clamp(min=1.0)
    loss = rec + sum(w.get(k, 0.0) * parts[k] for k in LOSS_KEYS)
    return loss, {k: float(v.detach()) for k, v in parts.items()}


def main(argv: list[str] | None = None) -> dict:
    p = base_parser(__doc__.splitlines()[0])
    p.add_argument("--vq", required=True, help="the tokenizer to start from (train_vq run dir or checkpoint)")
    args = p.parse_args(argv)
    run = start_run(args, "decoder")
    sc, ds_cfg, device = run.stage, run.dataset, run.device

    vq, st = load_vq(args.vq, device)
    mean_np, std_np = st["mean"].numpy(), st["std"].numpy()
    J, fps = int(ds_cfg["joints_num"]), float(ds_cfg.get("fps", 20))
    window = int(sc["window"])
    data = HumanML3DDir(args.data, fps=ds_cfg.get("fps"))
    items = data.items("train", min_len=window, max_len=10**9)
    if not items:
        raise RuntimeError(f"no training clip in {args.data} is at least {window} frames long")
    for it in items:
        it["norm"] = ((it["features"] - mean_np) / std_np).astype(np.float32)
    for prm in list(vq.encoder.parameters()) + list(vq.quantizer.parameters()):
        prm.requires_grad_(False)
    mean, std = (torch.from_numpy(a).to(device) for a in (mean_np, std_np))
    weights = {k: float(sc.get(f"loss_{k}", 0.0)) for k in LOSS_KEYS}
    batches = StepBatches(len(items), sc["batch_size"], run.seed, run.info)

    def step_fn(step: int):
        _, idx = batches(step)
        x = torch.from_numpy(windows(items, idx, window)).to(device)
        vq.encoder.eval()
        vq.quantizer.eval()
        with torch.no_grad():
            ids, _ = vq.encode(x)
        recon = vq.forward_decoder(ids)
        return motion_loss(recon, x, mean, std, J, fps, weights)

    keep = {k: v for k, v in st.items() if k not in ("model", "optimizer", "step", "rng_torch")}
    extra = lambda: {**keep, "quantizer_state": quantizer_state(vq), "decoder_from_step": codes_step(st),
                     "decoder_losses": weights}
    res = train_loop(model=vq, optimizer=run.adamw(vq.decoder, 0.0), step_fn=step_fn, extra_state=extra,
                     **{**run.loop_kwargs(args, "decoder"), "init_from": None})
    if run.info.is_main:
        print(f"stopped at step {res['step']} ({res['stopped']})")
    return res


if __name__ == "__main__":
    main(sys.argv[1:])
