"""Batch-bake text prompts onto armatures in a .blend, from Blender's command line.

    blender -b scene.blend --python scripts/bake.py -- --jobs jobs.json [--out baked.blend]
    python scripts/bake.py --blend scene.blend --jobs jobs.json [--out baked.blend]   # bpy from PyPI

Without ``--out`` the input .blend is saved in place.  ``--model DIR`` picks the model folder
(default: the add-on's preference, i.e. the bundled model); ``--device`` likewise.

A jobs file is a JSON list (or a CSV file with the same column names) of jobs:

    prompt       (required) the text
    armature     armature object name; "SMPL-22" creates a new SMPL-22 armature for the job;
                 omitted: the scene's only armature
    seconds      length in seconds; omitted (or "auto") = predicted by the model
    seed         integer seed
    start_frame  first frame of the new action (default: the scene's start frame)
    action       name of the new action; for an inpaint job, the existing action to edit
                 (default: the armature's current action)
    inpaint      list of [start_frame, end_frame] ranges (Blender frames, inclusive) to
                 regenerate inside an existing action instead of generating a new one
    export       .fbx (Blender's FBX exporter, only that armature) or .bvh path; relative
                 paths are relative to the jobs file's folder

In CSV, leave a cell empty to omit it; write ``inpaint`` as ``10-30;50-60`` (or as JSON).

The whole jobs file is validated first (exit code 2 and nothing touched on any mistake,
every mistake named by job number and field).  Then every job runs, in order, through the
BAMM add-on's operators (``bpy.ops.bamm.generate / inpaint / create_armature``) with one engine
for the whole batch.  A failing job is reported and the others still run.  Every output (the
.blend, each .fbx/.bvh) is written to a temporary file in the same folder and renamed, so an
interrupted run never leaves a corrupt file.  A summary lists every job's result; the exit code
is 1 if any job failed, 0 otherwise.

This file imports ``bpy`` only when it runs jobs, so the jobs-file parser can be used (and
tested) without Blender.
"""
from __future__ import annotations

import argparse
import contextlib
import csv
import json
import math
import os
import signal
import sys
import tempfile
import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Sequence

REPO = Path(__file__).resolve().parents[1]
SMPL22 = "SMPL-22"
FIELDS = ("prompt", "armature", "seconds", "seed", "start_frame", "action", "inpaint", "export")
EXPORT_FORMATS = (".fbx", ".bvh")


# =========================================================================== jobs file


class JobsFileError(Exception):
    """The jobs file is unreadable or has mistakes; ``errors`` lists each one."""

    def __init__(self, errors: list[str]):
        super().__init__("\n".join(errors))
        self.errors = errors


@dataclass
class Job:
    """One validated job.  Frames are Blender scene frames; ``export`` is an absolute path."""

    index: int
    prompt: str
    armature: str | None = None
    seconds: float | None = None
    seed: int | None = None
    start_frame: int | None = None
    action: str | None = None
    inpaint: list[tuple[int, int]] = field(default_factory=list)
    export: Path | None = None

    @property
    def label(self) -> str:
        p = self.prompt if len(self.prompt) <= 40 else self.prompt[:37] + "..."
        return f"job {self.index} ({p!r})"


def load_jobs(path: str | os.PathLike) -> list[Job]:
    """Read and validate a .json or .csv jobs file; raise :class:`JobsFileError` listing
    every mistake (``job N: field 'x': ...``)."""
    path = Path(path)
    if not path.is_file():
        raise JobsFileError([f"jobs file {str(path)!r} not found"])
    ext = path.suffix.lower()
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        raise JobsFileError([f"cannot read jobs file {str(path)!r}: {e}"]) from None
    if ext == ".json":
        try:
            raw = json.loads(text)
        except json.JSONDecodeError as e:
            raise JobsFileError([f"{path.name}: not valid JSON: {e}"]) from None
        if isinstance(raw, dict) and isinstance(raw.get("jobs"), list):
            raw = raw["jobs"]
        if not isinstance(raw, list):
            raise JobsFileError([f"{path.name}: expected a JSON list of jobs, got {type(raw).__name__}"])
    elif ext == ".csv":
        raw = _rows_from_csv(text, path.name)
    else:
        raise JobsFileError([f"jobs file must be .json or .csv, got {ext or '(no extension)'!r}"])
    return validate_jobs(raw, base_dir=path.parent)


