"""Motion files: our own output formats and the motion inputs the engine can read.

Outputs (:data:`OUTPUT_FORMATS`, chosen by extension) are written from a
:class:`~bamm_core.motion.clip.Motion` (an engine's, or one built from joints) by
:func:`write_motion`, atomically (see :mod:`.paths`)::

    write_motion(engine.generate("a person walks", seed=7), "walk.npz")   # .npz .npy .bvh .gif .mp4 .png

The seed and prompt are kept wherever the format has room for them: ``.npz`` arrays, a GIF
comment extension, a PNG ``tEXt`` chunk.  BVH has no comment syntax that every importer
accepts, and the MP4 writer takes no metadata, so front ends print the seed for those.

Inputs (:func:`read_motion`): ``.npz`` (ours: ``joints`` or ``features``), ``.npy`` holding
joints ``(T, 22, 3)`` or HumanML3D features ``(T, 263)``, and ``.bvh``: an SMPL-22-named
BVH (what we write) directly, any other skeleton through a ``bvh_reader`` the caller passes
(the rig layer's reader; formats do not import rigs).  Motions come back as ``(T, 22, 3)``
float32 joints at the caller's frame rate (its model's timebase).

Bad files raise :class:`MotionFileError` (a ValueError) with a one-line message.
"""
from __future__ import annotations

import os
import shutil
import struct
import zlib
from pathlib import Path
from typing import Callable

import numpy as np

from ..motion.clip import Motion
from ..motion.resampling import resample_positions
from ..motion.timebase import HUMANML3D
from .paths import atomic_path, check_extension, check_output_path

OUTPUT_FORMATS = {
    ".bvh": "SMPL-22 BVH (rotations solved from the joints)",
    ".npy": "joints (T, 22, 3) float32",
    ".npz": "joints, features, tokens, fps, prompt, seed (+ segments, prompts of a timeline)",
    ".gif": "stick-figure preview (prompt and seed in a GIF comment)",
    ".mp4": "stick-figure preview (needs ffmpeg)",
    ".png": "contact sheet of 8 frames (prompt and seed in PNG text)",
}
INPUT_FORMATS = (".npz", ".npy", ".bvh")
PREVIEW_FORMATS = (".gif", ".mp4", ".png")
TITLE_CHARS = 60  # longer prompts are shortened in preview titles

#: ``bvh_reader(path) -> (joints (T, 22, 3) metres Y-up, fps)`` for skeletons other than SMPL-22
BVHReader = Callable[[Path], "tuple[np.ndarray, float]"]


class MotionFileError(ValueError):
    """A motion file cannot be written or read; the message says why, in one line."""


# --------------------------------------------------------------------------- records


def note(motion: Motion) -> str:
    """The prompt and seed as one line (GIF comment, PNG text)."""
    seed = "" if motion.seed is None else f"seed: {motion.seed}"
    return "; ".join(s for s in (f"prompt: {motion.text}" if motion.text else "", seed) if s)


# --------------------------------------------------------------------------- output paths


def check_output(path: str | os.PathLike) -> Path:
    """``path`` as a Path if a motion can be written there (known extension, folder exists,
    ffmpeg on the PATH for .mp4); else MotionFileError.  Call it before doing any work."""
    try:
        p = check_output_path(path, OUTPUT_FORMATS)
    except ValueError as e:
        raise MotionFileError(str(e)) from None
    if p.suffix.lower() == ".mp4" and shutil.which("ffmpeg") is None:
        raise MotionFileError(f"writing {str(path)!r} needs ffmpeg on the PATH (not found); "
                              "write a .gif instead")
    return p


def numbered(path: Path, index: int, count: int) -> Path:
    """``walk.bvh`` -> ``walk_0.bvh``, ``walk_1.bvh``... when several samples are written."""
    if count <= 1:
        return path
    return path.with_name(f"{path.stem}_{index}{path.suffix}")


# --------------------------------------------------------------------------- writing


def _fps_value(fps: float) -> np.ndarray:
    fps = float(fps)
    return np.int64(fps) if fps.is_integer() else np.float64(fps)


