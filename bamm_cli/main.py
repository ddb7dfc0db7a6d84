"""The ``bamm`` command: text-to-motion from a terminal, no Blender needed.

Subcommands (``bamm SUBCOMMAND --help`` for details)::

    bamm generate "a person walks forward" --out walk.bvh --out walk.gif
    bamm generate "a person walks forward" "a person waves" --length 4,auto --path path.json --out take.npz
    bamm edit walk.npz --inpaint 1.0-2.5 "a person jumps" --out jump.npz
    bamm edit walk.bvh --extend-after 2 "then sits down" --out longer.bvh
    bamm info [--model DIR]
    bamm preview motion.npy --out motion.gif
    bamm dataset MOCAP_DIR --out DATASET   (a BVH library with captions -> a training set)
    bamm train DATASET --out MODEL_DIR --minutes 30   (fine-tune the bundled model on it)
    bamm download official          (the paper's model; then --model official)

Times on the command line are **seconds**, converted on the model's timebase; the motion
is the engine's HumanML3D 22-joint skeleton (metres, Y-up).  The extension of each
``--out`` picks its format (:data:`bamm_core.formats.motion_file.OUTPUT_FORMATS`); files
are written atomically.

This module is the parser and the dispatch; the subcommands are in :mod:`.commands`.
Errors the user can fix raise :class:`~.errors.UserError`, printed as ONE line on stderr
with exit code 1; anything else is a bug and keeps its traceback.
Exit codes: 0 success, 1 bad input, 2 bad command line, 130 interrupted.
"""
from __future__ import annotations

import argparse
import sys
from typing import Sequence

from bamm_core.formats.motion_file import OUTPUT_FORMATS, PREVIEW_FORMATS
from bamm_core.generation.refinement import STRATEGIES

from .body_preview import add_body_arguments
from .commands import cmd_edit, cmd_generate, cmd_info, cmd_preview
from .dataset import add_parser as add_dataset_parser
from .download import add_parser as add_download_parser
from .errors import UserError
from .train import add_parser as add_train_parser


