"""``bamm generate`` with a prompt timeline or a path to walk along.

    bamm generate "a person walks forward" "a person waves both hands" "a person bows" \\
        --length 4,3,auto --out take.npz
    bamm generate --timeline shot.json --path path.json --out take.bvh

Several prompts (or ``--timeline FILE.json``: ``[{"prompt": ..., "seconds": ...}, ...]``,
``seconds`` a number, ``"auto"`` or left out) make ONE continuous motion
(:meth:`~bamm_core.generation.engine.Engine.compose`); ``--length`` then gives each prompt
its seconds, comma-separated, or one value for all.  ``--path FILE.json`` (a list of [x, z]
points in metres on the Y-up ground plane) bends the motion onto that path
(:func:`bamm_core.motion.path.follow_path`): the output joints are in the path's
coordinates, the root starting at its first point.  Every input is checked before the model
loads; the segment limits come from the model's timebase.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from bamm_core.generation.compose import Segment
from bamm_core.motion.clip import Motion
from bamm_core.motion.timebase import Timebase

from .arguments import check_prompt, parse_min_length, sampling_options, seconds_to_frames
from .commands import _outputs, _say_seed, _seed, _write
from .errors import UserError, user_errors
from .model import load_engine
from .progress import Progress
from .understanding import report_prompts

AUTO = ("auto", "predicted", "")


def _segment_frames(tb: Timebase, value, what: str) -> int | None:
    """A segment's seconds (a number, or auto/None) -> frames within the segment limits."""
    if value is None or (isinstance(value, str) and value.strip().lower() in AUTO):
        return None
    try:
        if isinstance(value, bool):
            raise ValueError
        seconds = float(value)
    except (TypeError, ValueError):
        raise UserError(f"{what} must be 'auto' or a number of seconds, got {value!r}") from None
    return seconds_to_frames(tb, seconds, what, lo=tb.min_frames, hi=tb.max_extend_frames)


def parse_lengths(tb: Timebase, text: str, count: int) -> list[int | None]:
    """``--length 4,3,auto`` -> frames per prompt (None = predicted); one value is for all."""
    values = [v.strip() for v in str(text).split(",")]
    if len(values) == 1:
        values = values * count
    if len(values) != count:
        raise UserError(f"--length has {len(values)} values for {count} prompts: give one per "
                        "prompt (e.g. 4,3,auto) or one for all")
    return [_segment_frames(tb, v, f"--length of prompt {i}" if count > 1 else "--length")
            for i, v in enumerate(values, 1)]


