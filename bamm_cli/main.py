"""The ``bamm`` command: text-to-motion from a terminal, no Blender needed.

Subcommands (``bamm SUBCOMMAND --help`` for details)::

    bamm generate "a person walks forward" --out walk.bvh --out walk.gif
    bamm edit walk.npz --inpaint 1.0-2.5 "a person jumps" --out jump.npz
    bamm edit walk.bvh --extend-after 2 "then sits down" --out longer.bvh
    bamm info [--model DIR]
    bamm preview motion.npy --out motion.gif

Conventions: times on the command line are **seconds**; inside, motion is the engine's
20 fps HumanML3D 22-joint skeleton (metres, Y-up).  The extension of each ``--out`` picks its
format (see :data:`OUTPUT_FORMATS`).  Files are written to a temporary name in the same folder
and renamed at the end, so an interrupted run never leaves a half-written file.

Errors the user can fix (empty prompt, unknown format, missing model, a range outside the
motion, an unreadable input) raise :class:`UserError`; :func:`main` prints them as ONE line
on stderr and returns exit code 1.  Anything else is a bug and keeps its traceback.
Exit codes: 0 success, 1 bad input, 2 bad command line, 130 interrupted.
"""
from __future__ import annotations

import argparse
import contextlib
import math
import os
import random
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np

FPS = 20  # the engine's frame rate (HumanML3D)
MIN_FRAMES, MAX_FRAMES = 4, 196  # what one generation can make (1..49 tokens of 4 frames)

OUTPUT_FORMATS = {
    ".bvh": "SMPL-22 BVH (rotations solved from the joints)",
    ".npy": "joints (T, 22, 3) float32",
    ".npz": "joints, features, tokens, fps, prompt, seed",
    ".gif": "stick-figure preview",
    ".mp4": "stick-figure preview (needs ffmpeg)",
}
INPUT_FORMATS = (".npz", ".npy", ".bvh")


class UserError(Exception):
    """A problem with the user's input; shown as one line, without a traceback."""


# --------------------------------------------------------------------------- results


@dataclass
class Result:
    """What one output file is written from.

    joints   (T, 22, 3) float32, metres, Y-up, 20 fps
    features (T, 263) float32 or None (de-normalised HumanML3D features)
    tokens   (T//4, Q) int64 or None (RVQ codes)
    """

    joints: np.ndarray
    features: np.ndarray | None
    tokens: np.ndarray | None
    prompt: str
    seed: int | None
    fps: int = FPS

    @classmethod
    def from_motion(cls, motion: Any, prompt: str, seed: int | None) -> "Result":
        """Wrap an engine ``Motion`` (anything with .joints/.features/.tokens)."""

        def arr(x, dtype):
            if x is None:
                return None
            if hasattr(x, "detach"):  # a torch tensor
                x = x.detach().cpu().numpy()
            return np.asarray(x, dtype=dtype)

        return cls(
            joints=arr(motion.joints, np.float32),
            features=arr(getattr(motion, "features", None), np.float32),
            tokens=arr(getattr(motion, "tokens", None), np.int64),
            prompt=prompt,
            seed=seed,
        )


