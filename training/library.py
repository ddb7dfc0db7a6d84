"""Any BVH library -> a HumanML3D-layout training set (``bamm dataset``).

    bamm dataset SRC --out DATASET [--captions FILE] [--skeleton-map auto|NAME|FILE.json]
                 [--fps-out 20] [--check] [--overwrite]

SRC is a folder (searched recursively), an archive, or a folder with archives, of BVH takes of
any skeletons, frame rates and channel orders.  Per distinct skeleton (same joint names and
hierarchy) one map onto the 22 joints: automatic (:func:`bamm_core.rigs.automap.auto_map`) or
the ``--skeleton-map`` preset / JSON.  Captions: :mod:`.library_captions` (sidecar ``TAKE.txt``,
a CSV/TSV/JSON ``file -> captions`` table, or the label scheme).  Every take then goes through
the same pipeline as :mod:`.prepare_bvh` (resample, :func:`~.prepare_bvh.process_joints`, the
mirror with its sided captions swapped, :func:`~.prepare_bvh.write_index`).  Takes that do not
parse, cannot be mapped, have no caption or are too short are skipped by name with the reason.
``--check`` writes a contact sheet and the map (JSON, editable, usable as ``--skeleton-map``)
per skeleton and stops.
"""
from __future__ import annotations

import json
import re
import shutil
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bamm_core.formats.bvh import BVH, parse_bvh, read_bvh
from bamm_core.motion.resampling import resample_positions
from bamm_core.rigs.automap import AutoMapError, auto_map, convention, describe, skeleton_key
from bamm_core.rigs.bvh_joints import bvh_joints, detect_bvh_preset
from bamm_core.rigs.presets import RigPreset, get_preset

from .captions import CaptionScheme, parse_take_name
from .library_captions import (Caption, TakeIndex, find_caption_file, load_caption_file,
                               sidecar_captions, swap_sides)
from .prepare_bvh import (ARCHIVE_SUFFIXES, FPS, _is_archive, _safe_extract, check_take, commit_dataset,
                          mirror_joints, print_totals, process_joints, save_item, write_index)

OUTPUT_DIRS = ("new_joints", "new_joint_vecs", "texts")


class DatasetError(ValueError):
    """Bad input for the whole run (one line, nothing written)."""


@dataclass
class Take:
    key: str          # path relative to its root, without .bvh ("walks/take01")
    path: Path
    name: str = ""    # motion name in the dataset


@dataclass
class Skeleton:
    key: str
    preset: RigPreset | None
    error: str = ""
    convention: str = ""
    takes: int = 0
    fps: Counter = field(default_factory=Counter)
    example: Path | None = None


# --- sources ------------------------------------------------------------------------------------

def find_takes(src: Path, tmp: Path, log=print) -> list[Take]:
    """The ``.bvh`` takes of a folder (recursive), an archive, or a folder with archives."""
    if not src.exists():
        raise DatasetError(f"{src} does not exist")
    if src.is_file() and not _is_archive(src):
        raise DatasetError(f"{src} is neither a folder nor an archive ({', '.join(ARCHIVE_SUFFIXES)})")
    roots = [src] if src.is_dir() else []
    archives = [src] if src.is_file() else sorted(p for p in src.rglob("*") if _is_archive(p))
    for i, a in enumerate(archives):
        d = tmp / f"archive{i}"
        d.mkdir(parents=True)
        log(f"unpacking {a.name} ...")
        try:
            _safe_extract(a, d)
        except (OSError, EOFError, ValueError) as e:
            raise DatasetError(f"cannot unpack {a}: {e}") from None
        roots.append(d)
    takes: dict[str, Take] = {}
    for r in roots:
        for f in sorted(r.rglob("*")):
            if f.suffix.lower() == ".bvh" and f.is_file():
                takes.setdefault(f.relative_to(r).with_suffix("").as_posix(), Take("", f))
    out = [Take(k, t.path) for k, t in sorted(takes.items())]
    stems = Counter(t.key.rsplit("/", 1)[-1] for t in out)
    for t in out:  # the file name, or the path where two takes share a name
        stem = t.key.rsplit("/", 1)[-1]
        t.name = re.sub(r"[^A-Za-z0-9_.-]+", "_", stem if stems[stem] == 1 else t.key.replace("/", "_"))
    return out