def _read_json(path: str, flag: str):
    p = Path(path)
    if not p.is_file():
        raise UserError(f"{flag} file {path!r} not found")
    try:
        return json.loads(p.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise UserError(f"{flag} {path}: not valid JSON ({e.msg} at line {e.lineno} column "
                        f"{e.colno})") from None
    except (OSError, UnicodeDecodeError) as e:
        raise UserError(f"{flag} {path}: cannot read it ({e})") from None


def read_timeline(path: str, tb: Timebase) -> list[Segment]:
    """``--timeline FILE.json`` -> segments (prompts checked, seconds -> frames)."""
    data = _read_json(path, "--timeline")
    shape = 'a list like [{"prompt": "a person walks forward", "seconds": 4}, ...]'
    if not isinstance(data, list) or not data:
        raise UserError(f"--timeline {path}: expected {shape}")
    segments = []
    for i, item in enumerate(data, 1):
        where = f"--timeline {path}: segment {i}"
        if not isinstance(item, dict) or "prompt" not in item:
            raise UserError(f"{where}: expected an object with a \"prompt\" (and \"seconds\"), "
                            f"got {json.dumps(item)[:60]}")
        unknown = sorted(set(item) - {"prompt", "seconds"})
        if unknown:
            raise UserError(f"{where}: unknown field(s) {', '.join(unknown)} (fields: prompt, seconds)")
        if not isinstance(item["prompt"], str):
            raise UserError(f"{where}: the prompt must be text, got {item['prompt']!r}")
        try:
            prompt = check_prompt(item["prompt"])
        except UserError as e:
            raise UserError(f"{where}: {e}") from None
        segments.append(Segment(prompt, _segment_frames(tb, item.get("seconds"), f"{where}: seconds")))
    return segments


def read_path(path: str) -> np.ndarray:
    """``--path FILE.json`` -> (N, 2) [x, z] points (checked: >= 2 points, some length)."""
    from bamm_core.motion.path import check_path

    data = _read_json(path, "--path")
    try:
        return check_path(data)
    except ValueError as e:
        raise UserError(f"--path {path}: {e}") from None


def path_points(args: argparse.Namespace) -> np.ndarray | None:
    """``--path`` points (None without it); ``--fit-path`` needs a path."""
    if args.path is None:
        if args.fit_path:
            raise UserError("--fit-path needs --path FILE.json")
        return None
    return read_path(args.path)


def timeline_segments(args: argparse.Namespace, tb: Timebase) -> list[Segment] | None:
    """The segments of a timeline command (several prompts or ``--timeline``), None for a
    single prompt (a plain generate)."""
    prompts = list(args.prompt or [])
    if args.timeline is not None:
        if prompts:
            raise UserError("give prompts or --timeline FILE, not both")
        if args.length != "auto":
            raise UserError("--length does not apply to --timeline: the file gives each "
                            "segment's seconds")
        return read_timeline(args.timeline, tb)
    if not prompts:
        raise UserError('give a prompt (e.g. "a person walks forward"), several prompts, or '
                        "--timeline FILE")
    if len(prompts) == 1:
        return None
    checked = []
    for i, p in enumerate(prompts, 1):
        try:
            checked.append(check_prompt(p))
        except UserError as e:
            raise UserError(f"prompt {i}: {e}") from None
    return [Segment(p, f) for p, f in zip(checked, parse_lengths(tb, args.length, len(prompts)))]


def on_path(motion: Motion, points: np.ndarray, fit_end: bool = False) -> Motion:
    """The motion walked along ``points`` (its features and tokens described the motion
    before the path, so they are dropped; prompt, seed and segments are kept)."""
    from bamm_core.motion.path import follow_path

    joints = follow_path(motion.joints, points, motion.fps, fit_end=fit_end,
                         contacts=motion.contacts)  # the engine's, when it has them
    return Motion(joints, None, None, motion.text, motion.fps, None,
                  dict(motion.info, path=points.tolist()))


def generate_timeline(args: argparse.Namespace, tb: Timebase, segments: list[Segment],
                      path: np.ndarray | None) -> int:
    """Compose the segments into one motion (on ``path`` if given) and write the outputs."""
    from bamm_core.generation.options import SamplingOptions

    if args.num_samples != 1 or args.batch_size is not None:
        raise UserError("--num-samples and --batch-size work with one prompt: a timeline makes "
                        "one motion (run again with another --seed for another take)")
    min_length = parse_min_length(tb, args.min_length) if args.min_length is not None else None
    outs = _outputs(args.out)
    sampling_options(SamplingOptions(), args, min_length)  # the user's values, checked before loading
    seed = _seed(args)
    eng = load_engine(args.model, args.device, args.quiet, args.clip_weights)
    with user_errors():
        report_prompts(eng, [s.prompt for s in segments], args.quiet)
    options = sampling_options(eng.default_options, args, min_length)
    with Progress("composing", args.quiet) as progress, user_errors():
        motion = eng.compose(segments, seed, options=options, progress=progress)
    if path is not None:
        motion = on_path(motion, path, args.fit_path)
    _say_seed(args, seed)
    for out in outs:
        _write(motion, out, args.quiet)
    return 0


__all__ = ["parse_lengths", "read_timeline", "read_path", "path_points", "timeline_segments", "on_path",
           "generate_timeline"]