# --------------------------------------------------------------------------- writing


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[str]:
    """Yield a temporary path next to ``path`` (same extension); rename it onto ``path`` when
    the block succeeds, delete it when the block raises (Ctrl-C included)."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}")
    os.close(fd)
    try:
        yield tmp
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes it private; give it a normal file's mode
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def check_output_path(path: str) -> Path:
    """Validate an ``--out`` path before any work is done."""
    p = Path(path)
    ext = p.suffix.lower()
    if ext not in OUTPUT_FORMATS:
        known = ", ".join(OUTPUT_FORMATS)
        raise UserError(f"unknown output format {ext or '(no extension)'!r} for {path!r}; use one of {known}")
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.is_dir():
        raise UserError(f"output folder {str(parent)!r} does not exist (for {path!r})")
    if p.is_dir():
        raise UserError(f"output path {path!r} is a folder")
    if ext == ".mp4" and shutil.which("ffmpeg") is None:
        raise UserError(f"writing {path!r} needs ffmpeg on the PATH (not found); write a .gif instead")
    return p


def numbered(path: Path, index: int, count: int) -> Path:
    """``walk.bvh`` -> ``walk_0.bvh``, ``walk_1.bvh``... when several samples are written."""
    if count <= 1:
        return path
    return path.with_name(f"{path.stem}_{index}{path.suffix}")


def write_output(result: Result, path: str | os.PathLike, quiet: bool = True) -> Path:
    """Write ``result`` to ``path`` in the format its extension names (atomically)."""
    path = Path(path)
    ext = path.suffix.lower()
    joints = np.ascontiguousarray(result.joints, dtype=np.float32)
    with atomic_path(path) as tmp:
        if ext == ".npy":
            with open(tmp, "wb") as f:
                np.save(f, joints)
        elif ext == ".npz":
            T = joints.shape[0]
            features = result.features if result.features is not None else np.zeros((0, 263), np.float32)
            tokens = result.tokens if result.tokens is not None else np.zeros((0, 6), np.int64)
            with open(tmp, "wb") as f:
                np.savez(
                    f,
                    joints=joints,
                    features=np.asarray(features, np.float32),
                    tokens=np.asarray(tokens, np.int64),
                    fps=np.int64(result.fps),
                    prompt=np.array(result.prompt),
                    seed=np.int64(-1 if result.seed is None else result.seed),
                    num_frames=np.int64(T),
                )
        elif ext == ".bvh":
            from bamm_core.formats.bvh import save_smpl22_bvh

            save_smpl22_bvh(joints, tmp, fps=result.fps)
        elif ext in (".gif", ".mp4"):
            from bamm_core.formats.preview import save_preview

            title = result.prompt if len(result.prompt) <= 60 else result.prompt[:57] + "..."
            note = slow_note(quiet, f"drawing {path.name} ({joints.shape[0]} frames)...")
            try:
                save_preview(joints, tmp, fps=result.fps, title=title or None)
            except (FileNotFoundError, RuntimeError) as e:
                if ext == ".mp4" and "ffmpeg" in str(e).lower():
                    raise UserError(f"cannot write {str(path)!r}: {e} (write a .gif instead)") from None
                raise
            finally:
                note.cancel()
        else:  # check_output_path already refused it
            raise UserError(f"unknown output format {ext!r}")
    return path


# --------------------------------------------------------------------------- reading


def _check_joints(joints: np.ndarray, source: str) -> np.ndarray:
    joints = np.asarray(joints, dtype=np.float32)
    if joints.ndim != 3 or joints.shape[1:] != (22, 3):
        raise UserError(f"{source}: expected joints of shape (T, 22, 3), got {tuple(joints.shape)}")
    if joints.shape[0] < 1:
        raise UserError(f"{source}: the motion has no frames")
    if not np.isfinite(joints).all():
        raise UserError(f"{source}: the motion contains NaN or infinite values")
    return joints


def _joints_from_array(arr: np.ndarray, source: str) -> np.ndarray:
    """(T, 22, 3) joints as they are; (T, 263) HumanML3D features -> joints."""
    arr = np.asarray(arr)
    if arr.ndim == 2 and arr.shape[1] == 263:
        from bamm_core.motion.features import recover_from_ric

        arr = recover_from_ric(arr.astype(np.float32), joints_num=22)
    return _check_joints(arr, source)


def _resample(joints: np.ndarray, src_fps: float) -> np.ndarray:
    if abs(src_fps - FPS) < 1e-6:
        return joints
    from bamm_core.motion.resampling import resample_positions

    return np.asarray(resample_positions(joints, src_fps, FPS), dtype=np.float32)


def read_motion(path: str | os.PathLike, skeleton_map: str | None = None) -> np.ndarray:
    """Read a motion file into (T, 22, 3) float32 joints at 20 fps.

    Accepted: our ``.npz`` (``joints`` key, or ``features``), ``.npy`` holding joints
    (T, 22, 3) or HumanML3D features (T, 263), and ``.bvh`` whose skeleton is SMPL-22 (the
    names our BVH export writes) or has a known joint map (see :func:`read_bvh_joints`).
    """
    p = Path(path)
    ext = p.suffix.lower()
    if ext not in INPUT_FORMATS:
        raise UserError(f"unknown input format {ext or '(no extension)'!r} for {str(p)!r}; use .npz, .npy or .bvh")
    if not p.is_file():
        raise UserError(f"input file {str(p)!r} not found")
    source = str(p)
    try:
        if ext == ".npy":
            return _joints_from_array(np.load(p, allow_pickle=False), source)
        if ext == ".npz":
            with np.load(p, allow_pickle=False) as z:
                fps = float(z["fps"]) if "fps" in z.files else FPS
                if "joints" in z.files and z["joints"].size:
                    joints = _joints_from_array(z["joints"], source)
                elif "features" in z.files and z["features"].size:
                    joints = _joints_from_array(z["features"], source)
                else:
                    raise UserError(f"{source}: no 'joints' or 'features' array in this .npz")
            return _check_joints(_resample(joints, fps), source)
    except UserError:
        raise
    except (OSError, ValueError, EOFError) as e:  # corrupt / not a numpy file
        raise UserError(f"cannot read {source}: {e}") from None
    return read_bvh_joints(p, skeleton_map)


def _referenced_joints(table: dict) -> set[str]:
    """Source joint names a skeleton map's ``joints`` table refers to."""
    from bamm_core.motion.skeleton import T2M_JOINT_NAMES

    names: set[str] = set()

    def walk(ref: Any) -> None:
        if isinstance(ref, str):
            if ref not in T2M_JOINT_NAMES:
                names.add(ref)
        elif isinstance(ref, dict):
            for v in ref.values():
                walk(v)
        elif isinstance(ref, (list, tuple)):
            for v in ref:
                walk(v)

    for v in table.values():
        walk(v)
    return names