def prepare_output(out: Path, overwrite: bool) -> Path:
    """Check ``out`` can be written (and is empty or ``overwrite``); a work folder beside it."""
    if out.exists() and not out.is_dir():
        raise DatasetError(f"--out {out} is a file")
    if out.exists() and any(p.name != "check" for p in out.iterdir()) and not overwrite:
        raise DatasetError(f"--out {out} exists and is not empty (pass --overwrite to replace it)")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix=f".{out.name}.building-", dir=out.parent))
    except OSError as e:
        raise DatasetError(f"cannot write to --out {out}: {e.strerror or e}") from None


# --- skeletons ----------------------------------------------------------------------------------

def skeleton_for(anim: BVH, skeletons: dict[str, Skeleton], skeleton_map: str) -> Skeleton:
    """The (cached) map of a take's skeleton: automatic or the given preset."""
    key = skeleton_key(anim)
    if key not in skeletons:
        label = convention(anim.names)
        try:
            if skeleton_map == "auto":
                preset = auto_map(anim, name=f"skeleton-{len(skeletons) + 1}-{label.split('/')[0]}")
            else:
                preset = get_preset(skeleton_map)
            bvh_joints(BVH(anim.joints, anim.frame_time, anim.motion[:1]), preset)
            skeletons[key] = Skeleton(key, preset, convention=label)
        except (AutoMapError, ValueError) as e:
            skeletons[key] = Skeleton(key, None, " ".join(str(e).split()), convention=label)
    return skeletons[key]


def fixes_for(anim: BVH) -> dict:
    """A registry map that knows this skeleton by name may carry per-take fixes and checks
    (the bandai map: relabelled / excluded takes, turn and wrist checks)."""
    p = detect_bvh_preset(anim)
    return p.data if p is not None and "takes" in p.data else {}


# --- captions -----------------------------------------------------------------------------------

def take_captions(take: Take, table, anim: BVH, n_captions: int) -> tuple[list[Caption], str, dict]:
    """(captions, split stratum, the registry map's data for checks) of one take.
    Raises LookupError with the reason when the take has no caption."""
    if isinstance(table, CaptionScheme):
        stem = take.key.rsplit("/", 1)[-1]
        try:
            label = parse_take_name(stem)
        except ValueError as e:
            raise LookupError(str(e)) from None
        data = fixes_for(anim)
        fixes = data.get("takes", {})
        if stem in fixes.get("exclude", {}):
            raise LookupError(f"excluded by the fix list: {fixes['exclude'][stem]}")
        content = fixes.get("relabel", {}).get(stem, label.content)
        if not table.has(content, label.style):
            raise LookupError(f"labels ({content}, {label.style}) not in the caption scheme")
        return [], content, dict(data, _content=content, _style=label.style)
    caps = (table or {}).get(take.key) or sidecar_captions(take.path)
    if not caps:
        raise LookupError("no caption (no TAKE.txt beside it, not in the caption file)")
    return caps, "all", {}


def caption_lines(caps: list[Caption], table, take: Take, name: str, info: dict, n: int,
                  mirrored: bool) -> list:
    if isinstance(table, CaptionScheme):
        return table.captions(info["_content"], info["_style"], name, n, mirrored)
    return [((swap_sides(c.text) if mirrored else c.text), c.start, c.end) for c in caps]


# --- the run ------------------------------------------------------------------------------------

