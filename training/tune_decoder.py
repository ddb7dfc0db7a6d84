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

(Δ: frame differences; the contacts are the real clip's foot-contact channels).  With
``class_balance`` in the preset's ``decoder`` section, clips are drawn as the token stages draw
them (:func:`training.paraphrases.balance_weights`), so rare motions are decoded as well as
common ones; with ``shortest`` (frames, below ``window``) each step crops a length between the
two (:class:`CropBatches`), so takes shorter than the window are trained on too.  The checkpoint
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
from .paraphrases import balance_weights
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


class CropBatches:
    """Each step a crop length (a multiple of ``unit`` from ``shortest`` to ``window``, uniform)
    and a batch, drawn with replacement by ``weights`` among the clips at least that long, from an
    RNG seeded by (seed, step, rank): resume-safe.  Takes shorter than the window (a sprint is
    2-4 s) are decoded in training too."""

    def __init__(self, lengths: list[int], weights: np.ndarray, batch: int, window: int,
                 shortest: int, unit: int, seed: int, info):
        self.lengths, self.p = np.asarray(lengths), np.asarray(weights, dtype=np.float64)
        self.crops = np.arange(shortest, window + 1, unit)
        self.batch, self.seed, self.info = int(batch), int(seed), info

    def __call__(self, step: int) -> tuple[int, list[int]]:
        rng = np.random.default_rng([self.seed, int(step), self.info.rank])
        crop = int(rng.choice(self.crops))
        p = np.where(self.lengths >= crop, self.p, 0.0)
        return crop, rng.choice(len(p), size=self.batch, replace=True, p=p / p.sum()).tolist()


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
    unit = int(st["arch"].get("stride_t", 2)) ** int(st["arch"].get("down_t", 2))  # frames per token
    shortest = int(sc.get("shortest", window))
    if not (unit <= shortest <= window and shortest % unit == 0):
        raise ValueError(f"decoder.shortest must be a multiple of {unit} between {unit} and the "
                         f"window ({window}), got {shortest}")
    data = HumanML3DDir(args.data, fps=ds_cfg.get("fps"))
    items = data.items("train", min_len=shortest, max_len=10**9)
    if not items:
        raise RuntimeError(f"no training clip in {args.data} is at least {shortest} frames long")
    for it in items:
        it["norm"] = ((it["features"] - mean_np) / std_np).astype(np.float32)
    for prm in list(vq.encoder.parameters()) + list(vq.quantizer.parameters()):
        prm.requires_grad_(False)
    mean, std = (torch.from_numpy(a).to(device) for a in (mean_np, std_np))
    weights = {k: float(sc.get(f"loss_{k}", 0.0)) for k in LOSS_KEYS}
    balance = float(sc.get("class_balance", 0.0))
    if shortest < window or balance > 0:  # short takes join in, rare motions cropped more often
        w = (balance_weights([it["name"] for it in items], balance) if balance > 0
             else np.full(len(items), 1.0 / len(items)))
        batches = CropBatches([len(it["norm"]) for it in items], w, sc["batch_size"], window, shortest,
                              unit, run.seed, run.info)
    else:
        plain = StepBatches(len(items), sc["batch_size"], run.seed, run.info)
        batches = lambda step: (window, plain(step)[1])

    def step_fn(step: int):
        crop, idx = batches(step)
        x = torch.from_numpy(windows(items, idx, crop)).to(device)
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