def known_skeleton_maps() -> dict[str, dict]:
    """The skeleton maps shipped in ``training/skeleton_maps/*.json`` (e.g. ``bandai``)."""
    import json

    maps: dict[str, dict] = {}
    folder = Path(__file__).resolve().parents[1] / "training" / "skeleton_maps"
    for f in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            data = json.loads(f.read_text())
        except (OSError, ValueError):
            continue
        if isinstance(data, dict) and isinstance(data.get("joints"), dict):
            maps[f.stem] = data
    return maps


def _map_from_rig_presets(anim: Any) -> dict | None:
    """A skeleton map for a BVH whose joint names match one of the add-on's rig presets
    (Mixamo, Rigify, UE5 Mannequin, ...) on all 22 joints; None otherwise.

    BVH is Y up and faces +Z by convention; the unit is guessed from the rest skeleton's height
    (over 4 units tall: centimetres).
    """
    try:
        from bamm_core.rigs.presets import detect
    except ImportError:
        return None
    try:
        preset, match = detect(anim.names)
    except Exception:  # RetargetError: nothing recognisable
        return None
    if len(match) < 22:
        return None
    rest = np.asarray(anim.forward_kinematics()[0])  # frame 0, file units
    idx = [anim.index(b) for b in match.values()]
    height = float(np.ptp(rest[idx, 1]))
    return {"name": preset.name, "joints": dict(match), "unit_scale": 0.01 if height > 4.0 else 1.0,
            "up_axis": "+Y", "forward_axis": "+Z"}