def _rows_from_csv(text: str, name: str) -> list[dict[str, Any]]:
    """CSV rows -> job dicts with typed values; empty cells are omitted."""
    reader = csv.DictReader(text.splitlines())
    if not reader.fieldnames:
        raise JobsFileError([f"{name}: empty CSV (the first row must name the columns)"])
    rows: list[dict[str, Any]] = []
    for row in reader:
        job: dict[str, Any] = {}
        for key, value in row.items():
            if key is None:  # more cells than columns
                job["__extra__"] = value
                continue
            key = key.strip()
            value = (value or "").strip()
            if value == "":
                continue
            if key == "seconds" and value.lower() != "auto":
                job[key] = _number(value)
            elif key in ("seed", "start_frame"):
                job[key] = _number(value)
            elif key == "inpaint":
                job[key] = _csv_ranges(value)
            else:
                job[key] = value
        if job:  # skip blank lines
            rows.append(job)
    return rows


def _number(text: str) -> Any:
    try:
        f = float(text)
    except ValueError:
        return text  # validation names the field and the bad value
    return int(f) if f.is_integer() and "." not in text and "e" not in text.lower() else f


def _csv_ranges(text: str) -> Any:
    if text.startswith("["):
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            return text
    out = []
    for part in text.replace(",", ";").split(";"):
        bits = part.strip().split("-")
        if len(bits) != 2:
            return text
        out.append([_number(bits[0].strip()), _number(bits[1].strip())])
    return out


def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool) or (isinstance(x, float) and x.is_integer())


def validate_jobs(raw: list[Any], base_dir: str | os.PathLike = ".") -> list[Job]:
    """Turn a list of job dicts into :class:`Job` objects, or raise :class:`JobsFileError`
    with one message per mistake.  Jobs are numbered from 0, as in the summary."""
    base_dir = Path(base_dir)
    errors: list[str] = []
    jobs: list[Job] = []
    if not raw:
        raise JobsFileError(["the jobs file has no jobs"])
    for i, item in enumerate(raw):
        def bad(field_name: str, msg: str) -> None:
            errors.append(f"job {i}: field '{field_name}': {msg}")

        if not isinstance(item, dict):
            errors.append(f"job {i}: expected an object with a 'prompt', got {type(item).__name__}")
            continue
        if "__extra__" in item:
            errors.append(f"job {i}: more cells than columns in this CSV row")
        for key in item:
            if key not in FIELDS and key != "__extra__":
                errors.append(f"job {i}: unknown field {key!r} (known: {', '.join(FIELDS)})")
        job = Job(index=i, prompt="")

        prompt = item.get("prompt")
        if not isinstance(prompt, str) or not prompt.strip():
            bad("prompt", "required, a non-empty text")
        else:
            job.prompt = prompt.strip()

        for name in ("armature", "action"):
            v = item.get(name)
            if v is None:
                continue
            if not isinstance(v, str) or not v.strip():
                bad(name, f"must be a non-empty name, got {v!r}")
            else:
                setattr(job, name, v.strip())

        seconds = item.get("seconds")
        if seconds is not None and not (isinstance(seconds, str) and seconds.strip().lower() == "auto"):
            if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not math.isfinite(seconds) or seconds <= 0:
                bad("seconds", f"must be a positive number of seconds or omitted (= predicted), got {seconds!r}")
            else:
                job.seconds = float(seconds)

        for name in ("seed", "start_frame"):
            v = item.get(name)
            if v is None:
                continue
            if not _is_int(v):
                bad(name, f"must be an integer, got {v!r}")
            elif int(v) < 0:
                bad(name, f"must be >= 0, got {v!r}")
            else:
                setattr(job, name, int(v))

        inpaint = item.get("inpaint")
        if inpaint is not None:
            if not isinstance(inpaint, list) or not inpaint:
                bad("inpaint", f"must be a non-empty list of [start_frame, end_frame], got {inpaint!r}")
            else:
                for r in inpaint:
                    if (not isinstance(r, (list, tuple)) or len(r) != 2 or not all(_is_int(x) for x in r)):
                        bad("inpaint", f"each range must be [start_frame, end_frame] (integers), got {r!r}")
                    elif int(r[0]) < 0:
                        bad("inpaint", f"range {list(r)}: frames must be >= 0")
                    elif int(r[1]) <= int(r[0]):
                        bad("inpaint", f"range {list(r)}: end_frame must be after start_frame")
                    else:
                        job.inpaint.append((int(r[0]), int(r[1])))
            if job.seconds is not None:
                bad("seconds", "does not apply to an inpaint job (the range sets the length)")
            if job.armature == SMPL22:
                bad("armature", f"an inpaint job needs an existing animated armature, not a new {SMPL22}")

        export = item.get("export")
        if export is not None:
            if not isinstance(export, str) or not export.strip():
                bad("export", f"must be a .fbx or .bvh path, got {export!r}")
            else:
                p = Path(os.path.expanduser(export.strip()))
                p = p if p.is_absolute() else (base_dir / p)
                if p.suffix.lower() not in EXPORT_FORMATS:
                    bad("export", f"{export!r}: only .fbx and .bvh exports are supported")
                elif not p.parent.is_dir():
                    bad("export", f"{export!r}: folder {str(p.parent)!r} does not exist")
                else:
                    job.export = p.resolve()
        jobs.append(job)

    exports = [j.export for j in jobs if j.export is not None]
    for p in {p for p in exports if exports.count(p) > 1}:
        idx = [j.index for j in jobs if j.export == p]
        errors.append(f"jobs {idx}: field 'export': several jobs write {str(p)!r}")
    if errors:
        raise JobsFileError(errors)
    return jobs