def build_library(src, out, captions=None, skeleton_map: str = "auto", fps_out: float = FPS,
                  check: bool = False, overwrite: bool = False, mirror: bool = True,
                  min_seconds: float = 1.0, n_captions: int = 3, seed: int = 0,
                  fractions=(0.8, 0.1, 0.1), progress: bool = True, log=print) -> dict:
    """Prepare the library; returns the summary (also ``out/summary.json``).  With ``check``:
    contact sheets and maps per skeleton in ``out/check/``, nothing else."""
    t0 = time.time()
    src, out = Path(src), Path(out)
    if fps_out <= 0:
        raise DatasetError(f"--fps-out must be positive, got {fps_out}")
    if skeleton_map != "auto":
        try:
            get_preset(skeleton_map)
        except (ValueError, FileNotFoundError) as e:
            raise DatasetError(str(e)) from None
    tmp = Path(tempfile.mkdtemp(prefix="bamm-dataset-"))
    work = None
    try:
        takes = find_takes(src, tmp, log)
        if not takes:
            raise DatasetError(f"no .bvh takes in {src}")
        if check:
            return _check(takes, out, skeleton_map, log)
        caption_file = Path(captions) if captions else find_caption_file(src)
        table = (load_caption_file(caption_file, TakeIndex([t.key for t in takes]))
                 if caption_file else None)
        work = prepare_output(out, overwrite)
        for d in OUTPUT_DIRS:
            (work / d).mkdir()
        skeletons: dict[str, Skeleton] = {}
        skipped: dict[str, str] = {}
        warnings: dict[str, list[str]] = {}
        strata: dict[str, str] = {}
        written: list[tuple[str, int]] = []
        for take in _bar(takes, progress):
            reason = _one_take(take, table, skeletons, skeleton_map, fps_out, mirror, min_seconds,
                               n_captions, work, strata, written, warnings)
            if reason:
                skipped[take.key] = reason
        for skel in skeletons.values():
            if skel.preset is not None:
                log("\n".join(describe(skel.preset)))
        if not written:
            raise DatasetError(f"empty dataset: none of the {len(takes)} takes could be prepared "
                               f"(e.g. {next(iter(skipped.items()))[0]}: {next(iter(skipped.values()))})")
        splits = write_index(work, strata, [n for n, _ in written], fractions, seed)
        summary = _summary(src, caption_file, takes, skeletons, strata, written, skipped, warnings,
                           work, splits, fps_out, mirror, t0)
        _write_maps(work / "skeletons", skeletons)
        (work / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
        if (out / "check").is_dir():
            shutil.move(str(out / "check"), str(work / "check"))
        commit_dataset(work, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        if work is not None and work.exists():
            shutil.rmtree(work, ignore_errors=True)
    print_summary(summary, out, log)
    return summary


def _bar(items, progress: bool):
    if not progress:
        return items
    from tqdm import tqdm

    return tqdm(items, desc="takes", unit="take", file=sys.stderr, dynamic_ncols=True)


def _one_take(take: Take, table, skeletons, skeleton_map, fps_out, mirror, min_seconds, n_captions,
              work: Path, strata: dict, written: list, warnings: dict) -> str | None:
    """Prepare one take into ``work``; the reason it was skipped, or None."""
    try:
        anim = read_bvh(take.path)
    except (ValueError, OSError) as e:
        return "does not parse: " + " ".join(str(e).replace(str(take.path) + ": ", "").split())
    if anim.num_frames < 2:
        return f"only {anim.num_frames} frame(s)"
    skel = skeleton_for(anim, skeletons, skeleton_map)
    if skel.preset is None:
        return f"unmappable skeleton: {skel.error}"
    try:
        caps, stratum, info = take_captions(take, table, anim, n_captions)
    except LookupError as e:
        return str(e)
    try:
        joints = bvh_joints(anim, skel.preset)
        joints20 = resample_positions(joints, anim.fps, fps_out, method="cubic")
        if joints20.shape[0] - 1 < int(np.ceil(min_seconds * fps_out)):
            return (f"too short: {anim.num_frames} frames at {anim.fps:.0f} fps = "
                    f"{anim.num_frames / anim.fps:.2f} s (minimum {min_seconds:.2f} s)")
        variants = [(take.name, joints20, False)] + ([("M" + take.name, mirror_joints(joints20), True)]
                                                      if mirror else [])
        done = []
        for name, j, mirrored in variants:
            feats, stored = process_joints(j)
            done.append((name, feats, stored, caption_lines(caps, table, take, name, info, n_captions, mirrored)))
    except Exception as e:  # noqa: BLE001 - a broken take must not stop the run: report and skip it
        return f"failed: {type(e).__name__}: {' '.join(str(e).split())}"
    if info:
        warn = check_take(done[0][2], stratum, info)
        if warn:
            warnings[take.key] = warn
    for name, feats, stored, lines in done:
        save_item(work, name, feats, stored, lines)
        written.append((name, feats.shape[0]))
    strata[take.name] = stratum
    skel.takes += 1
    skel.fps[round(anim.fps, 2)] += 1
    skel.example = skel.example or take.path
    return None


def _write_maps(folder: Path, skeletons: dict[str, Skeleton]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for s in skeletons.values():
        if s.preset is not None:
            data = {k: v for k, v in s.preset.data.items()}
            (folder / f"{s.preset.name}.json").write_text(json.dumps(data, indent=1) + "\n")


def _summary(src, caption_file, takes, skeletons, strata, written, skipped, warnings, work, splits,
             fps_out, mirror, t0) -> dict:
    frames = int(sum(f for _, f in written))
    source = int(sum(f for n, f in written if n in strata))
    return {
        "source": str(src), "captions": str(caption_file) if caption_file else "sidecar TAKE.txt files",
        "fps": fps_out, "takes_found": len(takes), "takes_prepared": len(strata),
        "motions_written": len(written), "mirrored": bool(mirror),
        "frames": frames, "hours": frames / fps_out / 3600.0,
        "frames_without_mirrors": source, "hours_without_mirrors": source / fps_out / 3600.0,
        "splits": {k: len((work / f"{k}.txt").read_text().split()) for k in splits},
        "skeletons": [{"map": s.preset.name if s.preset else None, "convention": s.convention,
                       "takes": s.takes, "fps": {str(k): v for k, v in sorted(s.fps.items())},
                       "error": s.error or None, "example": str(s.example) if s.example else None,
                       "units": s.preset.data.get("units") if s.preset else None,
                       "up_axis": s.preset.up_axis if s.preset else None}
                      for s in skeletons.values()],
        "skipped": skipped, "warnings": warnings, "seconds": round(time.time() - t0, 1),
    }


def print_summary(s: dict, out: Path, log=print) -> None:
    log(f"\nprepared {s['takes_prepared']} of {s['takes_found']} takes -> {s['motions_written']} motions "
        f"({'with' if s['mirrored'] else 'without'} mirrors) in {out}")
    log(f"skeletons found: {len(s['skeletons'])}")
    for k in s["skeletons"]:
        fps = ", ".join(f"{f} fps x{n}" for f, n in k["fps"].items())
        log(f"  {k['map'] or 'unmappable'} ({k['convention']}): {k['takes']} takes"
            + (f", {fps}, {k['units']}, {k['up_axis']} up" if k["map"] else f": {k['error']}"))
    print_totals(s, log)
    for n, ws in sorted(s["warnings"].items()):
        for w in ws:
            log(f"  warning {n}: {w}")
    log(f"maps: {out / 'skeletons'}; done in {s['seconds']:.0f} s")


def read_bvh_header(path: Path) -> BVH:
    """A BVH's hierarchy and frame time without its motion (fast: a library's skeletons)."""
    lines = []
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            lines.append(line)
            if line.strip().startswith("Frame Time"):
                break
    text = "".join(lines)
    text = re.sub(r"Frames:\s*\d+", "Frames: 0", text)
    return parse_bvh(text, source=str(path))


def _check(takes: list[Take], out: Path, skeleton_map: str, log) -> dict:
    """Contact sheet + map per distinct skeleton into ``out/check``; nothing else."""
    from .library_check import save_map_sheet

    skeletons: dict[str, Skeleton] = {}
    anims: dict[str, BVH] = {}
    skipped: dict[str, str] = {}
    for take in takes:
        try:
            head = read_bvh_header(take.path)
            anim = anims.get(skeleton_key(head)) or read_bvh(take.path)
        except (ValueError, OSError) as e:
            skipped[take.key] = "does not parse: " + " ".join(str(e).split())
            continue
        s = skeleton_for(anim, skeletons, skeleton_map)
        s.takes += 1
        s.fps[round(head.fps, 2)] += 1
        if s.preset is None:
            skipped[take.key] = f"unmappable skeleton: {s.error}"
        anims.setdefault(s.key, anim)
        s.example = s.example or take.path
    folder = out / "check"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise DatasetError(f"cannot write to --out {out}: {e.strerror or e}") from None
    sheets = []
    for s in skeletons.values():
        if s.preset is None:
            log(f"unmappable skeleton of {s.example} ({s.takes} takes): {s.error}")
            continue
        sheets.append(save_map_sheet(anims[s.key], s.preset, folder / f"{s.preset.name}.png",
                                     f"{s.preset.name}: {s.takes} takes, e.g. {s.example.name}"))
        (folder / f"{s.preset.name}.json").write_text(json.dumps(s.preset.data, indent=1) + "\n")
        log("\n".join(describe(s.preset)))
        log(f"  contact sheet: {sheets[-1]}")
    for n, r in sorted(skipped.items()):
        log(f"  skipped {n}: {r}")
    return {"skeletons": len(skeletons), "sheets": [str(p) for p in sheets], "skipped": skipped}


__all__ = ["build_library", "find_takes", "DatasetError", "print_summary"]