def read_bvh_joints(path: str | os.PathLike, skeleton_map: str | None = None) -> np.ndarray:
    """Read a BVH file into (T, 22, 3) joints at 20 fps (metres, Y-up).

    The skeleton is recognised by its joint names: the SMPL-22 template names (what
    ``bamm generate --out x.bvh`` writes) are used directly; otherwise the first map of
    :func:`known_skeleton_maps` whose joints all exist in the file (Bandai Namco's mocap
    skeleton, ...) converts it.  ``skeleton_map`` (a map name or a .json path) forces one.
    """
    from bamm_core.formats import bvh as bvh_mod

    source = str(path)
    try:
        anim = bvh_mod.read_bvh(path)
    except (OSError, ValueError, IndexError, KeyError) as e:
        raise UserError(f"cannot read {source}: {e}") from None
    if anim.num_frames < 1:
        raise UserError(f"{source}: the BVH has no frames")
    names = set(anim.names)
    chosen: Any = None
    if skeleton_map is not None:
        try:
            chosen = bvh_mod.load_skeleton_map(skeleton_map)
        except (OSError, ValueError) as e:
            raise UserError(f"cannot load skeleton map {skeleton_map!r}: {e}") from None
    elif not all(n in names for n in bvh_mod.SMPL22_BVH_NAMES):
        for m in known_skeleton_maps().values():
            if _referenced_joints(m["joints"]) <= names:
                chosen = m
                break
        else:
            chosen = _map_from_rig_presets(anim)
        if chosen is None:
            shown = ", ".join(anim.names[:8]) + (", ..." if len(anim.names) > 8 else "")
            known = ", ".join(["smpl22", *known_skeleton_maps(), "rig presets (mixamo, ...)"])
            raise UserError(f"{source}: unknown skeleton (joints {shown}); known: {known}; "
                            "pass --skeleton-map NAME_OR_JSON")
    try:
        joints = bvh_mod.bvh_to_smpl22(anim, chosen)
    except (KeyError, ValueError) as e:
        raise UserError(f"{source}: {e}") from None
    return _check_joints(_resample(np.asarray(joints, np.float32), float(anim.fps)), source)


# --------------------------------------------------------------------------- engine glue


def load_engine(model: str | None, device: str, quiet: bool, clip_weights: str | None = None):
    """Engine.from_pretrained with the user's errors turned into :class:`UserError`."""
    if model is not None and not Path(model).exists():
        raise UserError(f"model folder {model!r} not found")
    if clip_weights is not None:
        if not Path(clip_weights).is_file():
            raise UserError(f"CLIP weights file {clip_weights!r} not found")
        os.environ["BAMM_CLIP_WEIGHTS"] = str(Path(clip_weights).resolve())
    try:
        from bamm_core.generation.engine import Engine
    except ModuleNotFoundError as e:
        if (e.name or "").split(".")[0] == "bamm_core":
            raise  # our own bug, keep the traceback
        raise UserError(f"the engine cannot be imported ({e}); is it installed with its dependencies?") from None
    from bamm_core.model.checkpoints import CheckpointError

    # say what is going on only when loading is slow (so a bad model stays a one-line error)
    note = slow_note(quiet, f"loading model {model or '(bundled default)'}...")
    try:
        return Engine.from_pretrained(model, device=_resolve_device(device))
    except (CheckpointError, FileNotFoundError, ValueError) as e:  # not a model, missing files
        msg = str(e).strip().replace("\n", " ")
        if model is None:
            hint = "" if "model folder" in msg else "; pass --model DIR"
            raise UserError(f"cannot load the bundled default model: {msg}{hint}") from None
        raise UserError(f"cannot load model {model!r}: {msg}") from None
    finally:
        note.cancel()


def _resolve_device(device: str) -> str:
    if device != "auto":
        if device.startswith("cuda") or device == "mps":
            import torch

            ok = torch.cuda.is_available() if device.startswith("cuda") else torch.backends.mps.is_available()
            if not ok:
                raise UserError(f"device {device!r} is not available on this machine")
        return device
    import torch

    if torch.cuda.is_available():
        return "cuda"
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