# =========================================================================== atomic writes


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[str]:
    """A temporary path next to ``path`` (same extension), renamed onto it on success and
    removed on failure or interruption."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}")
    os.close(fd)
    os.unlink(tmp)  # exporters create the file themselves
    try:
        yield tmp
        if not os.path.exists(tmp):
            raise RuntimeError(f"nothing was written to {path}")
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


# =========================================================================== Blender side


class JobFailed(Exception):
    """One job could not be done; the batch goes on."""


def _bpy():
    import bpy  # noqa: PLC0415  (only needed to run jobs)

    return bpy


def enable_addon(model: str | None, device: str | None, clip_weights: str | None = None) -> None:
    """Register the BAMM add-on from this checkout and point its preferences at ``model``."""
    bpy = _bpy()
    import addon_utils

    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    if not _op_exists("generate"):  # not already enabled (e.g. as an installed extension)
        mod = addon_utils.enable("blender_addon", default_set=True, handle_error=None)
        if mod is None or not _op_exists("generate"):
            raise RuntimeError(
                "the BAMM add-on (blender_addon/) could not be enabled from "
                f"{REPO}: bpy.ops.bamm.generate is missing"
            )
    prefs = _addon_prefs()
    if prefs is not None:
        _set_first(prefs, ("model_folder",), str(Path(model).resolve()) if model else None)
        _set_first(prefs, ("device",), device)
        _set_first(prefs, ("clip_weights",), str(Path(clip_weights).resolve()) if clip_weights else None)
    elif model is not None:
        raise RuntimeError("the add-on has no preferences to take --model")


def _op_exists(name: str) -> bool:
    bpy = _bpy()
    try:
        getattr(bpy.ops.bamm, name).get_rna_type()
        return True
    except (AttributeError, KeyError):
        return False


def _addon_package() -> str:
    """The add-on's package name: ``blender_addon`` from a checkout, ``bl_ext.<repo>.<id>`` when
    the installed extension is the one registered."""
    cls = getattr(_bpy().types, "BAMM_OT_generate", None)
    return cls.__module__.rpartition(".")[0] if cls is not None else "blender_addon"


def _addon_prefs():
    addon = _bpy().context.preferences.addons.get(_addon_package())
    return addon.preferences if addon is not None else None


def preload_engine() -> float | None:
    """Load the engine and its text encoder once, up front, into the add-on's engine cache (the
    operators then reuse it for every job).  Returns the load time in seconds, or None when the add-on offers no
    cache to fill.  A model that cannot load raises here, before any job runs."""
    import importlib

    bpy = _bpy()
    try:
        jobs_mod = importlib.import_module(_addon_package() + ".jobs")
    except ImportError:
        return None
    load = getattr(jobs_mod, "load_engine", None)
    prefs = _addon_prefs()
    if load is None or prefs is None:
        return None
    folder = bpy.path.abspath(prefs.model_folder) if getattr(prefs, "model_folder", "") else ""
    clip = bpy.path.abspath(prefs.clip_weights) if getattr(prefs, "clip_weights", "") else ""
    t0 = time.perf_counter()
    engine = load(folder, getattr(prefs, "device", "AUTO"), clip)
    if hasattr(engine, "encode_text"):  # the text encoder loads lazily: load it now, once
        engine.encode_text(["a person walks forward"])
    return time.perf_counter() - t0


def _set_first(target: Any, names: Sequence[str], value: Any, required: bool = True) -> str | None:
    if value is None:
        return None
    for n in names:
        if hasattr(target, n):
            prop = target.bl_rna.properties.get(n)
            if prop is not None and prop.type == "ENUM":
                ids = [it.identifier for it in prop.enum_items]
                match = [x for x in ids if x.lower() == str(value).lower()]
                if not match:
                    raise JobFailed(f"{n} must be one of {ids}, got {value!r}")
                value = match[0]
            setattr(target, n, value)
            return n
    if required:
        raise JobFailed(f"add-on setting missing: none of {list(names)}")
    return None


def _run_op(opname: str, **kwargs: Any) -> None:
    """Call ``bpy.ops.bamm.<opname>`` and turn its reported errors into :class:`JobFailed`."""
    bpy = _bpy()
    op = getattr(bpy.ops.bamm, opname)
    try:
        result = op(**kwargs)
    except RuntimeError as e:  # operator reported an error
        msg = str(e).strip().replace("\n", " ")
        if "KeyboardInterrupt" in msg:  # Ctrl-C inside the operator, reported as its error
            raise KeyboardInterrupt from None
        raise JobFailed(msg.removeprefix("Error: ")) from None
    if "FINISHED" not in result:
        raise JobFailed(f"bpy.ops.bamm.{opname} returned {sorted(result)}")


def _activate(obj) -> None:
    bpy = _bpy()
    if bpy.context.object is not None and bpy.context.object.mode != "OBJECT":
        bpy.ops.object.mode_set(mode="OBJECT")
    for o in bpy.context.view_layer.objects:
        o.select_set(False)
    obj.hide_set(False)
    obj.select_set(True)
    bpy.context.view_layer.objects.active = obj


def _armatures():
    bpy = _bpy()
    return [o for o in bpy.context.scene.objects if o.type == "ARMATURE"]


def _resolve_armature(job: Job, created: list):
    bpy = _bpy()
    if job.armature == SMPL22:
        before = set(bpy.data.objects)
        _run_op("create_armature")
        new = [o for o in bpy.data.objects if o not in before and o.type == "ARMATURE"]
        if not new:
            raise JobFailed("create_armature made no armature")
        created.extend(o for o in bpy.data.objects if o not in before)
        return new[0]
    if job.armature is None:
        arms = _armatures()
        if len(arms) != 1:
            names = ", ".join(o.name for o in arms) or "none"
            raise JobFailed(f"no 'armature' given and the scene has {len(arms)} armatures ({names}); name one")
        return arms[0]
    obj = bpy.data.objects.get(job.armature)
    if obj is None:
        names = ", ".join(o.name for o in _armatures()) or "none"
        raise JobFailed(f"armature {job.armature!r} not found (armatures: {names})")
    if obj.type != "ARMATURE":
        raise JobFailed(f"object {job.armature!r} is a {obj.type.lower()}, not an armature")
    if bpy.context.scene.objects.get(obj.name) is None:
        raise JobFailed(f"armature {job.armature!r} is not in the scene {bpy.context.scene.name!r}")
    return obj


def _current_action(obj):
    ad = obj.animation_data
    return ad.action if ad is not None else None


def run_job(job: Job) -> str:
    """Do one job; return a one-line description of what was made.  Raises JobFailed."""
    bpy = _bpy()
    scene = bpy.context.scene
    created: list = []
    try:
        arm = _resolve_armature(job, created)
        _activate(arm)
        if job.inpaint:
            action = _do_inpaint(job, arm, scene)
            what = f"inpainted {len(job.inpaint)} range(s) of action {action.name!r} on {arm.name!r}"
        else:
            action = _do_generate(job, arm, scene)
            what = f"action {action.name!r} on {arm.name!r}"
        f0, f1 = (int(round(x)) for x in action.frame_range)
        what += f", frames {f0}-{f1}"
        if job.export is not None:
            export_armature(arm, action, job.export)
            what += f", exported {job.export.name}"
        return what
    except BaseException:
        for o in created:  # don't leave half-made armatures of a failed job behind
            with contextlib.suppress(ReferenceError, RuntimeError):
                data = o.data
                bpy.data.objects.remove(o, do_unlink=True)
                if data is not None and data.users == 0:
                    bpy.data.armatures.remove(data)
        raise


def _do_generate(job: Job, arm, scene):
    kw: dict[str, Any] = {
        "prompt": job.prompt,
        "armature": arm.name,
        "length": job.seconds if job.seconds is not None else 0.0,  # 0 = predicted
        "variations": 1,
        "start_frame": job.start_frame if job.start_frame is not None else -1,  # -1 = scene start
    }
    if job.seed is not None:
        kw["seed"] = job.seed
    if job.action is not None:
        kw["action_name"] = job.action
    before = set(bpy_data().actions)
    _run_op("generate", **kw)
    action = _current_action(arm)
    if action is None or action in before:
        raise JobFailed("bpy.ops.bamm.generate made no new action")
    if job.action is not None and action.name != job.action:  # Blender appended .001
        print(f"warning: {job.label}: action name {job.action!r} was taken; using {action.name!r}",
              file=sys.stderr)
    return action


def _do_inpaint(job: Job, arm, scene):
    if job.action is not None:
        action = bpy_data().actions.get(job.action)
        if action is None:
            raise JobFailed(f"action {job.action!r} not found")
        if arm.animation_data is None:
            arm.animation_data_create()
        if arm.animation_data.action != action:
            arm.animation_data.action = action
    action = _current_action(arm)
    if action is None:
        raise JobFailed(f"armature {arm.name!r} has no action to inpaint")
    for start, end in job.inpaint:
        kw: dict[str, Any] = {"prompt": job.prompt, "armature": arm.name, "frame_start": start, "frame_end": end}
        if job.seed is not None:
            kw["seed"] = job.seed
        _run_op("inpaint", **kw)
    return _current_action(arm)


def bpy_data():
    return _bpy().data


def export_armature(arm, action, path: Path) -> None:
    """Export only ``arm`` with ``action`` over the action's frame range (.fbx or .bvh),
    through a temporary file renamed at the end."""
    bpy = _bpy()
    scene = bpy.context.scene
    f0, f1 = (int(round(x)) for x in action.frame_range)
    saved = (scene.frame_start, scene.frame_end, scene.frame_current)
    _activate(arm)
    try:
        scene.frame_start, scene.frame_end = f0, f1
        with atomic_path(path) as tmp:
            if path.suffix.lower() == ".fbx":
                result = bpy.ops.export_scene.fbx(
                    filepath=tmp, check_existing=False, use_selection=True, object_types={"ARMATURE"},
                    add_leaf_bones=False, bake_anim=True, bake_anim_use_all_actions=False,
                    bake_anim_use_nla_strips=False, bake_anim_force_startend_keying=True,
                )
            else:
                result = bpy.ops.export_anim.bvh(
                    filepath=tmp, check_existing=False, frame_start=f0, frame_end=f1, root_transform_only=False,
                )
            if "FINISHED" not in result:
                raise JobFailed(f"export to {path.name} failed")
    except RuntimeError as e:
        raise JobFailed(f"export to {path.name} failed: {e}") from None
    finally:
        scene.frame_start, scene.frame_end = saved[0], saved[1]
        scene.frame_set(saved[2])


def save_blend(path: Path) -> None:
    """Save the open file to ``path`` via a temporary file in the same folder."""
    bpy = _bpy()
    with atomic_path(path) as tmp:
        bpy.ops.wm.save_as_mainfile(filepath=tmp, check_existing=False, copy=True)


# =========================================================================== driver


@dataclass
class JobResult:
    job: Job
    ok: bool
    message: str
    seconds: float


class BatchInterrupted(Exception):
    """Ctrl-C during a batch: the results so far and the job during which it came."""

    def __init__(self, results: list[JobResult], job: Job):
        super().__init__(f"interrupted during {job.label}")
        self.results, self.job = results, job


class StopAfterJob:
    """While active, Ctrl-C (SIGINT) only asks the batch to stop after the running job.

    An interrupt raised inside a Blender operator (an export, say) would be swallowed and
    reported as that operator's error, and the batch would go on; a flag checked between jobs
    always stops it.  Outside the main thread (no signal handlers there) it does nothing.
    """

    def __init__(self) -> None:
        self.requested = False
        self._old = None

    def __enter__(self) -> "StopAfterJob":
        if threading.current_thread() is threading.main_thread():
            self._old = signal.signal(signal.SIGINT, self._request)
        return self

    def _request(self, signum, frame) -> None:
        self.requested = True

    def __exit__(self, *exc) -> None:
        if self._old is not None:
            signal.signal(signal.SIGINT, self._old)


def run_batch(jobs: list[Job], quiet: bool = False) -> list[JobResult]:
    """Run every job (the add-on must be enabled); failures don't stop the batch, Ctrl-C does."""
    with StopAfterJob() as stop:
        return _run_jobs(jobs, quiet, stop)


