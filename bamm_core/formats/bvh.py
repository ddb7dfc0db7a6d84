"""BVH motion files: read, write and forward kinematics of any hierarchy.

A :class:`BVH` holds any hierarchy: joints in file (depth-first) order with their parent, rest
``offset`` (file units), channel list (any order, 3 or 6 channels, also on non-root joints),
optional End Site offset, the frame time and the raw ``motion`` matrix ``(F, C)``.

Channel semantics (the common convention, also Blender's for the root): a joint with position
channels is placed at those values in its parent's frame *instead of* its OFFSET; rotation
channels listed as e.g. ``Zrotation Xrotation Yrotation`` compose as ``R = Rz @ Rx @ Ry``
(degrees), and a joint's world transform is ``parent_world @ [R | t]``.

The SMPL-22 export (our own skeleton) is :mod:`bamm_core.formats.smpl22_bvh`; reading any
BVH skeleton onto the 22 joints with a rig preset is :mod:`bamm_core.rigs.bvh_joints`.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..motion.rotations import euler_to_matrix

_POS = {"Xposition": 0, "Yposition": 1, "Zposition": 2}
_ROT = {"Xrotation": "X", "Yrotation": "Y", "Zrotation": "Z"}


@dataclass
class BVHJoint:
    name: str
    parent: int                      # index into BVH.joints, -1 for the root
    offset: np.ndarray               # (3,) rest offset from the parent, file units
    channels: list[str]              # e.g. ["Xposition", ..., "Zrotation", "Xrotation", "Yrotation"]
    end_site: np.ndarray | None = None   # (3,) End Site offset, if the joint has one

    @property
    def rotation_order(self) -> str:
        return "".join(_ROT[c] for c in self.channels if c in _ROT)

    @property
    def has_position(self) -> bool:
        return any(c in _POS for c in self.channels)


@dataclass
class BVH:
    joints: list[BVHJoint]
    frame_time: float
    motion: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))  # (F, C) float64

    # -- structure ---------------------------------------------------------------------------
    @property
    def names(self) -> list[str]:
        return [j.name for j in self.joints]

    @property
    def parents(self) -> list[int]:
        return [j.parent for j in self.joints]

    @property
    def offsets(self) -> np.ndarray:
        return np.stack([j.offset for j in self.joints])

    @property
    def num_frames(self) -> int:
        return int(self.motion.shape[0])

    @property
    def fps(self) -> float:
        return 1.0 / self.frame_time

    def index(self, name: str) -> int:
        try:
            return self.names.index(name)
        except ValueError:
            raise KeyError(f"joint {name!r} not in this BVH (joints: {', '.join(self.names)})") from None

    def channel_slices(self) -> list[slice]:
        out, c = [], 0
        for j in self.joints:
            out.append(slice(c, c + len(j.channels)))
            c += len(j.channels)
        return out

    @property
    def num_channels(self) -> int:
        return sum(len(j.channels) for j in self.joints)

    # -- per-frame local transforms ----------------------------------------------------------
    def local_transforms(self) -> tuple[np.ndarray, np.ndarray]:
        """Local rotations ``(F, J, 3, 3)`` and translations ``(F, J, 3)`` for every frame."""
        F, J = self.num_frames, len(self.joints)
        rots = np.broadcast_to(np.eye(3), (F, J, 3, 3)).copy()
        trans = np.broadcast_to(self.offsets, (F, J, 3)).copy()
        for ji, (j, sl) in enumerate(zip(self.joints, self.channel_slices())):
            vals = self.motion[:, sl]
            rot_cols = [k for k, c in enumerate(j.channels) if c in _ROT]
            pos_cols = [(k, _POS[c]) for k, c in enumerate(j.channels) if c in _POS]
            if len(rot_cols) == 3:
                rots[:, ji] = euler_to_matrix(vals[:, rot_cols], j.rotation_order)
            elif rot_cols:  # 1 or 2 rotation channels: compose them one by one
                for k in rot_cols:
                    ang = np.zeros((F, 3))
                    axis = _ROT[j.channels[k]]
                    ang[:, 0] = vals[:, k]
                    order = axis + "".join(a for a in "XYZ" if a != axis)
                    rots[:, ji] = rots[:, ji] @ euler_to_matrix(ang, order)
            if pos_cols:
                for k, axis in pos_cols:
                    trans[:, ji, axis] = vals[:, k]
        return rots, trans

    def forward_kinematics(self, end_sites: bool = False) -> np.ndarray:
        """World joint positions ``(F, J, 3)`` in file units (``end_sites=True`` appends the
        End Site positions, in joint order, after the joints)."""
        rots, trans = self.local_transforms()
        F, J = self.num_frames, len(self.joints)
        wrot = np.zeros_like(rots)
        wpos = np.zeros((F, J, 3))
        for ji, j in enumerate(self.joints):
            if j.parent < 0:
                wrot[:, ji] = rots[:, ji]
                wpos[:, ji] = trans[:, ji]
            else:
                p = j.parent
                wrot[:, ji] = wrot[:, p] @ rots[:, ji]
                wpos[:, ji] = wpos[:, p] + np.einsum("fij,fj->fi", wrot[:, p], trans[:, ji])
        if end_sites:
            ends = [wpos[:, ji] + np.einsum("fij,j->fi", wrot[:, ji], j.end_site)
                    for ji, j in enumerate(self.joints) if j.end_site is not None]
            if ends:
                wpos = np.concatenate([wpos, np.stack(ends, 1)], 1)
        return wpos


# --- reading ------------------------------------------------------------------------------------

def _tokens(text: str) -> list[str]:
    return text.split()


def parse_bvh(text: str, source: str = "<string>") -> BVH:
    """Parse BVH text.  Raises ``ValueError`` naming ``source`` and the problem."""
    head, sep, tail = text.partition("MOTION")
    if not sep:
        raise ValueError(f"{source}: no MOTION section")
    tok = _tokens(head)
    if not tok or tok[0] != "HIERARCHY":
        raise ValueError(f"{source}: file does not start with HIERARCHY")
    joints: list[BVHJoint] = []
    stack: list[int] = []
    i = 1
    pending_end = False
    try:
        while i < len(tok):
            t = tok[i]
            if t in ("ROOT", "JOINT"):
                name = tok[i + 1]
                parent = stack[-1] if stack else -1
                if t == "ROOT" and joints and stack:
                    raise ValueError("ROOT inside a joint")
                joints.append(BVHJoint(name, parent, np.zeros(3), []))
                i += 2
            elif t == "End":
                if tok[i + 1] != "Site":
                    raise ValueError(f"unexpected token 'End {tok[i + 1]}'")
                pending_end = True
                i += 2
            elif t == "{":
                stack.append(-2 if pending_end else len(joints) - 1)
                i += 1
            elif t == "}":
                stack.pop()
                pending_end = False
                i += 1
            elif t == "OFFSET":
                off = np.array([float(v) for v in tok[i + 1:i + 4]])
                if stack and stack[-1] == -2:
                    joints[[k for k in stack if k >= 0][-1]].end_site = off
                else:
                    joints[-1].offset = off
                i += 4
            elif t == "CHANNELS":
                n = int(tok[i + 1])
                chans = tok[i + 2:i + 2 + n]
                for c in chans:
                    if c not in _POS and c not in _ROT:
                        raise ValueError(f"unknown channel {c!r}")
                joints[-1].channels = chans
                i += 2 + n
            else:
                raise ValueError(f"unexpected token {t!r}")
    except (IndexError, ValueError) as e:
        raise ValueError(f"{source}: bad HIERARCHY: {e}") from None
    if stack:
        raise ValueError(f"{source}: unbalanced braces in HIERARCHY")
    if not joints:
        raise ValueError(f"{source}: no joints")
    # fix parents of End Site markers (stack entries -2 are not joints)
    m = re.search(r"Frames:\s*(\d+)", tail)
    ft = re.search(r"Frame Time:\s*([0-9eE.+-]+)", tail)
    if not m or not ft:
        raise ValueError(f"{source}: MOTION section lacks 'Frames:' or 'Frame Time:'")
    n_frames = int(m.group(1))
    frame_time = float(ft.group(1))
    if frame_time <= 0:
        raise ValueError(f"{source}: Frame Time must be positive, got {frame_time}")
    body = tail[ft.end():]
    n_ch = sum(len(j.channels) for j in joints)
    try:
        values = np.array(body.split(), dtype=np.float64)
    except ValueError as e:
        raise ValueError(f"{source}: non-numeric motion data ({e})") from None
    if values.size < n_frames * n_ch:
        raise ValueError(f"{source}: expected {n_frames} frames x {n_ch} channels = {n_frames * n_ch} "
                         f"values, found {values.size}")
    motion = values[:n_frames * n_ch].reshape(n_frames, n_ch)
    return BVH(joints, frame_time, motion)


def read_bvh(path: str | Path) -> BVH:
    """Read a ``.bvh`` file (any hierarchy and channel order)."""
    path = Path(path)
    return parse_bvh(path.read_text(encoding="utf-8", errors="replace"), source=str(path))


# --- writing ------------------------------------------------------------------------------------

def _fmt(v: float) -> str:
    s = f"{v:.6f}"
    return "0.000000" if s == "-0.000000" else s


def format_bvh(bvh: BVH) -> str:
    lines = ["HIERARCHY"]
    children: dict[int, list[int]] = {}
    for ji, j in enumerate(bvh.joints):
        children.setdefault(j.parent, []).append(ji)

    def emit(ji: int, depth: int):
        j = bvh.joints[ji]
        ind = "\t" * depth
        lines.append(f"{ind}{'ROOT' if j.parent < 0 else 'JOINT'} {j.name}")
        lines.append(f"{ind}{{")
        lines.append(f"{ind}\tOFFSET {' '.join(_fmt(v) for v in j.offset)}")
        if j.channels:
            lines.append(f"{ind}\tCHANNELS {len(j.channels)} {' '.join(j.channels)}")
        for c in children.get(ji, []):
            emit(c, depth + 1)
        if j.end_site is not None:
            lines.append(f"{ind}\tEnd Site")
            lines.append(f"{ind}\t{{")
            lines.append(f"{ind}\t\tOFFSET {' '.join(_fmt(v) for v in j.end_site)}")
            lines.append(f"{ind}\t}}")
        lines.append(f"{ind}}}")

    roots = children.get(-1, [])
    if len(roots) != 1:
        raise ValueError(f"a BVH needs exactly one root joint, got {len(roots)}")
    # joints must be in depth-first order for the channel layout to match the motion columns
    order: list[int] = []

    def dfs(ji):
        order.append(ji)
        for c in children.get(ji, []):
            dfs(c)

    dfs(roots[0])
    if order != list(range(len(bvh.joints))):
        raise ValueError("joints are not in depth-first order")
    emit(roots[0], 0)
    lines.append("MOTION")
    lines.append(f"Frames: {bvh.num_frames}")
    lines.append(f"Frame Time: {bvh.frame_time:.8f}")
    for row in bvh.motion:
        lines.append(" ".join(_fmt(v) for v in row))
    return "\n".join(lines) + "\n"


def write_bvh(bvh: BVH, path: str | Path) -> Path:
    """Write ``bvh`` to ``path`` (values with 6 decimals)."""
    if bvh.motion.shape[1:] != (bvh.num_channels,):
        raise ValueError(f"motion has {bvh.motion.shape[1:]} columns, the hierarchy {bvh.num_channels} channels")
    if not np.isfinite(bvh.motion).all():
        raise ValueError("motion contains NaN or inf")
    path = Path(path)
    path.write_text(format_bvh(bvh), encoding="utf-8")
    return path


__all__ = ["BVH", "BVHJoint", "parse_bvh", "read_bvh", "write_bvh", "format_bvh"]
