"""Turn labelled BVH mocap takes into a HumanML3D-layout dataset.

    python -m training.prepare_bvh --src DIR_OR_ARCHIVE --out DATASET_DIR --skeleton-map bandai

``--src`` is a folder of ``.bvh`` files (searched recursively), a ``.tar.xz``/``.tar.gz``/
``.tar``/``.zip`` archive, or a folder holding several archives (they are unpacked into a
temporary folder).  Per take:

1. read the BVH onto the 22 SMPL joints with a rig preset (:func:`bamm_core.rigs.bvh_joints.
   read_bvh_joints`; ``bamm_core/rigs/data/<name>.json`` or a JSON path: joint names / derived
   joints, up and forward axes, unit scale; the bandai preset also holds this data set's take
   fixes and label checks);
2. resample to 20 fps (cubic);
3. HumanML3D processing (:func:`bamm_core.motion.features.joints_to_features`): bone lengths onto the
   target skeleton (root scaled by the leg ratio), feet on the floor, root at the origin, facing
   +Z at frame 0, 263-d features; the stored joints are ``recover_from_ric(features)`` as in
   HumanML3D;
4. a mirrored copy ``M<name>`` (x negated, left/right joints swapped, sided captions swapped);
5. captions from the caption scheme (``captions.json``), at least 3 distinct per take.

Output: ``new_joints/``, ``new_joint_vecs/``, ``texts/``, ``Mean.npy``, ``Std.npy`` (one std per
feature group), ``train.txt``/``val.txt``/``test.txt`` (split by take, stratified by content,
seeded; a mirror stays with its source), ``all.txt``, ``summary.json``.
Takes that fail to parse, are too short, excluded by the map's fix list or unknown to the caption
scheme are skipped *by name with the reason*; walk takes whose measured turn angle contradicts
the label and one-hand takes whose other wrist rises higher are reported as warnings.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import tarfile
import tempfile
import time
import zipfile
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bamm_core.motion.features import group_std, joints_to_features, recover_from_ric
from bamm_core.motion.resampling import resample_positions
from bamm_core.motion.facing import facing_yaw
from bamm_core.motion.skeleton import HUMANML3D, mirror_permutation
from bamm_core.motion.timebase import HUMANML3D as TIMEBASE
from bamm_core.rigs.bvh_joints import read_bvh_joints
from bamm_core.rigs.presets import RigPreset, get_preset

from .captions import CaptionScheme, parse_take_name, text_line

FPS = TIMEBASE.fps  # the data set's frame rate (HumanML3D's)
ARCHIVE_SUFFIXES = (".tar.xz", ".txz", ".tar.gz", ".tgz", ".tar.bz2", ".tar", ".zip")


# --- sources ------------------------------------------------------------------------------------

def _is_archive(p: Path) -> bool:
    return p.is_file() and p.name.lower().endswith(ARCHIVE_SUFFIXES)


def _safe_extract(archive: Path, dest: Path) -> None:
    dest = dest.resolve()
    if archive.name.lower().endswith(".zip"):
        with zipfile.ZipFile(archive) as z:
            for n in z.namelist():
                if not (dest / n).resolve().is_relative_to(dest):
                    raise ValueError(f"{archive}: member {n!r} escapes the target folder")
            z.extractall(dest)
        return
    with tarfile.open(archive) as t:
        for m in t.getmembers():
            if not (dest / m.name).resolve().is_relative_to(dest) or m.issym() or m.islnk():
                raise ValueError(f"{archive}: unsafe member {m.name!r}")
        t.extractall(dest)


def collect_bvh(src: Path, tmp: Path, log=print) -> list[Path]:
    """All ``.bvh`` files of ``src`` (folder, archive, or folder of archives), sorted by name."""
    if not src.exists():
        raise FileNotFoundError(f"--src {src} does not exist")
    archives = [src] if _is_archive(src) else (
        sorted(p for p in src.iterdir() if _is_archive(p)) if src.is_dir() else [])
    if not archives and not src.is_dir():
        raise ValueError(f"--src {src} is neither a folder nor a known archive ({', '.join(ARCHIVE_SUFFIXES)})")
    roots = [src] if src.is_dir() else []
    for i, a in enumerate(archives):
        d = tmp / f"archive{i}"
        d.mkdir(parents=True)
        log(f"unpacking {a.name} ...")
        _safe_extract(a, d)
        roots.append(d)
    files: dict[str, Path] = {}
    for r in roots:
        for f in sorted(r.rglob("*.bvh")):
            if f.stem in files:
                continue  # the same take in a folder and in an archive
            files[f.stem] = f
    return [files[k] for k in sorted(files)]


# --- checks -------------------------------------------------------------------------------------

def net_turn_degrees(joints: np.ndarray, fps: float = FPS) -> float:
    """Net change of the facing yaw (degrees, + = turning to the performer's left) between the
    first and last half second of a ``(T, 22, 3)`` motion at ``fps``, unwrapped frame by frame."""
    yaw = np.unwrap(facing_yaw(joints, HUMANML3D.face_joints))
    k = max(1, min(int(round(fps / 2)), len(yaw) // 4))
    return float(np.degrees(yaw[-k:].mean() - yaw[:k].mean()))


def check_take(joints: np.ndarray, content: str, smap: dict) -> list[str]:
    """Warnings for a canonical ``(T, 22, 3)`` motion whose measurements contradict ``content``."""
    warnings = []
    turn_rng = smap.get("turn_checks", {}).get(content)
    if turn_rng is not None:
        turn = net_turn_degrees(joints)
        if not (turn_rng[0] <= turn <= turn_rng[1]):
            side = "left" if turn > 0 else "right"
            warnings.append(f"label {content!r} expects a net turn in [{turn_rng[0]}, {turn_rng[1]}] deg, "
                            f"measured {turn:+.0f} deg (to the {side})")
    wrist_checks = smap.get("wrist_checks", {})
    wrist_side = wrist_checks.get(content)
    if wrist_side is not None:
        lw, rw = joints[:, 20, 1].max(), joints[:, 21, 1].max()
        higher = "left" if lw > rw else "right"
        if higher != wrist_side and abs(lw - rw) > float(wrist_checks.get("margin_m", 0.0)):
            warnings.append(f"label {content!r} names the {wrist_side} hand but the {higher} wrist rises "
                            f"higher ({max(lw, rw):.2f} m vs {min(lw, rw):.2f} m)")
    return warnings


# --- one take -----------------------------------------------------------------------------------

@dataclass
class Prepared:
    name: str
    content: str
    style: str
    frames: int                                   # feature rows (= stored joint frames)
    warnings: list[str] = field(default_factory=list)


def mirror_joints(joints: np.ndarray) -> np.ndarray:
    """Left/right mirror of ``(T, 22, 3)`` joints: negate x and swap the sided joints."""
    out = joints[:, mirror_permutation(HUMANML3D)].copy()
    out[..., 0] *= -1
    return out


def load_take_joints(path: Path, preset: RigPreset) -> tuple[np.ndarray, float]:
    """(joints at the file's fps ``(F, 22, 3)`` metres Y-up, fps)."""
    joints, fps = read_bvh_joints(path, preset)
    if len(joints) < 2:
        raise ValueError(f"only {len(joints)} frame(s)")
    return joints, fps


def process_joints(joints20: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """20 fps joints -> (features ``(T-1, 263)``, stored joints ``(T-1, 22, 3)``), float32."""
    feats = joints_to_features(joints20)
    if not np.isfinite(feats).all():
        raise ValueError("features contain NaN/inf")
    return feats, recover_from_ric(feats).astype(np.float32)


def save_item(out: Path, name: str, feats: np.ndarray, joints: np.ndarray, captions: list) -> None:
    """Write one motion; ``captions`` are strings or ``(caption, start, end)`` (a sub-clip)."""
    np.save(out / "new_joint_vecs" / f"{name}.npy", feats.astype(np.float32))
    np.save(out / "new_joints" / f"{name}.npy", joints.astype(np.float32))
    lines = [text_line(c) if isinstance(c, str) else text_line(*c) for c in captions]
    (out / "texts" / f"{name}.txt").write_text("\n".join(lines) + "\n")


# --- splits and statistics ----------------------------------------------------------------------

def split_takes(items: dict[str, str], fractions=(0.8, 0.1, 0.1), seed: int = 0) -> dict[str, list[str]]:
    """Deterministic split of take names (``{name: content}``) stratified by content."""
    by_content: dict[str, list[str]] = defaultdict(list)
    for name in sorted(items):
        by_content[items[name]].append(name)
    rng = np.random.default_rng(seed)
    out = {"train": [], "val": [], "test": []}
    for content in sorted(by_content):
        names = by_content[content]
        perm = [names[i] for i in rng.permutation(len(names))]
        n = len(perm)
        n_val = int(round(n * fractions[1]))
        n_test = int(round(n * fractions[2]))
        if n >= 3:  # keep at least one take of every content in train
            n_val, n_test = min(n_val, n - 1), min(n_test, max(0, n - 1 - n_val))
        else:
            n_val = n_test = 0
        out["val"] += perm[:n_val]
        out["test"] += perm[n_val:n_val + n_test]
        out["train"] += perm[n_val + n_test:]
    return {k: sorted(v) for k, v in out.items()}


def dataset_statistics(vec_dir: Path, names: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """HumanML3D Mean (per dim) and Std (one value per feature group) over ``names``."""
    data = np.concatenate([np.load(vec_dir / f"{n}.npy") for n in names], axis=0).astype(np.float64)
    mean = data.mean(axis=0).astype(np.float32)
    std = group_std(data, joints_num=22)
    std = np.where(std > 1e-8, std, 1.0).astype(np.float32)  # a constant group (e.g. no contacts)
    return mean, std


def write_index(work: Path, take_content: dict[str, str], names: list[str], fractions=(0.8, 0.1, 0.1),
                seed: int = 0) -> dict[str, list[str]]:
    """Splits by take (``{take: stratum}``; a mirror ``M<take>`` follows its take), ``all.txt``,
    ``Mean.npy``/``Std.npy`` over the written motions ``names``; returns the take splits."""
    splits = split_takes(take_content, fractions, seed)
    all_names = sorted(names)
    present = set(all_names)
    for split, takes in splits.items():
        full = sorted(n2 for n in takes for n2 in (n, "M" + n) if n2 in present)
        (work / f"{split}.txt").write_text("".join(n + "\n" for n in full))
    (work / "all.txt").write_text("".join(n + "\n" for n in all_names))
    mean, std = dataset_statistics(work / "new_joint_vecs", all_names)
    np.save(work / "Mean.npy", mean)
    np.save(work / "Std.npy", std)
    return splits


def commit_dataset(work: Path, out: Path) -> None:
    """Replace ``out`` by the finished ``work`` folder (same parent: a rename)."""
    if out.exists():
        shutil.rmtree(out)
    work.rename(out)


# --- main ---------------------------------------------------------------------------------------

def prepare(src: Path, out: Path, skeleton_map: str = "bandai", captions: Path | None = None,
            min_seconds: float = 1.0, mirror: bool = True, n_captions: int = 3, seed: int = 0,
            fractions=(0.8, 0.1, 0.1), strict_checks: bool = False, overwrite: bool = False,
            limit: int | None = None, progress: bool = True, log=print) -> dict:
    """Build the dataset; returns the summary dict (also written to ``out/summary.json``)."""
    t0 = time.time()
    src, out = Path(src), Path(out)
    preset = get_preset(skeleton_map)
    smap = preset.data
    if captions is None:
        base = src if src.is_dir() else src.parent
        for cand in (base / "captions.json", base.parent / "captions.json"):
            if cand.is_file():
                captions = cand
                break
    if captions is None or not Path(captions).is_file():
        raise FileNotFoundError("no caption scheme: pass --captions PATH/captions.json "
                                f"(none found next to {src})")
    scheme = CaptionScheme.load(captions)
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise FileExistsError(f"--out {out} exists and is not empty (pass --overwrite to replace it)")
    fixes = smap.get("takes", {})
    relabel, exclude = fixes.get("relabel", {}), fixes.get("exclude", {})
    min_frames = int(np.ceil(min_seconds * FPS))

    out.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{out.name}.building-", dir=out.parent))
    tmp = Path(tempfile.mkdtemp(prefix="bamm-prepare-"))
    try:
        for d in ("new_joints", "new_joint_vecs", "texts"):
            (work / d).mkdir()
        files = collect_bvh(src, tmp, log)
        if limit:
            files = files[:limit]
        if not files:
            raise FileNotFoundError(f"no .bvh files in {src}")
        skipped: dict[str, str] = {}
        warnings: dict[str, list[str]] = {}
        prepared: list[Prepared] = []
        take_content: dict[str, str] = {}
        iterator = files
        if progress:
            from tqdm import tqdm

            iterator = tqdm(files, desc="takes", unit="take", file=sys.stderr, dynamic_ncols=True)
        for f in iterator:
            name = f.stem
            try:
                take = parse_take_name(name)
            except ValueError as e:
                skipped[name] = str(e)
                continue
            if name in exclude:
                skipped[name] = f"excluded by the fix list: {exclude[name]}"
                continue
            content = relabel.get(name, take.content)
            if not scheme.has(content, take.style):
                skipped[name] = f"labels ({content}, {take.style}) not in the caption scheme"
                continue
            try:
                joints, fps = load_take_joints(f, preset)
                joints20 = resample_positions(joints, fps, FPS, method="cubic")
                if joints20.shape[0] - 1 < min_frames:
                    skipped[name] = (f"too short: {joints.shape[0]} frames at {fps:.0f} fps = "
                                     f"{joints.shape[0] / fps:.2f} s (minimum {min_seconds:.2f} s)")
                    continue
                feats, stored = process_joints(joints20)
                warn = check_take(stored, content, smap)
                if content != take.content:
                    warn.insert(0, f"relabelled {take.content} -> {content} by the fix list")
                if warn:
                    warnings[name] = warn
                    if strict_checks and content == take.content:
                        skipped[name] = "failed automatic checks: " + "; ".join(warn)
                        continue
                variants = [(name, feats, stored, False)]
                if mirror:
                    mfeats, mstored = process_joints(mirror_joints(joints20))
                    variants.append(("M" + name, mfeats, mstored, True))
                for vname, vf, vj, mirrored in variants:
                    caps = scheme.captions(content, take.style, vname, n_captions, mirrored)
                    save_item(work, vname, vf, vj, caps)
                    prepared.append(Prepared(vname, content, take.style, vf.shape[0], warn))
                take_content[name] = content
            except Exception as e:  # a broken take must not stop the run: report and skip it
                skipped[name] = f"failed: {type(e).__name__}: {e}"
                for d in ("new_joints", "new_joint_vecs", "texts"):
                    for p in (work / d).glob(f"*{name}.*"):
                        p.unlink()
                continue
        if not prepared:
            raise RuntimeError(f"no take could be prepared ({len(skipped)} skipped)")

        splits = write_index(work, take_content, [p.name for p in prepared], fractions, seed)

        frames = int(sum(p.frames for p in prepared))
        source_frames = int(sum(p.frames for p in prepared if not p.name.startswith("M")))
        summary = {
            "source": str(src), "skeleton_map": preset.name,
            "captions": str(captions), "fps": FPS, "takes_found": len(files),
            "takes_prepared": len(take_content), "motions_written": len(prepared),
            "mirrored": bool(mirror), "frames": frames, "hours": frames / FPS / 3600.0,
            "frames_without_mirrors": source_frames,
            "hours_without_mirrors": source_frames / FPS / 3600.0,
            "splits": {k: len((work / f"{k}.txt").read_text().split()) for k in splits},
            "contents": dict(Counter(take_content.values())),
            "skipped": skipped, "warnings": warnings,
            "seconds": round(time.time() - t0, 1),
        }
        (work / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
        commit_dataset(work, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        if work.exists():
            shutil.rmtree(work, ignore_errors=True)
    _print_summary(summary, out, log)
    return summary


def check_only(src: Path, skeleton_map: str = "bandai", progress: bool = True, log=print) -> dict[str, list[str]]:
    """Measure every take of ``src`` against its *file-name* label, ignoring the map's fix list;
    write nothing.  Returns ``{take: warnings}`` for the takes that contradict their label."""
    preset = get_preset(skeleton_map)
    smap = preset.data
    tmp = Path(tempfile.mkdtemp(prefix="bamm-check-"))
    flagged: dict[str, list[str]] = {}
    try:
        files = collect_bvh(Path(src), tmp, log)
        if progress:
            from tqdm import tqdm

            files = tqdm(files, desc="checking", unit="take", file=sys.stderr, dynamic_ncols=True)
        for f in files:
            try:
                take = parse_take_name(f.stem)
            except ValueError:
                continue
            checks = smap.get("turn_checks", {}), smap.get("wrist_checks", {})
            if take.content not in checks[0] and take.content not in checks[1]:
                continue
            try:
                joints, fps = load_take_joints(f, preset)
                joints20 = resample_positions(joints, fps, FPS, method="cubic")
                if len(joints20) < 3:
                    continue
                _, stored = process_joints(joints20)
            except Exception as e:  # noqa: BLE001 - report, keep going
                flagged[f.stem] = [f"failed: {type(e).__name__}: {e}"]
                continue
            warn = check_take(stored, take.content, smap)
            if warn:
                flagged[f.stem] = warn
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    log(f"{len(flagged)} takes contradict their labels:")
    for n, ws in sorted(flagged.items()):
        for w in ws:
            log(f"  {n}: {w}")
    return flagged


def print_totals(s: dict, log=print) -> None:
    """A data set summary's frames, splits and skipped takes (both preparations print them)."""
    log(f"frames at {s['fps']:g} fps: {s['frames']:,} ({s['hours']:.2f} h); without mirrors "
        f"{s['frames_without_mirrors']:,} ({s['hours_without_mirrors']:.2f} h)")
    log("splits (motions): " + ", ".join(f"{k} {v}" for k, v in s["splits"].items()))
    if s["skipped"]:
        log(f"skipped {len(s['skipped'])} takes:")
        for n, r in sorted(s["skipped"].items()):
            log(f"  {n}: {r}")


def _print_summary(s: dict, out: Path, log=print) -> None:
    log(f"\nprepared {s['takes_prepared']} of {s['takes_found']} takes -> {s['motions_written']} motions "
        f"({'with' if s['mirrored'] else 'without'} mirrors) in {out}")
    print_totals(s, log)
    if s["warnings"]:
        log(f"warnings for {len(s['warnings'])} takes:")
        for n, ws in sorted(s["warnings"].items()):
            for w in ws:
                log(f"  {n}: {w}")
    log(f"done in {s['seconds']:.0f} s")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m training.prepare_bvh", description=__doc__.split("\n\n")[0])
    p.add_argument("--src", required=True, type=Path, help="folder of .bvh takes, an archive, or a folder of archives")
    p.add_argument("--out", type=Path, help="dataset folder to create (HumanML3D layout)")
    p.add_argument("--skeleton-map", default="bandai", help="rig preset name (bamm_core/rigs/data/) or a JSON path")
    p.add_argument("--captions", type=Path, default=None, help="caption scheme (default: captions.json next to --src)")
    p.add_argument("--min-seconds", type=float, default=1.0, help="skip takes shorter than this (default 1.0)")
    p.add_argument("--no-mirror", action="store_true", help="do not add mirrored M* copies")
    p.add_argument("--captions-per-take", type=int, default=3)
    p.add_argument("--seed", type=int, default=0, help="seed of the train/val/test split")
    p.add_argument("--split", default="0.8,0.1,0.1", help="train,val,test fractions")
    p.add_argument("--strict-checks", action="store_true",
                   help="skip takes whose turn angle / raised wrist contradicts the label (default: warn)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out folder")
    p.add_argument("--limit", type=int, default=None, help="only the first N takes (for a quick look)")
    p.add_argument("--check-only", action="store_true",
                   help="only measure turn angles / raised wrists against the file-name labels "
                        "(ignoring the map's fix list) and list contradictions; write nothing")
    args = p.parse_args(argv)
    if args.check_only:
        try:
            check_only(args.src, args.skeleton_map)
        except (FileNotFoundError, ValueError) as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
        return 0
    if args.out is None:
        p.error("--out is required (unless --check-only)")
    try:
        fr = tuple(float(x) for x in args.split.split(","))
        if len(fr) != 3 or abs(sum(fr) - 1) > 1e-6 or min(fr) < 0:
            raise ValueError
    except ValueError:
        p.error(f"--split must be three non-negative fractions summing to 1, got {args.split!r}")
    try:
        prepare(args.src, args.out, args.skeleton_map, args.captions, args.min_seconds, not args.no_mirror,
                args.captions_per_take, args.seed, fr, args.strict_checks, args.overwrite, args.limit)
    except (FileNotFoundError, FileExistsError, ValueError, RuntimeError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