def _run_jobs(jobs: list[Job], quiet: bool, stop: StopAfterJob) -> list[JobResult]:
    from tqdm import tqdm

    results: list[JobResult] = []
    bar = tqdm(jobs, desc="baking", unit="job", file=sys.stderr, disable=quiet, delay=1.0)
    for job in bar:
        t0 = time.perf_counter()
        try:
            msg = run_job(job)
            ok = True
        except JobFailed as e:
            ok, msg = False, str(e)
        except Exception as e:  # an unexpected error in one job must not lose the others
            ok, msg = False, f"{type(e).__name__}: {e}"
            if not quiet:
                traceback.print_exc(file=sys.stderr)
        except KeyboardInterrupt:
            bar.close()
            raise BatchInterrupted(results, job) from None
        results.append(JobResult(job, ok, msg, time.perf_counter() - t0))
        if not ok:
            tqdm.write(f"{job.label}: FAILED: {msg}", file=sys.stderr)
        if stop.requested:
            bar.close()
            raise BatchInterrupted(results, job)
    return results


def print_summary(results: list[JobResult], out=None) -> None:
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
    p.add_argument("--validate-only", action="store_true", help="check the jobs file and exit")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    return p.parse_args(_argv(argv))


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        jobs = load_jobs(args.jobs)
    except JobsFileError as e:
        for line in e.errors:
            print(f"bake: jobs file error: {line}", file=sys.stderr)
        print("bake: nothing was run or changed", file=sys.stderr)
        return 2
    if args.validate_only:
        print(f"bake: {args.jobs}: {len(jobs)} jobs, all valid")
        return 0
    if args.model is not None and not Path(args.model).exists():
        print(f"bake: error: model folder {args.model!r} not found; nothing was run", file=sys.stderr)
        return 2
    if args.clip_weights is not None and not Path(args.clip_weights).is_file():
        print(f"bake: error: CLIP weights file {args.clip_weights!r} not found; nothing was run", file=sys.stderr)
        return 2

    bpy = _bpy()
    if args.blend:
        blend = Path(args.blend)
        if not blend.is_file():
            print(f"bake: error: .blend file {str(blend)!r} not found; nothing was run", file=sys.stderr)
            return 2
        bpy.ops.wm.open_mainfile(filepath=str(blend.resolve()), load_ui=False)
    elif not bpy.data.filepath and not args.out:
        print("bake: error: no .blend is open: pass --blend FILE (or --out FILE to save a new one)", file=sys.stderr)
        return 2
    target = Path(args.out).resolve() if args.out else Path(bpy.data.filepath)
    if not target.parent.is_dir():
        print(f"bake: error: output folder {str(target.parent)!r} does not exist; nothing was run", file=sys.stderr)
        return 2

    try:
        enable_addon(args.model, args.device, args.clip_weights)
    except Exception as e:  # the batch cannot run at all
        print(f"bake: error: {e}; nothing was run", file=sys.stderr)
        return 2
    try:
        load_s = preload_engine()
    except Exception as e:  # no model, bad model folder, missing dependencies
        msg = str(e).strip().replace("\n", " ")
        print(f"bake: error: cannot load the model: {type(e).__name__}: {msg}; nothing was run", file=sys.stderr)
        return 2
    if load_s is not None and not args.quiet:
        print(f"bake: engine loaded in {load_s:.1f} s", file=sys.stderr)

    t0 = time.perf_counter()
    try:
        results = run_batch(jobs, quiet=args.quiet)
    except BatchInterrupted as e:
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
    loaded = f" (+ {load_s:.1f} s engine load)" if load_s is not None else ""
    print(f"bake: {saved}; {len(results)} jobs in {elapsed:.1f} s{loaded} "
          f"({60 * len(results) / max(elapsed, 1e-9):.1f} jobs/min)")
    return 0 if all(r.ok for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())  # also ends `blender -b ... --python bake.py` with this exit code
