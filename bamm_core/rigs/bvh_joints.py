"""Any BVH skeleton -> the 22 HumanML3D joints, with a rig preset (one format for rigs and
mocap skeletons, see :mod:`bamm_core.rigs.presets`).

>>> joints, fps = read_bvh_joints("take.bvh")             # auto-detected skeleton
>>> joints, fps = read_bvh_joints("take.bvh", "bandai")   # or a preset name / .json path

Joints come back in metres, Y up, the performer facing +Z (left side +X), at the file's fps.
Our own SMPL-22 export (:mod:`bamm_core.formats.smpl22_bvh`) is read exactly; other skeletons
are mapped with the preset's ``joints`` table (bone names and derived points), its
``up_axis`` / ``forward_axis`` / ``mirror`` and ``unit_scale`` (file units -> metres; when
absent, centimetres are assumed for a skeleton over 4 units tall, else metres).
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..formats.bvh import BVH, read_bvh
from ..formats.smpl22_bvh import bvh_to_smpl22, is_smpl22_bvh
from .presets import RigPreset, get_preset, registry
from .rest_pose import JOINT_NAMES

END_SITE = ".end_site"  # a joint's End Site as a point in maps: {"lerp": ["LeftFoot", "LeftFoot.end_site", 1]}
ENGINE_PRESET = "smpl22"  # the engine's own skeleton: its rig names and its BVH export's names
_AXES = {"+X": [1, 0, 0], "-X": [-1, 0, 0], "+Y": [0, 1, 0], "-Y": [0, -1, 0],
         "+Z": [0, 0, 1], "-Z": [0, 0, -1]}


def axes_matrix(up_axis: str = "+Y", forward_axis: str = "+Z", mirror: bool = False) -> np.ndarray:
    """Matrix ``M`` with ``p_ours = M @ p_source``: the source's up axis becomes +Y and its
    forward axis +Z (so the left is +X).  ``mirror=True`` for left-handed sources."""
    try:
        up = np.array(_AXES[up_axis.upper()], dtype=np.float64)
        fw = np.array(_AXES[forward_axis.upper()], dtype=np.float64)
    except KeyError as e:
        raise ValueError(f"axes are one of {', '.join(_AXES)}, got {e.args[0]!r}") from None
    if abs(up @ fw) > 0:
        raise ValueError(f"up axis {up_axis} and forward axis {forward_axis} must differ")
    m = np.stack([np.cross(up, fw), up, fw])  # rows: new x, y, z in source coordinates
    if mirror:
        m[0] *= -1
    return m


def _resolver(preset: RigPreset, names: list[str]):
    """(bones {joint: source index}, derived {joint: ref}, missing joints) of a preset on a
    skeleton's joint names."""
    index = {n: i for i, n in enumerate(names)}
    bones = {j: index[b] for j, b in preset.match(names).items()}
    derived = {j: ref for j, ref in preset.points.items() if j not in bones}
    missing = [j for j in JOINT_NAMES if j not in bones and j not in derived]
    return bones, derived, missing


def map_positions(positions: np.ndarray, names: list[str], preset: RigPreset) -> np.ndarray:
    """Source world positions ``(F, J, 3)`` -> the 22 joints ``(F, 22, 3)`` with a preset."""
    bones, derived, missing = _resolver(preset, names)
    if missing:
        raise ValueError(f"rig preset {preset.name!r} finds no joint for {', '.join(missing)} in this "
                         f"skeleton (joints: {', '.join(names)})")
    lookup = {preset.key(n): i for i, n in enumerate(names)}
    out = {j: positions[:, i] for j, i in bones.items()}

    def point(ref):
        if not isinstance(ref, str):
            raise ValueError(f"rig preset {preset.name!r}: bad joint reference {ref!r}")
        if ref in out:
            return out[ref]
        if ref in derived:
            return resolve(ref)
        if preset.key(ref) in lookup:
            return positions[:, lookup[preset.key(ref)]]
        raise ValueError(f"rig preset {preset.name!r} refers to {ref!r}, which is neither a joint of "
                         f"this skeleton nor a mapped SMPL joint (joints: {', '.join(names)})")

    def resolve(joint):
        if joint not in out:
            ref = derived[joint]
            if "lerp" in ref:
                a, b, t = ref["lerp"]
                out[joint] = (1.0 - t) * point(a) + t * point(b)
            else:
                out[joint] = np.mean([point(r) for r in ref["mean"]], axis=0)
        return out[joint]

    return np.stack([out[j] if j in out else resolve(j) for j in JOINT_NAMES], axis=1)


