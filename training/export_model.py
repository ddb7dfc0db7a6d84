"""Turn training runs into a model folder that ``Engine.from_pretrained(path)`` loads.

    python -m training.export_model --runs runs --out bamm_core/models/default --fp16

Reads ``RUNS/vq/last.pt``, ``RUNS/transformer/last.pt``, ``RUNS/residual/last.pt`` (the
``train_*`` checkpoints), and writes them with the engine's
``bamm_core.model.checkpoints.save_model_dir`` (safetensors + ``config.json`` + ``mean.npy`` /
``std.npy``).  ``--fp16`` stores the weights in half precision (the engine loads them into fp32
modules); the codebooks and the normalisation stay exact enough for decoding (checked by
``--check``, which generates one motion end to end through ``Engine.from_pretrained`` and
prints the folder size).
"""
from __future__ import annotations

import argparse
import copy
import sys
import time
from pathlib import Path

import numpy as np

from .runs import load_runs
from .train_vq import codes_step
from .text_cache import encoder_alias

LICENSE = ("CC BY-NC 4.0 (trained on the Bandai Namco Research Motion datasets 1 and 2; "
           "non-commercial use only, attribution required)")


def folder_size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def export(runs: str | Path, out: str | Path, *, name: str, license: str, fp16: bool = False,
           options=None, extra: dict | None = None) -> Path:
    """Write the model folder ``out`` from ``RUNS/{vq,transformer,residual}/last.pt``;
    ``options`` (a ``SamplingOptions``, default the class defaults) become the decoding
    defaults, ``extra`` adds entries to ``config.json``."""
    from bamm_core.generation.options import SamplingOptions
    from bamm_core.model.checkpoints import save_model_dir

    runs, out = Path(runs), Path(out)
    trained = load_runs(runs)
    vq, mt, rt = trained.vq, trained.transformer, trained.residual
    vst, tst, rst = trained.vq_state, trained.transformer_state, trained.residual_state
    if fp16:
        vq, mt, rt = (copy.deepcopy(m).half() for m in (vq, mt, rt))
    ds, tb, opts = trained.dataset, trained.timebase, options or SamplingOptions()
    enc_name = encoder_alias(tst.get("text_encoder", "minilm"))
    config = {
        "name": name, "license": license, "dataset": ds.get("kind", "t2m"),
        "fps": tb.fps, "max_frames": tb.max_frames, "joints_num": ds.get("joints_num", 22),
        "text_encoder": {"name": enc_name, "dim": int(mt.clip_dim)},
        "decoding": opts.to_config(),
        "training": {"preset": tst.get("config", ""), "vq_step": codes_step(vst),
                     **({"decoder_step": int(vst["step"])} if "decoder_from_step" in vst else {}),
                     "transformer_step": int(tst["step"]), "residual_step": int(rst["step"]),
                     "dtype": "float16" if fp16 else "float32",
                     "exported": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())},
        **(extra or {}),
    }
    save_model_dir(out, vq, mt, rt, vst["mean"].numpy(), vst["std"].numpy(), config)
    size = folder_size(out)
    print(f"wrote {out} ({size / 1e6:.1f} MB): VQ step {vst['step']}, transformer step {tst['step']}, "
          f"residual step {rst['step']}")
    return out


def main(argv: list[str] | None = None) -> Path:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", required=True, help="dir with vq/, transformer/, residual/ run dirs")
    p.add_argument("--out", required=True, help="model folder to write")
    p.add_argument("--name", default="bamm-motion-bandai-small")
    p.add_argument("--license", default=LICENSE)
    p.add_argument("--fp16", action="store_true", help="store weights as float16")
    p.add_argument("--check", action="store_true", help="generate one motion through Engine.from_pretrained")
    p.add_argument("--prompt-snap", type=float, default=0.0,
                   help="the model's default SamplingOptions.prompt_snap (needs a caption index: "
                        "python -m training.caption_index)")
    args = p.parse_args(argv)

    from bamm_core.generation.options import SamplingOptions

    out = export(args.runs, args.out, name=args.name, license=args.license, fp16=args.fp16,
                 options=SamplingOptions(prompt_snap=args.prompt_snap))
    if args.check:
        from bamm_core import Engine

        eng = Engine.from_pretrained(str(out), device="cpu")
        t0 = time.time()
        m = eng.generate("a person walks forward.", seed=0)
        j = np.asarray(m.joints)
        print(f"check: generated {j.shape[0]} frames in {time.time() - t0:.2f} s, joints {j.shape}, "
              f"finite={bool(np.isfinite(j).all())}")
    return out


if __name__ == "__main__":
    main(sys.argv[1:])