class Progress:
    """A tqdm bar on stderr fed by the engine's ``progress(done, total)`` callback.

    The bar only appears when the work lasts more than a second (tqdm's ``delay``).
    """

    def __init__(self, desc: str, quiet: bool):
        self.desc, self.quiet, self.bar = desc, quiet, None

    def __call__(self, done: int, total: int) -> bool:
        if self.quiet:
            return True
        if self.bar is None:
            from tqdm import tqdm

            self.bar = tqdm(total=total, desc=self.desc, unit="step", delay=1.0, file=sys.stderr, leave=False)
        if total != self.bar.total:
            self.bar.total = total
        self.bar.update(done - self.bar.n)  # update() honours the 1 s delay; refresh() would not
        return True

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _engine_call(fn: Callable, *args, **kwargs):
    """Call an engine method; its ValueErrors are about the user's arguments, its
    TextEncoderErrors about the user's setup (e.g. CLIP weights not found)."""
    from bamm_core.model.text_encoders import TextEncoderError

    try:
        return fn(*args, **kwargs)
    except (ValueError, TextEncoderError) as e:
        raise UserError(str(e).strip().replace("\n", " ")) from None


def _say(quiet: bool, msg: str) -> None:
    if not quiet:
        print(msg, file=sys.stderr, flush=True)


def slow_note(quiet: bool, msg: str, after: float = 1.0):
    """Print ``msg`` on stderr if the work takes longer than ``after`` seconds; call
    ``.cancel()`` on the result when the work is done."""
    import threading

    note = threading.Timer(after, _say, (quiet, msg))
    note.daemon = True
    note.start()
    return note


# --------------------------------------------------------------------------- argument types


def seconds_to_frames(seconds: float, what: str) -> int:
    if not math.isfinite(seconds) or seconds <= 0:
        raise UserError(f"{what} must be a positive number of seconds, got {seconds:g}")
    frames = int(round(seconds * FPS))
    if frames < 1:
        raise UserError(f"{what} of {seconds:g} s is shorter than one frame at {FPS} fps")
    return frames


def parse_length(text: str) -> int | None:
    """``auto`` -> None (predicted by the model); ``SECONDS`` -> frames at 20 fps."""
    if text.strip().lower() in ("auto", "predicted", ""):
        return None
    try:
        seconds = float(text)
    except ValueError:
        raise UserError(f"--length must be 'auto' or a number of seconds, got {text!r}") from None
    frames = seconds_to_frames(seconds, "--length")
    if not MIN_FRAMES <= frames <= MAX_FRAMES:
        raise UserError(f"--length must be between {MIN_FRAMES / FPS:g} and {MAX_FRAMES / FPS:g} seconds "
                        f"(or auto), got {text}")
    return frames


def parse_min_length(seconds: float) -> int:
    """``--min-length`` seconds -> frames at 20 fps (the shortest predicted length)."""
    frames = seconds_to_frames(seconds, "--min-length")
    if not MIN_FRAMES <= frames <= MAX_FRAMES:
        raise UserError(f"--min-length must be between {MIN_FRAMES / FPS:g} and "
                        f"{MAX_FRAMES / FPS:g} seconds, got {seconds:g}")
    return frames


def parse_range(text: str) -> tuple[float, float]:
    """``"1.5-3"`` (seconds) -> (1.5, 3.0)."""
    parts = text.replace(":", "-").split("-")
    try:
        if len(parts) != 2:
            raise ValueError
        start, end = float(parts[0]), float(parts[1])
    except ValueError:
        raise UserError(f"--inpaint must be START-END in seconds (e.g. 1.5-3), got {text!r}") from None
    if not (math.isfinite(start) and math.isfinite(end)) or start < 0 or end <= start:
        raise UserError(f"--inpaint range {text!r} is empty or negative; END must be after START")
    return start, end


def check_prompt(prompt: str) -> str:
    prompt = (prompt or "").strip()
    if not prompt:
        raise UserError("the prompt is empty; describe the motion, e.g. \"a person walks forward\"")
    return prompt


# --------------------------------------------------------------------------- subcommands