def _write_npz(rec: Motion, tmp: str, joints: np.ndarray) -> None:
    features = rec.features if rec.features is not None else np.zeros((0, 263), np.float32)
    tokens = rec.tokens if rec.tokens is not None else np.zeros((0, 6), np.int64)
    segments = rec.info.get("segments") or []  # a composed motion: [start, end) frames, prompts
    timeline = {"segments": np.array([[s["start"], s["end"]] for s in segments], np.int64),
                "prompts": np.array([s["prompt"] for s in segments])} if segments else {}
    with open(tmp, "wb") as f:
        np.savez(f, joints=joints, features=np.asarray(features, np.float32),
                 tokens=np.asarray(tokens, np.int64), fps=_fps_value(rec.fps),
                 prompt=np.array(rec.text or ""), seed=np.int64(-1 if rec.seed is None else rec.seed),
                 num_frames=np.int64(joints.shape[0]), **timeline)


def _title(prompt: str | None) -> str | None:
    prompt = prompt or ""
    if len(prompt) <= TITLE_CHARS:
        return prompt or None
    return prompt[:TITLE_CHARS - 3] + "..."


def _write_preview(rec: Motion, tmp: str, joints: np.ndarray, ext: str) -> None:
    from .preview import save_contact_sheet, save_preview

    try:
        if ext == ".png":
            save_contact_sheet(joints, tmp, title=_title(rec.text), fps=rec.fps)
        else:
            save_preview(joints, tmp, fps=rec.fps, title=_title(rec.text))
    except (FileNotFoundError, RuntimeError) as e:
        if ext == ".mp4" and "ffmpeg" in str(e).lower():
            raise MotionFileError(f"cannot write {ext}: {e} (write a .gif instead)") from None
        raise
    text = note(rec)
    if text and ext == ".gif":
        add_gif_comment(tmp, text)
    elif text and ext == ".png":
        add_png_text(tmp, "Comment", text)


def write_motion(rec: Motion, path: str | os.PathLike) -> Path:
    """Write the motion ``rec`` to ``path`` in the format its extension names (atomically);
    its ``text`` and ``seed`` go wherever the format has room for them."""
    path = Path(path)
    try:
        ext = check_extension(path, OUTPUT_FORMATS)
    except ValueError as e:
        raise MotionFileError(str(e)) from None
    joints = np.ascontiguousarray(rec.joints, dtype=np.float32)
    with atomic_path(path) as tmp:
        if ext == ".npy":
            with open(tmp, "wb") as f:
                np.save(f, joints)
        elif ext == ".npz":
            _write_npz(rec, tmp, joints)
        elif ext == ".bvh":
            from .smpl22_bvh import save_smpl22_bvh

            save_smpl22_bvh(joints, tmp, fps=rec.fps)
        else:
            _write_preview(rec, tmp, joints, ext)
    return path


# --------------------------------------------------------------------------- metadata


def add_gif_comment(path: str | os.PathLike, text: str) -> None:
    """Insert a GIF89a comment extension (``0x21 0xFE``) before the first frame."""
    data = Path(path).read_bytes()
    if data[:6] not in (b"GIF87a", b"GIF89a"):
        raise MotionFileError(f"{path}: not a GIF file")
    flags = data[10]
    head = 13 + (3 * 2 ** ((flags & 7) + 1) if flags & 0x80 else 0)  # header + global colours
    raw = text.encode("utf-8")
    blocks = b"".join(bytes([len(raw[i:i + 255])]) + raw[i:i + 255] for i in range(0, len(raw), 255))
    Path(path).write_bytes(b"GIF89a" + data[6:head] + b"\x21\xfe" + blocks + b"\x00" + data[head:])


