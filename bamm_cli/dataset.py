"""``bamm dataset``: a BVH mocap library -> a HumanML3D-layout training set.

    bamm dataset SRC --out DATASET [--captions FILE] [--skeleton-map auto|NAME|FILE.json]
                 [--fps-out 20] [--check] [--overwrite]

The work is :func:`training.library.build_library` (imported only when the command runs:
the ``training`` package is part of a source checkout, not of the add-on).
"""
from __future__ import annotations

import argparse

from .errors import UserError, one_line, training_module


def add_parser(sub, parents: list[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    d = sub.add_parser("dataset", parents=parents, help="turn a BVH mocap library into a training set",
                       description="Turn a folder or archive of BVH takes (any skeletons, frame rates, units, "
                                   "Y- or Z-up) with captions into a HumanML3D-layout training set. Each "
                                   "distinct skeleton is mapped onto the 22 joints automatically (printed; "
                                   "--check to look first). Captions: TAKE.txt beside each take, or --captions "
                                   "with a CSV/TSV (file,caption), a JSON {file: [captions]} or a label "
                                   "scheme (captions.json).")
    d.add_argument("src", metavar="SRC", help="folder (searched recursively) or archive of .bvh takes")
    d.add_argument("--out", required=True, metavar="DATASET", help="dataset folder to create")
    d.add_argument("--captions", metavar="FILE", default=None,
                   help="captions file (default: captions.csv/.tsv/.json in SRC, else TAKE.txt sidecars)")
    d.add_argument("--skeleton-map", metavar="auto|NAME|FILE.json", default="auto",
                   help="auto (default: one automatic map per skeleton), a rig preset name (e.g. bandai, "
                        "mixamo) or a JSON map (e.g. one written by --check, edited)")
    d.add_argument("--fps-out", type=float, default=None, metavar="FPS",
                   help="frame rate of the dataset (default: 20, HumanML3D's)")
    d.add_argument("--check", action="store_true",
                   help="only write a contact sheet and the map of each skeleton to DATASET/check/ and stop")
    d.add_argument("--overwrite", action="store_true", help="replace an existing non-empty DATASET folder")
    d.add_argument("--no-mirror", action="store_true", help="do not add mirrored M* copies")
    d.add_argument("--min-seconds", type=float, default=1.0, help="skip takes shorter than this (default 1.0)")
    d.add_argument("--seed", type=int, default=0, help="seed of the train/val/test split")
    d.set_defaults(func=cmd_dataset)
    return d


def cmd_dataset(args) -> int:
    library = training_module("library", "dataset")
    quiet = getattr(args, "quiet", False)
    log = (lambda *a, **k: None) if quiet else print
    try:
        library.build_library(args.src, args.out, captions=args.captions, skeleton_map=args.skeleton_map,
                      fps_out=args.fps_out or library.FPS, check=args.check, overwrite=args.overwrite,
                      mirror=not args.no_mirror, min_seconds=args.min_seconds, seed=args.seed,
                      progress=not quiet, log=log)
    except (library.DatasetError, ValueError, FileNotFoundError, PermissionError) as e:
        raise UserError(one_line(e)) from None
    return 0


__all__ = ["add_parser", "cmd_dataset"]
