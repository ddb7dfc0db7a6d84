"""``bamm train``: a prepared dataset -> a model folder of your own.

    bamm train DATASET --out MODEL_DIR [--from default|MODEL_DIR|scratch] [--minutes N]
               [--device cpu|cuda|auto] [--license TEXT] [--name NAME]

The work is :func:`training.fine_tune.train_model` (imported only when the command runs: the
``training`` package is part of a source checkout, not of the add-on).  Ctrl-C checkpoints;
the same command continues.  Several GPUs: ``torchrun --nproc_per_node N -m bamm_cli train ...``
(the trainers use DistributedDataParallel; rank 0 prepares, exports and writes the card).
"""
from __future__ import annotations

import argparse
import contextlib
import io
import sys

from .errors import UserError, one_line, training_module


def add_parser(sub, parents: list[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    t = sub.add_parser("train", parents=parents, help="train a model of your own on a prepared dataset",
                       description="Fine-tune the bundled model (or another model folder) on a dataset prepared "
                                   "by `bamm dataset`, or train one from scratch, within a time budget. The "
                                   "result is a model folder for --model, bake jobs and the add-on. Ctrl-C "
                                   "stops after a checkpoint; the same command continues.")
    t.add_argument("dataset", metavar="DATASET", help="a folder written by `bamm dataset`")
    t.add_argument("--out", required=True, metavar="MODEL_DIR", help="model folder to create (or to continue)")
    t.add_argument("--from", dest="base", default="default", metavar="default|MODEL_DIR|scratch",
                   help="default: fine-tune the bundled model (default); MODEL_DIR: fine-tune that model "
                        "folder; scratch: train tokenizer and both transformers from scratch (--config)")
    t.add_argument("--minutes", type=float, default=30.0, metavar="N",
                   help="time budget of the whole command, export included (default 30)")
    t.add_argument("--device", default="cpu", help="cpu (default), cuda, cuda:N, mps or auto")
    t.add_argument("--license", default="unspecified (set with --license)", help="license text stored in the model")
    t.add_argument("--name", default=None, help="model name (default: the --out folder's name)")
    t.add_argument("--config", default="cpu_small", metavar="PRESET|FILE.json",
                   help="with --from scratch: the training preset (cpu_small, t2m, ...; default cpu_small)")
    t.add_argument("--retrain-tokenizer", action="store_true",
                   help="also fine-tune the tokenizer on the dataset first (default: keep the model's)")
    t.add_argument("--eval-clips", type=int, default=4, metavar="K",
                   help="held-out clips generated for the model card (default 4; 0: none)")
    t.add_argument("--overwrite", action="store_true", help="replace a non-empty MODEL_DIR (or a finished run)")
    t.add_argument("--seed", type=int, default=0, help="seed of the run (default 0)")
    t.add_argument("--max-steps", type=int, default=None, help=argparse.SUPPRESS)   # per stage (tests)
    t.add_argument("--batch-size", type=int, default=None, help=argparse.SUPPRESS)
    t.add_argument("--lr", type=float, default=None, help=argparse.SUPPRESS)
    t.set_defaults(func=cmd_train)
    return t


def cmd_train(args) -> int:
    fine_tune = training_module("fine_tune", "train")
    TrainError, TrainInterrupted = fine_tune.TrainError, fine_tune.TrainInterrupted
    from bamm_core.model.devices import resolve_device

    quiet = getattr(args, "quiet", False)
    try:
        resolve_device(args.device)
    except ValueError as e:
        raise UserError(one_line(e)) from None
    req = fine_tune.TrainRequest(dataset=args.dataset, out=args.out, base=args.base, minutes=args.minutes,
                       device=args.device, config=args.config, name=args.name, license=args.license,
                       retrain_tokenizer=args.retrain_tokenizer, max_steps=args.max_steps,
                       batch_size=args.batch_size, lr=args.lr, seed=args.seed, overwrite=args.overwrite,
                       progress=not quiet, eval_clips=args.eval_clips)
    log = (lambda *a, **k: None) if quiet else (lambda msg: print(msg, file=sys.stderr))
    try:
        with contextlib.redirect_stdout(io.StringIO()) if quiet else contextlib.nullcontext():
            fine_tune.train_model(req, log=log)
    except TrainInterrupted as e:
        print(f"bamm train: {e}", file=sys.stderr)
        return 130
    except (TrainError, FileNotFoundError, PermissionError) as e:
        raise UserError(one_line(e)) from None
    return 0


__all__ = ["add_parser", "cmd_train"]