def cmd_generate(args: argparse.Namespace) -> int:
    prompt = check_prompt(args.prompt)
    length = parse_length(args.length)
    min_length = parse_min_length(args.min_length)
    if args.num_samples < 1:
        raise UserError(f"--num-samples must be at least 1, got {args.num_samples}")
    outs = [check_output_path(o) for o in args.out]
    seed = args.seed if args.seed is not None else random.randrange(2**31)
    eng = load_engine(args.model, args.device, args.quiet, args.clip_weights)
    with Progress("generating", args.quiet) as progress:
        motions = _engine_call(
            eng.generate, prompt, length=length, seed=seed, num_samples=args.num_samples, progress=progress,
            min_length=min_length,
        )
    if not isinstance(motions, (list, tuple)):
        motions = [motions]
    for i, motion in enumerate(motions):
        result = Result.from_motion(motion, prompt, seed)
        for out in outs:
            written = write_output(result, numbered(out, i, len(motions)), args.quiet)
            _say(args.quiet, f"wrote {written} ({result.joints.shape[0]} frames, {result.joints.shape[0] / FPS:.2f} s)")
    return 0


def cmd_edit(args: argparse.Namespace) -> int:
    prompt = check_prompt(args.prompt)
    outs = [check_output_path(o) for o in args.out]
    joints = read_motion(args.input, args.skeleton_map)
    T = joints.shape[0]
    if args.inpaint is not None:
        s0, s1 = parse_range(args.inpaint)
        start, end = int(round(s0 * FPS)), int(round(s1 * FPS))
        if end > T or start >= T:
            raise UserError(
                f"--inpaint {args.inpaint} is outside the motion, which is {T / FPS:.2f} s long ({T} frames at {FPS} fps)"
            )
        if end <= start:
            raise UserError(f"--inpaint {args.inpaint} is shorter than one frame at {FPS} fps")
    else:
        seconds = args.extend_before if args.extend_before is not None else args.extend_after
        which = "--extend-before" if args.extend_before is not None else "--extend-after"
        frames = seconds_to_frames(seconds, which)
    seed = args.seed if args.seed is not None else random.randrange(2**31)
    eng = load_engine(args.model, args.device, args.quiet, args.clip_weights)
    motion = _engine_call(eng.motion_from_joints, joints)
    with Progress("editing", args.quiet) as progress:
        if args.inpaint is not None:
            edited = _engine_call(eng.inpaint, motion, start=start, end=end, text=prompt, seed=seed, progress=progress)
        else:
            kw = {"extend_before": frames} if args.extend_before is not None else {"extend_after": frames}
            edited = _engine_call(eng.outpaint, motion, text=prompt, seed=seed, progress=progress, **kw)
    result = Result.from_motion(edited, prompt, seed)
    if args.inpaint is not None:
        result = keep_outside(result, joints, start, end)
    for out in outs:
        written = write_output(result, out, args.quiet)
        _say(args.quiet, f"wrote {written} ({result.joints.shape[0]} frames, {result.joints.shape[0] / FPS:.2f} s)")
    return 0


def keep_outside(result: Result, original: np.ndarray, start: int, end: int) -> Result:
    """Guarantee the user's frames outside [start, end) are exactly the input's."""
    if result.joints.shape[0] != original.shape[0]:
        return result
    joints = result.joints.copy()
    joints[:start] = original[:start]
    joints[end:] = original[end:]
    result.joints = joints
    return result


def cmd_info(args: argparse.Namespace) -> int:
    eng = load_engine(args.model, args.device, True, args.clip_weights)
    from bamm_core.model.checkpoints import DEFAULT_MODEL_DIR

    info = {"path": str(Path(args.model).resolve() if args.model else DEFAULT_MODEL_DIR), **eng.info()}
    if args.json:
        import json

        print(json.dumps(info, indent=2, default=str))
        return 0
    print(format_info(info))
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
    outs = [check_output_path(o) for o in args.out]
    for o in outs:
        if o.suffix.lower() not in (".gif", ".mp4"):
            raise UserError(f"preview writes .gif or .mp4, not {o.suffix!r} ({str(o)!r})")
    joints = read_motion(args.input, args.skeleton_map)
    title = args.title if args.title is not None else Path(args.input).stem
    for out in outs:
        write_output(Result(joints, None, None, title, None), out, args.quiet)
        _say(args.quiet, f"wrote {out} ({joints.shape[0]} frames, {joints.shape[0] / FPS:.2f} s)")
    return 0


# --------------------------------------------------------------------------- parser