def matched_joints(anim: BVH, preset: RigPreset) -> int:
    """How many of the 22 joints a preset finds on a BVH skeleton (derived points included)."""
    bones, derived, missing = _resolver(preset, anim.names)
    return 0 if missing else len(bones) + len(derived)


def detect_bvh_preset(anim: BVH) -> RigPreset | None:
    """The registry preset that maps all 22 joints of the skeleton with the most bones (ties:
    the first in registry order); None if none does."""
    best, best_n = None, 0
    for p in registry().values():
        bones, _, missing = _resolver(p, anim.names)
        if not missing and len(bones) > best_n:
            best, best_n = p, len(bones)
    return best


def _unit_scale(preset: RigPreset, pos: np.ndarray) -> float:
    if preset.unit_scale is not None:
        return preset.unit_scale
    height = float(np.ptp(pos[0, :, 1]))  # frame 0, already Y up
    return 0.01 if height > 4.0 else 1.0


def bvh_joints(anim: BVH, preset: str | os.PathLike | RigPreset | None = None) -> np.ndarray:
    """The 22 joints ``(F, 22, 3)`` (metres, Y up, facing +Z) of a parsed BVH at its own fps.

    ``preset``: None = auto-detect (our SMPL-22 export, else :func:`detect_bvh_preset`),
    ``"auto"`` = an automatic map from the hierarchy (:func:`~.automap.auto_map`), a registry
    name, a ``.json`` path or a :class:`RigPreset`.  ValueError names the known
    presets when none fits.
    """
    if anim.num_frames < 1:
        raise ValueError("the BVH has no frames")
    if preset is None or preset == ENGINE_PRESET:
        if is_smpl22_bvh(anim):
            return bvh_to_smpl22(anim)
    if preset is None:
        preset = detect_bvh_preset(anim)
        if preset is None:
            shown = ", ".join(anim.names[:8]) + (", ..." if len(anim.names) > 8 else "")
            raise ValueError(f"unknown skeleton (joints {shown}); known presets: "
                             f"{', '.join(registry())}; pass a preset name or a .json map")
    if preset == "auto":
        from .automap import auto_map

        preset = auto_map(anim)
    p = get_preset(preset)
    m = axes_matrix(p.up_axis, p.forward_axis, p.mirror)
    pos = anim.forward_kinematics(end_sites=True) @ m.T  # End Sites: "<joint>.end_site" in maps
    names = anim.names + [j.name + END_SITE for j in anim.joints if j.end_site is not None]
    return map_positions(pos * _unit_scale(p, pos[:, :len(anim.names)]), names, p)


def read_bvh_joints(path: str | os.PathLike,
                    preset: str | os.PathLike | RigPreset | None = None) -> tuple[np.ndarray, float]:
    """Read a BVH file onto the 22 joints -> (joints ``(F, 22, 3)`` float64 metres Y up, fps).

    See :func:`bvh_joints` for ``preset``.  Errors (unreadable file, unknown skeleton or
    preset, joints a preset cannot find) are ValueError / OSError naming the file.
    """
    anim = read_bvh(Path(path))
    try:
        return bvh_joints(anim, preset), float(anim.fps)
    except ValueError as e:
        raise ValueError(f"{path}: {e}") from None


__all__ = ["read_bvh_joints", "bvh_joints", "detect_bvh_preset", "matched_joints", "map_positions",
           "axes_matrix", "ENGINE_PRESET"]
