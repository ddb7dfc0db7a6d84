"""Jobs files for scripts/bake.py: the schema and its validation (pure Python, no Blender).

A jobs file is a JSON list (or a CSV file with the same column names) of jobs:

    prompt       the text (required, unless the job has ``segments``)
    segments     instead of prompt: a list of {"prompt", "seconds"} making one continuous take
                 (see scripts/bake_timeline.py); seconds per segment, "auto" = predicted
    path         a list of [x, z] points (metres, the engine's Y-up ground plane: Blender's
                 world x and -y) or a curve object's name: the motion walks along it
    armature     armature object name; "SMPL-22" creates a new SMPL-22 armature for the job;
                 omitted: the scene's only armature
    seconds      length in seconds (within the model's limits, 0.2-9.8 s for the bundled
                 model); omitted (or "auto") = predicted by the model
    seed         integer seed
    start_frame  first frame of the new action (default: the scene's start frame)
    action       name of the new action; for an inpaint job, the existing action to edit
                 (default: the armature's current action)
    refine       refinement strategy (a name of bamm_core.generation.refinement.STRATEGIES;
                 default: the model's); generate jobs only
    inpaint      list of [start_frame, end_frame] ranges (Blender frames, inclusive) to
                 regenerate inside an existing action instead of generating a new one
    export       .fbx (Blender's FBX exporter, only that armature) or .bvh path; relative
                 paths are relative to the jobs file's folder
    plant_feet   true (default) / false: lock the rig's feet during foot contacts

In CSV, leave a cell empty to omit it; write ``inpaint`` as ``10-30;50-60`` (or as JSON).
Every mistake is named by job number and field (:class:`JobsFileError`).
"""
from __future__ import annotations

import csv
import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # the engine package of this checkout
    sys.path.append(str(REPO))

from bamm_core.generation.prompt import check_prompt  # noqa: E402
from bamm_core.motion.timebase import HUMANML3D, Timebase  # noqa: E402
import bake_timeline  # noqa: E402  (segments and path fields)

SMPL22 = "SMPL-22"
FIELDS = ("prompt", "armature", "seconds", "seed", "start_frame", "action", "refine", "inpaint", "export",
          "segments", "path", "plant_feet")
_BOOLS = {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}
EXPORT_FORMATS = (".fbx", ".bvh")


def refine_names() -> list[str]:
    """The refinement strategies a job may name (the engine's registry)."""
    from bamm_core.generation.refinement import STRATEGIES

    return list(STRATEGIES)


def model_timebase(model: str | os.PathLike | None = None) -> Timebase:
    """The timebase of the model folder ``model`` (None: the bundled model), read from its
    config without loading weights; ValueError if it cannot be read."""
    from bamm_core.model.checkpoints import CheckpointError, read_timebase

    try:
        return read_timebase(model)
    except (CheckpointError, OSError) as e:
        raise ValueError(f"cannot load the model {str(model or 'bundled')!r}: {e}") from None


def check_lengths(jobs: list["Job"], timebase: Timebase) -> list[str]:
    """Messages for jobs whose ``seconds`` the model ``timebase`` does not allow (the
    validation's own check, for a model only known once it is loaded)."""
    return [f"job {job.index}: field 'seconds': {err}" for job in jobs
            if job.seconds is not None and (err := seconds_error(job.seconds, timebase))] + \
        [f"job {job.index}: field 'segments': {err}" for job in jobs
         for err in bake_timeline.segment_lengths_errors(job.segments, timebase)]


def seconds_error(seconds: Any, timebase: Timebase) -> str | None:
    """The timebase's message if ``seconds`` is not a length the model can make, else None."""
    try:
        timebase.check_seconds(seconds, "seconds")
    except ValueError as e:
        return f"{e} (or omit it: the model predicts the length)"
    return None


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
    refine: str | None = None
    segments: list[dict] = field(default_factory=list)  # [{"prompt", "seconds" | None}]
    path: list | str | None = None  # [[x, z], ...] metres or a curve object's name
    plant_feet: bool = True

    @property
    def label(self) -> str:
        p = self.prompt if len(self.prompt) <= 40 else self.prompt[:37] + "..."
        return f"job {self.index} ({p!r})"


def load_jobs(path: str | os.PathLike, timebase: Timebase = HUMANML3D) -> list[Job]:
    """Read and validate a .json or .csv jobs file (lengths against ``timebase``, the model's);
    raise :class:`JobsFileError` listing every mistake (``job N: field 'x': ...``)."""
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
    return validate_jobs(raw, base_dir=path.parent, timebase=timebase)


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
            elif key in ("segments", "path"):
                job[key] = bake_timeline.csv_value(key, value)
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


def validate_jobs(raw: list[Any], base_dir: str | os.PathLike = ".",
                  timebase: Timebase = HUMANML3D) -> list[Job]:
    """Turn a list of job dicts into :class:`Job` objects, or raise :class:`JobsFileError`
    with one message per mistake.  Jobs are numbered from 0, as in the summary; ``seconds``
    is checked against ``timebase`` (the model's) as the engine checks it."""
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

        if "segments" in item:
            job.segments, errs = bake_timeline.check_segments(item["segments"], timebase)
            for e in errs:
                bad("segments", e)
            job.prompt = " / ".join(s["prompt"] for s in job.segments)
            for name in ("prompt", "seconds", "inpaint"):
                if name in item:
                    bad(name, "does not apply with 'segments' (each segment has its prompt and seconds)")
        else:
            try:
                job.prompt = check_prompt(item.get("prompt", ""))
            except (TypeError, ValueError) as e:
                bad("prompt", f"required (or 'segments'): {e}")
        if "path" in item:
            job.path, errs = bake_timeline.check_path(item["path"])
            for e in errs:
                bad("path", e)
            if "inpaint" in item:
                bad("path", "does not apply to an inpaint job")

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
            err = seconds_error(seconds, timebase)
            if err:
                bad("seconds", err)
            else:
                job.seconds = float(seconds)

        refine = item.get("refine")
        if refine is not None:
            names = refine_names()
            if refine not in names:
                bad("refine", f"unknown strategy {refine!r}; choose from {', '.join(names)}")
            else:
                job.refine = refine

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
            if job.refine is not None:
                bad("refine", "does not apply to an inpaint job (edits have no refinement round)")
            if job.armature == SMPL22:
                bad("armature", f"an inpaint job needs an existing animated armature, not a new {SMPL22}")

        plant = item.get("plant_feet")
        if plant is not None:
            key = str(plant).strip().lower() if isinstance(plant, (str, bool, int)) else None
            if key not in _BOOLS or (isinstance(plant, (int, float)) and not isinstance(plant, bool)
                                     and plant not in (0, 1)):
                bad("plant_feet", f"must be true or false, got {plant!r}")
            else:
                job.plant_feet = _BOOLS[key]

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
