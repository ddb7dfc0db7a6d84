"""The ``bamm`` subcommands: each checks its inputs (before loading the model), calls the
engine once and writes the outputs with :mod:`bamm_core.formats.motion_file`.

Many samples are streamed: ``Engine.generate_iter`` makes them in bounded batches and each
one is written as it comes, so ``--num-samples 100000`` needs no more memory than one batch.
"""
from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

from bamm_core.formats.motion_file import PREVIEW_FORMATS, check_output, numbered, write_motion
from bamm_core.motion.clip import Motion
from bamm_core.generation.options import SamplingOptions
from bamm_core.motion.timebase import HUMANML3D

from .arguments import (check_prompt, parse_extend, parse_length, parse_min_length, range_frames,
                        sampling_options)
from .errors import UserError, user_errors
from .inputs import read_input
from .model import load_engine, model_timebase
from .progress import Progress, say, slow_note
from .understanding import known_motions, report_prompts

SEED_RANGE = 2**31


def _outputs(paths: list[str]) -> list[Path]:
    with user_errors():
        return [check_output(o) for o in paths]


def _seed(args: argparse.Namespace) -> int:
    """The user's ``--seed``, or a random one (see :func:`_say_seed`)."""
    return args.seed if args.seed is not None else random.randrange(SEED_RANGE)


def _say_seed(args: argparse.Namespace, seed: int) -> None:
    """Print a random seed once the motion is made, so that the take can be made again
    (BVH and MP4 files have no room for it)."""
    if args.seed is None:
        say(args.quiet, f"seed: {seed} (pass --seed {seed} to make the same motion again)")


def _write(rec: Motion, path: Path, quiet: bool, announce: bool = True) -> None:
    with user_errors(), slow_note(quiet or path.suffix.lower() not in PREVIEW_FORMATS,
                                  f"drawing {path.name} ({rec.num_frames} frames)..."):
        write_motion(rec, path)
    if announce:
        say(quiet, f"wrote {path} ({rec.num_frames} frames, {rec.seconds:.2f} s)")


def cmd_generate(args: argparse.Namespace) -> int:
    from .timeline import generate_timeline, on_path, path_points, timeline_segments

    tb = model_timebase(args.model)
    segments = timeline_segments(args, tb)  # several prompts or --timeline: one composed motion
    path = path_points(args)
    if segments is not None:
        return generate_timeline(args, tb, segments, path)
    prompt = check_prompt(args.prompt[0])
    length = parse_length(tb, args.length)
    min_length = parse_min_length(tb, args.min_length) if args.min_length is not None else None
    n = args.num_samples
    if n < 1:
        raise UserError(f"--num-samples must be at least 1, got {n}")
    outs = _outputs(args.out)
    sampling_options(SamplingOptions(), args, min_length)  # the user's values, checked before loading
    seed = _seed(args)
    eng = load_engine(args.model, args.device, args.quiet, args.clip_weights)
    with user_errors():
        report_prompts(eng, [prompt], args.quiet)
    options = sampling_options(eng.default_options, args, min_length)
    batch = {} if args.batch_size is None else {"batch_size": args.batch_size}
    with Progress("generating", args.quiet) as progress:
        with user_errors():
            motions = eng.generate_iter(prompt, length, seed, num_samples=n, options=options,
                                        progress=progress, **batch)
        for i, motion in enumerate(motions):
            if i == 0:
                _say_seed(args, seed)
            if path is not None:
                motion = on_path(motion, path, args.fit_path)
            for out in outs:
                _write(motion, numbered(out, i, n), args.quiet, announce=n == 1)
    if n > 1:
        names = ", ".join(f"{numbered(o, 0, n).name} .. {numbered(o, n - 1, n).name}" for o in outs)
        say(args.quiet, f"wrote {n} samples: {names}")
    return 0


def cmd_edit(args: argparse.Namespace) -> int:
    prompt = check_prompt(args.prompt)
    outs = _outputs(args.out)
    tb = model_timebase(args.model)
    joints = read_input(args.input, tb.fps, args.skeleton_map)
    if args.inpaint is not None:
        start, end = range_frames(tb, args.inpaint, joints.shape[0])
    elif args.extend_before is not None:
        extend = {"extend_before": parse_extend(tb, args.extend_before, "--extend-before")}
    else:
        extend = {"extend_after": parse_extend(tb, args.extend_after, "--extend-after")}
    sampling_options(SamplingOptions(), args)  # the user's values, checked before loading
    seed = _seed(args)
    eng = load_engine(args.model, args.device, args.quiet, args.clip_weights)
    options = sampling_options(eng.default_options, args)
    with Progress("editing", args.quiet) as progress, user_errors():
        motion = eng.motion_from_joints(joints)
        if args.inpaint is not None:
            edited = eng.inpaint(motion, start=start, end=end, text=prompt, seed=seed,
                                 options=options, progress=progress)
        else:
            edited = eng.outpaint(motion, text=prompt, seed=seed, options=options,
                                  progress=progress, **extend)
    _say_seed(args, seed)
    for out in outs:
        _write(edited, out, args.quiet)
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    eng = load_engine(args.model, args.device, True, args.clip_weights)
    from bamm_core.model.checkpoints import DEFAULT_MODEL_DIR

    info = {"path": str(Path(args.model).resolve() if args.model else DEFAULT_MODEL_DIR), **eng.info(),
            **known_motions(eng)}
    print(json.dumps(info, indent=2, default=str) if args.json else format_info(info))
    return 0


def format_info(info: dict, indent: str = "") -> str:
    """``key  value`` lines; nested dicts indented below their key."""
    width = max((len(str(k)) for k in info), default=0)
    lines = []
    for key, value in info.items():
        if isinstance(value, dict) and value:
            lines.append(f"{indent}{key}")
            lines.append(format_info(value, indent + "  "))
        else:
            if isinstance(value, int) and not isinstance(value, bool) and value >= 10_000:
                value = f"{value:,}"
            lines.append(f"{indent}{str(key):<{width}}  {value}")
    return "\n".join(lines)


def cmd_preview(args: argparse.Namespace) -> int:
    outs = _outputs(args.out)
    if getattr(args, "body", None):
        from .body_preview import write_body_previews

        joints = read_input(args.input, HUMANML3D.fps, args.skeleton_map)
        write_body_previews(joints, outs, args, args.title if args.title is not None else Path(args.input).stem)
        return 0
    for o in outs:
        if o.suffix.lower() not in PREVIEW_FORMATS:
            raise UserError(f"preview writes {' or '.join(PREVIEW_FORMATS)}, not {o.suffix!r} ({str(o)!r})")
    joints = read_input(args.input, HUMANML3D.fps, args.skeleton_map)  # no model: the data's rate
    title = args.title if args.title is not None else Path(args.input).stem
    for out in outs:
        _write(Motion(joints, None, None, title, HUMANML3D.fps), out, args.quiet)
    return 0


__all__ = ["cmd_generate", "cmd_edit", "cmd_info", "cmd_preview", "format_info"]