def add_png_text(path: str | os.PathLike, key: str, text: str) -> None:
    """Insert an ``iTXt`` chunk (UTF-8 ``key``: ``text``) right after the PNG header."""
    data = Path(path).read_bytes()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise MotionFileError(f"{path}: not a PNG file")
    ihdr_end = 8 + 8 + struct.unpack(">I", data[8:12])[0] + 4  # signature + IHDR chunk
    body = b"iTXt" + key.encode("latin-1") + b"\x00\x00\x00\x00\x00" + text.encode("utf-8")
    chunk = struct.pack(">I", len(body) - 4) + body + struct.pack(">I", zlib.crc32(body))
    Path(path).write_bytes(data[:ihdr_end] + chunk + data[ihdr_end:])


# --------------------------------------------------------------------------- reading


def check_joints(joints: np.ndarray, source: str) -> np.ndarray:
    """(T, 22, 3) finite float32 joints with at least one frame, else MotionFileError."""
    joints = np.asarray(joints, dtype=np.float32)
    if joints.ndim != 3 or joints.shape[1:] != (22, 3):
        raise MotionFileError(f"{source}: expected joints of shape (T, 22, 3), got {tuple(joints.shape)}")
    if joints.shape[0] < 1:
        raise MotionFileError(f"{source}: the motion has no frames")
    if not np.isfinite(joints).all():
        raise MotionFileError(f"{source}: the motion contains NaN or infinite values")
    return joints


def _joints_from_array(arr: np.ndarray, source: str) -> np.ndarray:
    """(T, 22, 3) joints as they are; (T, 263) HumanML3D features -> joints."""
    arr = np.asarray(arr)
    if arr.ndim == 2 and arr.shape[1] == 263:
        from ..motion.features import recover_from_ric

        arr = recover_from_ric(arr.astype(np.float32), joints_num=22)
    return check_joints(arr, source)


def _read_npz(p: Path, source: str, fps: float) -> tuple[np.ndarray, float]:
    with np.load(p, allow_pickle=False) as z:
        src_fps = float(z["fps"]) if "fps" in z.files else fps
        for key in ("joints", "features"):
            if key in z.files and z[key].size:
                return _joints_from_array(z[key], source), src_fps
    raise MotionFileError(f"{source}: no 'joints' or 'features' array in this .npz")


def _read_smpl22_bvh(p: Path) -> tuple[np.ndarray, float]:
    from .bvh import read_bvh
    from .smpl22_bvh import bvh_to_smpl22

    anim = read_bvh(p)
    if anim.num_frames < 1:
        raise MotionFileError(f"{p}: the BVH has no frames")
    return bvh_to_smpl22(anim), float(anim.fps)


def read_motion(path: str | os.PathLike, fps: float = HUMANML3D.fps,
                bvh_reader: BVHReader | None = None) -> np.ndarray:
    """Read a motion file into ``(T, 22, 3)`` float32 joints at ``fps`` (see the module
    docstring for the formats; a ``.npy``, which has no frame rate, is taken to be at
    ``fps``).  ``bvh_reader`` reads BVH skeletons other than SMPL-22."""
    p = Path(path)
    source = str(p)
    try:
        ext = check_extension(p, INPUT_FORMATS, "input")
    except ValueError as e:
        raise MotionFileError(str(e)) from None
    if not p.is_file():
        raise MotionFileError(f"input file {source!r} not found")
    try:
        if ext == ".npy":
            joints, src_fps = _joints_from_array(np.load(p, allow_pickle=False), source), fps
        elif ext == ".npz":
            joints, src_fps = _read_npz(p, source, fps)
        else:
            joints, src_fps = (bvh_reader or _read_smpl22_bvh)(p)
    except MotionFileError:
        raise
    except (OSError, ValueError, EOFError, IndexError, KeyError) as e:  # corrupt / wrong kind of file
        msg = " ".join(str(e).split())
        raise MotionFileError(f"cannot read {msg if msg.startswith(source) else f'{source}: {msg}'}") from None
    joints = resample_positions(check_joints(joints, source), float(src_fps), float(fps))
    return check_joints(joints.astype(np.float32), source)


__all__ = ["note", "MotionFileError", "OUTPUT_FORMATS", "INPUT_FORMATS", "PREVIEW_FORMATS",
           "check_output", "numbered", "write_motion", "read_motion", "check_joints",
           "add_gif_comment", "add_png_text"]
