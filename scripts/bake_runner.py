"""Running a bake's jobs in Blender through the BAMM add-on's operators.

The add-on is enabled from this checkout (or the installed extension is used) and its one
engine loader configured and preloaded (:func:`enable_addon`, :func:`preload_engine`); then
every job runs in order (``bpy.ops.bamm.generate / inpaint / create_armature``).  A failing job
is reported and the others still run; Ctrl-C stops after the running job
(``bamm_core.interrupts.StopRequest``, the one Ctrl-C handler).
"""
from __future__ import annotations

import contextlib
import importlib
import json
import sys
import time
import traceback
from dataclasses import dataclass
from typing import Any

import bpy

from bake_jobs import REPO, SMPL22, Job, check_lengths  # (puts this checkout's bamm_core on the path)
from bake_export import ExportFailed, activate, export_armature
from bamm_core.interrupts import StopRequest


class JobFailed(Exception):
    """One job could not be done; the batch goes on."""


# --------------------------------------------------------------------------- the add-on
def _op_exists(name: str) -> bool:
    try:
        getattr(bpy.ops.bamm, name).get_rna_type()
        return True
    except (AttributeError, KeyError):
        return False


def addon_module(name: str):
    """A module of the registered add-on: ``blender_addon.<name>`` from a checkout,
    ``bl_ext.<repo>.<id>.<name>`` when the installed extension is the one registered."""
    cls = getattr(bpy.types, "BAMM_OT_generate", None)
    package = cls.__module__.rpartition(".")[0] if cls is not None else "blender_addon"
    return importlib.import_module(f"{package}.{name}")


def enable_addon(model: str | None, device: str | None, clip_weights: str | None = None) -> None:
    """Register the BAMM add-on from this checkout (unless an installed one is) and point
    its engine settings at ``model`` / ``device`` / ``clip_weights`` (None: keep)."""
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
    addon_module("engine_loader").configure(bpy.context, model, device, clip_weights)


def preload_engine():
    """Load the configured engine (and its text encoder) once, up front, through the add-on's
    engine loader; the operators then reuse it for every job.  Returns (engine, seconds).
    A model that cannot load raises here, before any job runs."""
    t0 = time.perf_counter()
    engine = addon_module("engine_loader").preload(bpy.context)
    return engine, time.perf_counter() - t0


def check_jobs_for(engine, jobs: list[Job]) -> list[str]:
    """The jobs' lengths checked against the loaded model's timebase (as in validation)."""
    timebase = getattr(engine, "timebase", None)
    return check_lengths(jobs, timebase) if timebase is not None else []


# --------------------------------------------------------------------------- one job
def _run_op(opname: str, **kwargs: Any) -> None:
    """Call ``bpy.ops.bamm.<opname>`` and turn its reported errors into :class:`JobFailed`."""
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


def _armatures():
    return [o for o in bpy.context.scene.objects if o.type == "ARMATURE"]


def _resolve_armature(job: Job, created: list):
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
    scene = bpy.context.scene
    created: list = []
    try:
        arm = _resolve_armature(job, created)
        activate(arm)
        if job.inpaint:
            action = _do_inpaint(job, arm, scene)
            what = f"inpainted {len(job.inpaint)} range(s) of action {action.name!r} on {arm.name!r}"
        else:
            action = _do_generate(job, arm, scene)
            what = f"action {action.name!r} on {arm.name!r}"
        f0, f1 = (int(round(x)) for x in action.frame_range)
        what += f", frames {f0}-{f1}"
        if job.export is not None:
            try:
                export_armature(arm, action, job.export)
            except ExportFailed as e:
                raise JobFailed(str(e)) from None
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


def _path_args(job: Job) -> dict[str, Any]:
    """A job's ``path``: a curve object's name, or points as JSON for the operator."""
    if job.path is None:
        return {}
    return {"path": job.path} if isinstance(job.path, str) else {"path_points": json.dumps(job.path)}


def _do_generate(job: Job, arm, scene):
    kw: dict[str, Any] = {
        "armature": arm.name,
        "start_frame": job.start_frame if job.start_frame is not None else -1,  # -1 = scene start
        "plant_feet": job.plant_feet,
        **_path_args(job),
    }
    if job.segments:  # one continuous take: bamm.generate_timeline with the job's segments
        kw["segments"] = json.dumps(job.segments)
    else:
        kw.update(prompt=job.prompt, variations=1,
                  length=job.seconds if job.seconds is not None else 0.0)  # 0 = predicted
    if job.seed is not None:
        kw["seed"] = job.seed
    if job.refine is not None:
        kw["refine"] = job.refine
    if job.action is not None:
        kw["action_name"] = job.action
    before = set(bpy.data.actions)
    opname = "generate_timeline" if job.segments else "generate"
    _run_op(opname, **kw)
    action = _current_action(arm)
    if action is None or action in before:
        raise JobFailed(f"bpy.ops.bamm.{opname} made no new action")
    if job.action is not None and action.name != job.action:  # Blender appended .001
        print(f"warning: {job.label}: action name {job.action!r} was taken; using {action.name!r}",
              file=sys.stderr)
    return action


def _do_inpaint(job: Job, arm, scene):
    if job.action is not None:
        action = bpy.data.actions.get(job.action)
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
        kw: dict[str, Any] = {"prompt": job.prompt, "armature": arm.name, "frame_start": start, "frame_end": end,
                              "plant_feet": job.plant_feet}
        if job.seed is not None:
            kw["seed"] = job.seed
        _run_op("inpaint", **kw)
    return _current_action(arm)


# --------------------------------------------------------------------------- the batch
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


def run_batch(jobs: list[Job], quiet: bool = False) -> list[JobResult]:
    """Run every job (the add-on must be enabled); failures don't stop the batch, Ctrl-C does."""
    with StopRequest() as stop:  # Ctrl-C stops the batch after the running job
        return _run_jobs(jobs, quiet, stop)


def _run_jobs(jobs: list[Job], quiet: bool, stop: StopRequest) -> list[JobResult]:
    from tqdm import tqdm

    results: list[JobResult] = []
    bar = tqdm(jobs, desc="baking", unit="job", file=sys.stderr, disable=not show_progress(quiet), delay=1.0)
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


def show_progress(quiet: bool, stream=None) -> bool:
    """A progress bar only on an interactive terminal: in a log or a pipe its redraws would
    mix with the bake's messages."""
    stream = sys.stderr if stream is None else stream
    return not quiet and hasattr(stream, "isatty") and stream.isatty()