class _Parser(argparse.ArgumentParser):
    """argparse, but a command-line mistake is one line, not usage + error."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def _parents() -> dict[str, argparse.ArgumentParser]:
    """Option groups shared by several subcommands."""
    common = argparse.ArgumentParser(add_help=False)  # -q works before or after the subcommand
    common.add_argument("-q", "--quiet", action="store_true", default=argparse.SUPPRESS,
                        help="no progress or messages on stderr")
    model = argparse.ArgumentParser(add_help=False)
    model.add_argument("--model", metavar="DIR", default=None,
                       help="model folder (ours or an official BAMM checkpoints/ tree), or official (the paper's "
                            "model, after `bamm download official`); default: the bundled model")
    model.add_argument("--device", default="cpu", help="cpu (default), cuda, cuda:N, mps or auto")
    model.add_argument("--clip-weights", metavar="FILE", default=None,
                       help="OpenAI CLIP ViT-B/32 weights (ViT-B-32.pt) for models that use CLIP text features")
    sampling = argparse.ArgumentParser(add_help=False)  # defaults: the model's (Engine.default_options)
    sampling.add_argument("--seed", type=int, default=None,
                          help="random seed (default: a random one, printed and stored in .npz/.gif/.png)")
    s = sampling.add_argument_group("sampling (defaults: the model's)")
    s.add_argument("--cfg", type=float, default=None, metavar="W",
                   help="classifier-free guidance of the generation (edits: of the new part)")
    s.add_argument("--residual-cfg", type=float, default=None, metavar="W",
                   help="guidance of the residual transformer")
    s.add_argument("--temperature", type=float, default=None, metavar="T", help="sampling temperature (0 = argmax)")
    s.add_argument("--top-k", type=int, default=None, metavar="K", help="sample among the K most likely codes")
    s.add_argument("--prompt-snap", type=float, default=None, metavar="S",
                   help="move the prompt this far (0-1) toward the nearest caption the model was trained on")
    refine = argparse.ArgumentParser(add_help=False)
    r = refine.add_argument_group("refinement (generate; defaults: the model's)")
    r.add_argument("--refine", choices=list(STRATEGIES), default=None,
                   help="; ".join(f"{k}: {v.description}" for k, v in STRATEGIES.items()).replace("%", "%%"))
    r.add_argument("--refine-rounds", type=int, default=None, metavar="N", help="refinement rounds")
    r.add_argument("--refine-cfg", type=float, default=None, metavar="W", help="guidance of the refinement rounds")
    return {"common": common, "model": model, "sampling": sampling, "refine": refine}


def build_parser() -> argparse.ArgumentParser:
    par = _parents()
    fmt = ", ".join(f"{k} ({v})" for k, v in OUTPUT_FORMATS.items())
    p = _Parser(prog="bamm", description="BAMM Motion: text-to-motion from the command line.")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress or messages on stderr")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    g = sub.add_parser("generate", parents=[par["common"], par["model"], par["sampling"], par["refine"]],
                       help="generate a motion from a prompt (or a timeline of prompts)",
                       description="Generate a motion from a text prompt; several prompts (or --timeline) "
                                   "make one continuous motion, one segment per prompt. "
                                   f"Output formats by extension: {fmt}.")
    g.add_argument("prompt", nargs="*", help="what the person does, e.g. \"a person walks forward\"; "
                   "several prompts: one after the other, as one motion")
    g.add_argument("--length", default="auto", metavar="auto|SECONDS[,...]",
                   help="motion length in seconds, or auto (predicted by the model; default); several "
                        "prompts: one value per prompt, comma-separated (e.g. 4,3,auto), or one for all")
    g.add_argument("--timeline", metavar="FILE.json", default=None,
                   help='segments instead of prompts: [{"prompt": "...", "seconds": 4}, ...] (seconds: '
                        'a number, "auto" or left out)')
    g.add_argument("--path", metavar="FILE.json", default=None,
                   help="walk along this path: a list of [x, z] points in metres (Y-up ground plane); "
                        "the output starts at the first point (a motion that barely travels is moved "
                        "at a walking pace)")
    g.add_argument("--fit-path", action="store_true",
                   help="with --path: scale the motion's speed so that it ends at the path's end "
                        "(default: its own speed)")
    g.add_argument("--min-length", type=float, default=None, metavar="SECONDS",
                   help="with --length auto: the shortest length the model may predict (default: the model's, 2 s)")
    g.add_argument("--num-samples", type=int, default=1, metavar="K",
                   help="K variations, written as they are made; outputs are then named FILE_0.ext ... FILE_{K-1}.ext")
    g.add_argument("--batch-size", type=int, default=None, metavar="B",
                   help="samples made at once (bounds the memory; default: the engine's)")
    g.add_argument("--out", action="append", required=True, metavar="FILE", help="output file; repeatable")
    g.set_defaults(func=cmd_generate)

    e = sub.add_parser("edit", parents=[par["common"], par["model"], par["sampling"]],
                       help="inpaint or extend an existing motion",
                       description="Regenerate a time range of a motion (inpainting) or extend it (outpainting). "
                                   "Times are in seconds. Frames outside an inpainted range are kept exactly. "
                                   f"INPUT: .npz/.npy (ours) or .bvh (SMPL-22 or a known skeleton). Outputs: {fmt}.")
    e.add_argument("input", metavar="INPUT")
    how = e.add_mutually_exclusive_group(required=True)
    how.add_argument("--inpaint", metavar="START-END", help="regenerate this range, e.g. 1.5-3")
    how.add_argument("--extend-before", type=float, metavar="S", help="add S seconds before the motion")
    how.add_argument("--extend-after", type=float, metavar="S", help="add S seconds after the motion")
    e.add_argument("prompt", help="what happens in the new part")
    e.add_argument("--skeleton-map", metavar="NAME|JSON", default=None,
                   help="joint map or rig preset for a BVH INPUT whose skeleton is not recognised (e.g. bandai, mixamo)")
    e.add_argument("--out", action="append", required=True, metavar="FILE", help="output file; repeatable")
    e.set_defaults(func=cmd_edit)

    i = sub.add_parser("info", parents=[par["common"], par["model"]],
                       help="show the model, text encoder, sizes and license",
                       description="Show which model would be used, its text encoder, timebase, sizes and license.")
    i.add_argument("--json", action="store_true", help="print JSON")
    i.set_defaults(func=cmd_info)

    v = sub.add_parser("preview", parents=[par["common"]], help="stick-figure GIF/MP4/PNG of a motion file",
                       description="Write a stick-figure preview of a .npy (joints or HumanML3D features), "
                                   ".npz or .bvh motion.")
    v.add_argument("input", metavar="MOTION")
    v.add_argument("--out", action="append", required=True, metavar="FILE",
                   help=f"{' or '.join(PREVIEW_FORMATS)}; repeatable")
    v.add_argument("--skeleton-map", metavar="NAME|JSON", default=None,
                   help="joint map or rig preset for a BVH whose skeleton is not recognised (e.g. bandai, mixamo)")
    v.add_argument("--title", default=None, help="title drawn on the preview (default: the file name)")
    add_body_arguments(v)
    v.set_defaults(func=cmd_preview)

    add_download_parser(sub, [par["common"]])
    add_dataset_parser(sub, [par["common"]])
    add_train_parser(sub, [par["common"]])
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``bamm`` console command; returns the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # --help (0) or a command-line mistake (2)
        return int(e.code or 0)
    from bamm_core.generation.progress import GenerationCancelled

    try:
        return int(args.func(args) or 0)
    except UserError as e:
        print(f"bamm {args.command}: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"bamm {args.command}: interrupted; no output written for the unfinished step", file=sys.stderr)
        return 130
    except GenerationCancelled as e:
        print(f"bamm {args.command}: cancelled ({e})", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