class _Parser(argparse.ArgumentParser):
    """argparse, but a command-line mistake is one line, not usage + error."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)  # -q works before or after the subcommand
    common.add_argument("-q", "--quiet", action="store_true", default=argparse.SUPPRESS,
                        help="no progress or messages on stderr")
    model = argparse.ArgumentParser(add_help=False)
    model.add_argument("--model", metavar="DIR", default=None,
                       help="model folder (ours or an official BAMM checkpoints/ tree); default: the bundled model")
    model.add_argument("--device", default="cpu", help="cpu (default), cuda, cuda:N, mps or auto")
    model.add_argument("--clip-weights", metavar="FILE", default=None,
                       help="OpenAI CLIP ViT-B/32 weights (ViT-B-32.pt) for models that use CLIP text features")
    gen = argparse.ArgumentParser(add_help=False)
    gen.add_argument("--seed", type=int, default=None, help="random seed (default: a random one, stored in .npz)")
    fmt = ", ".join(f"{k} ({v})" for k, v in OUTPUT_FORMATS.items())

    p = _Parser(prog="bamm", description="BAMM Motion: text-to-motion from the command line.")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress or messages on stderr")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    g = sub.add_parser("generate", parents=[common, model, gen], help="generate a motion from a prompt",
                       description=f"Generate a motion from a text prompt. Output formats by extension: {fmt}.")
    g.add_argument("prompt", help="what the person does, e.g. \"a person walks forward\"")
    g.add_argument("--length", default="auto", metavar="auto|SECONDS",
                   help="motion length in seconds, or auto (predicted by the model; default)")
    g.add_argument("--min-length", type=float, default=2.0, metavar="SECONDS",
                   help="with --length auto: the shortest length the model may predict (default 2)")
    g.add_argument("--num-samples", type=int, default=1, metavar="K",
                   help="K variations; outputs are then named FILE_0.ext ... FILE_{K-1}.ext")
    g.add_argument("--out", action="append", required=True, metavar="FILE", help="output file; repeatable")
    g.set_defaults(func=cmd_generate)

    e = sub.add_parser("edit", parents=[common, model, gen], help="inpaint or extend an existing motion",
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
                   help="joint map for a BVH INPUT whose skeleton is not recognised (e.g. bandai)")
    e.add_argument("--out", action="append", required=True, metavar="FILE", help="output file; repeatable")
    e.set_defaults(func=cmd_edit)

    i = sub.add_parser("info", parents=[common, model], help="show the model, text encoder, sizes and license",
                       description="Show which model would be used, its text encoder, sizes and data license.")
    i.add_argument("--json", action="store_true", help="print JSON")
    i.set_defaults(func=cmd_info)

    v = sub.add_parser("preview", parents=[common], help="stick-figure GIF/MP4 of a motion file",
                       description="Write a stick-figure preview of a .npy (joints or HumanML3D features), "
                                   ".npz or .bvh motion.")
    v.add_argument("input", metavar="MOTION")
    v.add_argument("--out", action="append", required=True, metavar="FILE", help=".gif or .mp4; repeatable")
    v.add_argument("--skeleton-map", metavar="NAME|JSON", default=None,
                   help="joint map for a BVH whose skeleton is not recognised (e.g. bandai)")
    v.add_argument("--title", default=None, help="title drawn on the preview (default: the file name)")
    v.set_defaults(func=cmd_preview)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``bamm`` console command; returns the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # --help (0) or a command-line mistake (2)
        return int(e.code or 0)
    try:
        return int(args.func(args) or 0)
    except UserError as e:
        print(f"bamm {args.command}: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"bamm {args.command}: interrupted; no output written for the unfinished step", file=sys.stderr)
        return 130
    except _cancelled_type() as e:  # the engine's GenerationCancelled
        print(f"bamm {args.command}: cancelled ({e})", file=sys.stderr)
        return 130


def _cancelled_type() -> type:
    mod = sys.modules.get("bamm_core.generation.engine")
    return getattr(mod, "GenerationCancelled", KeyboardInterrupt) if mod else KeyboardInterrupt


if __name__ == "__main__":
    sys.exit(main())
