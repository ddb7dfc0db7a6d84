"""Batch-bake text prompts onto armatures in a .blend, from Blender's command line.

    blender -b scene.blend --python scripts/bake.py -- --jobs jobs.json [--out baked.blend]
    python scripts/bake.py --blend scene.blend --jobs jobs.json [--out baked.blend]   # bpy from PyPI

Without ``--out`` the input .blend is saved in place.  ``--model DIR`` picks the model folder
(default: the add-on's preference, i.e. the bundled model); ``--device`` likewise.  The jobs
file format is described in ``scripts/bake_jobs.py`` (JSON list or CSV: prompt, armature,
seconds, seed, start_frame, action, refine, inpaint, export).

The jobs file and the command line are validated first (exit code 2 and nothing touched on
any mistake, every mistake named by job number and field).  Then every job runs, in order,
through the BAMM add-on's operators with one engine for the whole batch
(``scripts/bake_runner.py``).  A failing job is reported and the others still run.  Every
output (the .blend, each .fbx/.bvh) is written to a temporary file in the same folder and
renamed, so an interrupted run never leaves a corrupt file.  A summary lists every job's
result; the exit code is 1 if any job failed, 0 otherwise.

This file imports ``bpy`` only when it runs jobs, so ``--validate-only`` works without Blender.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Sequence

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:  # the bake_* modules next to this file
    sys.path.insert(0, str(HERE))

from bake_jobs import JobsFileError, load_jobs, model_timebase  # noqa: E402
from bamm_core.model.downloads import resolve_model  # noqa: E402


def print_summary(results, out=None) -> None:
    out = out or sys.stdout
    n_ok = sum(r.ok for r in results)
    print(f"bake summary: {n_ok}/{len(results)} jobs done, {len(results) - n_ok} failed", file=out)
    for r in results:
        status = "ok    " if r.ok else "FAILED"
        print(f"  {status} {r.job.label}: {r.message} [{r.seconds:.1f} s]", file=out)


def _argv(argv: Sequence[str] | None) -> list[str]:
    if argv is not None:
        return list(argv)
    if "--" in sys.argv:  # blender -b scene.blend --python bake.py -- ARGS
        return sys.argv[sys.argv.index("--") + 1 :]
    return sys.argv[1:]


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="bake.py", description="Batch-bake BAMM prompts into a .blend.")
    p.add_argument("--jobs", required=True, help="jobs file (.json list or .csv)")
    p.add_argument("--blend", help="the .blend to open (needed when bpy is the PyPI module; "
                                   "in `blender -b scene.blend` the open file is used)")
    p.add_argument("--out", help="save the result here (default: save the input .blend in place)")
    p.add_argument("--model", default=None, help="model folder (default: the add-on's setting / bundled model)")
    p.add_argument("--device", default=None, help="cpu, cuda, mps or auto (default: the add-on's setting)")
    p.add_argument("--clip-weights", default=None, help="CLIP ViT-B/32 weights file, for models using CLIP text features")
    p.add_argument("--validate-only", action="store_true", help="check the jobs file and the inputs, and exit")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar (there is none outside a terminal)")
    return p.parse_args(_argv(argv))


def input_errors(args: argparse.Namespace) -> list[str]:
    """Mistakes in the command line's files and folders (checked before anything runs)."""
    errors = []
    try:
        model = resolve_model(args.model)  # "official": the paper's model in the cache
    except ValueError as e:
        errors.append(str(e))
    else:
        if model is not None and not Path(model).exists():
            errors.append(f"model folder {args.model!r} not found")
    if args.clip_weights is not None and not Path(args.clip_weights).is_file():
        errors.append(f"CLIP weights file {args.clip_weights!r} not found")
    if args.blend and not Path(args.blend).is_file():
        errors.append(f".blend file {args.blend!r} not found")
    if args.out and not Path(args.out).resolve().parent.is_dir():
        errors.append(f"output folder {str(Path(args.out).resolve().parent)!r} does not exist")
    return errors


def _fail(errors: list[str], job_errors: Sequence[str] = ()) -> int:
    for line in errors:
        print(f"bake: error: {line}", file=sys.stderr)
    for line in job_errors:
        print(f"bake: jobs file error: {line}", file=sys.stderr)
    print("bake: nothing was run or changed", file=sys.stderr)
    return 2


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    errors = input_errors(args)
    timebase = None
    if not errors:  # the model's own limits (the bundled model's when --model is not given)
        try:
            timebase = model_timebase(resolve_model(args.model))
        except ValueError as e:
            errors.append(str(e))
    try:
        jobs = load_jobs(args.jobs, **({"timebase": timebase} if timebase is not None else {}))
    except JobsFileError as e:
        return _fail(errors, e.errors)
    if errors:
        return _fail(errors)
    if args.validate_only:
        print(f"bake: {args.jobs}: {len(jobs)} jobs, all valid")
        return 0
    return run(args, jobs)


def run(args: argparse.Namespace, jobs) -> int:
    """Open the .blend, enable the add-on, load the engine, run the jobs, save."""
    import bpy

    import bake_runner as runner
    from bake_export import save_blend

    if args.blend:
        bpy.ops.wm.open_mainfile(filepath=str(Path(args.blend).resolve()), load_ui=False)
    elif not bpy.data.filepath and not args.out:
        return _fail(["no .blend is open: pass --blend FILE (or --out FILE to save a new one)"])
    target = Path(args.out).resolve() if args.out else Path(bpy.data.filepath)
    try:
        runner.enable_addon(args.model, args.device, args.clip_weights)
    except Exception as e:  # noqa: BLE001 - the batch cannot run at all
        return _fail([str(e)])
    try:
        engine, load_s = runner.preload_engine()
    except Exception as e:  # noqa: BLE001 - no model, bad model folder, missing dependencies
        msg = str(e).strip().replace("\n", " ")
        return _fail([f"cannot load the model: {type(e).__name__}: {msg}"])
    errors = runner.check_jobs_for(engine, jobs)
    if errors:
        return _fail([], errors)
    if not args.quiet:
        print(f"bake: engine loaded in {load_s:.1f} s", file=sys.stderr)

    t0 = time.perf_counter()
    try:
        results = runner.run_batch(jobs, quiet=args.quiet)
    except runner.BatchInterrupted as e:
        print_summary(e.results)
        print(f"bake: {e}; nothing saved, {target} unchanged (exports of finished jobs are complete)")
        return 130
    elapsed = time.perf_counter() - t0
    if any(r.ok for r in results):
        save_blend(target)
        saved = f"saved {target}"
    else:
        saved = f"nothing to save; {target} unchanged"
    print_summary(results)
    print(f"bake: {saved}; {len(results)} jobs in {elapsed:.1f} s (+ {load_s:.1f} s engine load) "
          f"({60 * len(results) / max(elapsed, 1e-9):.1f} jobs/min)")
    return 0 if all(r.ok for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())  # also ends `blender -b ... --python bake.py` with this exit code
