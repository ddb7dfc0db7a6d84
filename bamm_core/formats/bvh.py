"""BVH motion files: read, write, forward kinematics, and SMPL-22 export/import.

A :class:`BVH` holds any hierarchy: joints in file (depth-first) order with their parent, rest
``offset`` (file units), channel list (any order, 3 or 6 channels, also on non-root joints),
optional End Site offset, the frame time and the raw ``motion`` matrix ``(F, C)``.

Channel semantics (the common convention, also Blender's for the root): a joint with position
channels is placed at those values in its parent's frame *instead of* its OFFSET; rotation
channels listed as e.g. ``Zrotation Xrotation Yrotation`` compose as ``R = Rz @ Rx @ Ry``
(degrees), and a joint's world transform is ``parent_world @ [R | t]``.

:func:`save_smpl22_bvh` writes a ``(T, 22, 3)`` HumanML3D joint motion with the joint names,
hierarchy and channel layout of MoMask's ``smpl22_template.bvh`` and rotations solved from the
positions (swing/twist IK per bone), so that FK of the file gives the positions back.
:func:`bvh_to_smpl22` maps any BVH onto the 22 joints with a skeleton map (a JSON table, see
``training/skeleton_maps/bandai.json``).
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..motion.rotations import (
    euler_to_matrix, matrix_to_euler, matrix_to_quat, qbetween, qinv, qmul, qnormalize, qrot,
    quat_from_axis_angle, quat_to_matrix,
)

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


# --- SMPL-22 skeleton of MoMask's BVH export ----------------------------------------------------

# Joint names, parents and OFFSETs (metres) of ``smpl22_template.bvh`` (MoMask release, MIT), in
# the file's depth-first order, with the HumanML3D joint index each one stands for.
SMPL22_BVH_NAMES = [
    "Hips", "LeftUpLeg", "LeftLeg", "LeftFoot", "LeftToe", "RightUpLeg", "RightLeg", "RightFoot",
    "RightToe", "Spine", "Spine1", "Spine2", "Neck", "Head", "LeftShoulder", "LeftArm",
    "LeftForeArm", "LeftHand", "RightShoulder", "RightArm", "RightForeArm", "RightHand",
]
SMPL22_BVH_TO_T2M = [0, 1, 4, 7, 10, 2, 5, 8, 11, 3, 6, 9, 12, 15, 13, 16, 18, 20, 14, 17, 19, 21]
SMPL22_BVH_PARENTS = [-1, 0, 1, 2, 3, 0, 5, 6, 7, 0, 9, 10, 11, 12, 11, 14, 15, 16, 11, 18, 19, 20]
SMPL22_BVH_OFFSETS = np.array([
    [-0.001795, -0.223333, 0.028219], [0.069520, -0.091406, -0.006815],
    [0.034277, -0.375199, -0.004496], [-0.013596, -0.397961, -0.043693],
    [0.026358, -0.055791, 0.119288], [-0.067670, -0.090522, -0.004320],
    [-0.038290, -0.382569, -0.008850], [0.015774, -0.398415, -0.042312],
    [-0.025372, -0.048144, 0.123348], [-0.002533, 0.108963, -0.026696],
    [0.005487, 0.135180, 0.001092], [0.001457, 0.052922, 0.025425],
    [-0.002778, 0.213870, -0.042857], [0.005152, 0.064970, 0.051349],
    [0.078845, 0.121749, -0.034090], [0.090977, 0.030469, -0.008868],
    [0.259612, -0.012772, -0.027456], [0.249234, 0.008986, -0.001171],
    [-0.081759, 0.118833, -0.038615], [-0.096012, 0.032551, -0.009143],
    [-0.253742, -0.013329, -0.021401], [-0.255298, 0.007772, -0.005559],
])
_ROOT_CHANNELS = ["Xposition", "Yposition", "Zposition", "Zrotation", "Yrotation", "Xrotation"]
_JOINT_CHANNELS = ["Zrotation", "Yrotation", "Xrotation"]
_LEAVES = {4, 8, 13, 17, 21}  # joints with an End Site (offset 0) in the template


def smpl22_template_bvh(offsets: np.ndarray | None = None, frame_time: float = 0.05) -> BVH:
    """An empty (0-frame) BVH with the template's names, hierarchy and channels."""
    offs = SMPL22_BVH_OFFSETS if offsets is None else np.asarray(offsets, dtype=np.float64)
    joints = []
    for i, (n, p) in enumerate(zip(SMPL22_BVH_NAMES, SMPL22_BVH_PARENTS)):
        joints.append(BVHJoint(n, p, offs[i].copy(), list(_ROOT_CHANNELS if p < 0 else _JOINT_CHANNELS),
                               np.zeros(3) if i in _LEAVES else None))
    return BVH(joints, frame_time, np.zeros((0, 6 + 3 * 21)))


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-12)


def _frame_from(primary: np.ndarray, secondary: np.ndarray) -> np.ndarray:
    """Orthonormal frames ``(..., 3, 3)`` with column 0 = primary, column 1 = secondary's part
    orthogonal to it."""
    x = _unit(primary)
    y = secondary - (secondary * x).sum(-1, keepdims=True) * x
    y = _unit(y)
    z = np.cross(x, y)
    return np.stack([x, y, z], -1)


def _align_two(a1, a2, b1, b2) -> np.ndarray:
    """Rotation ``(F, 3, 3)`` taking ``a1`` exactly onto ``b1``'s direction and the plane of
    (a1, a2) onto the plane of (b1, b2) (``a*`` rest vectors ``(3,)``, ``b*`` ``(F, 3)``)."""
    fa = _frame_from(np.broadcast_to(a1, b1.shape), np.broadcast_to(a2, b2.shape))
    fb = _frame_from(b1, b2)
    return fb @ np.swapaxes(fa, -1, -2)


def _swing(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Shortest-arc rotation matrices taking directions ``a (F,3)`` onto ``b (F,3)``."""
    return quat_to_matrix(qbetween(a, b))


def _rest_offsets_for(joints_bvh: np.ndarray, template: np.ndarray) -> np.ndarray:
    """Rest offsets with the template's directions, the motion's (median) bone lengths, and,
    below the two branching joints (Hips, Spine2), the sibling geometry of the motion itself
    (so that one rotation per branching joint can place all its children exactly)."""
    par = SMPL22_BVH_PARENTS
    offs = template.copy()
    for j in range(1, 22):
        length = np.median(np.linalg.norm(joints_bvh[:, j] - joints_bvh[:, par[j]], axis=-1))
        offs[j] = _unit(template[j]) * length
    for parent, primary, (left, right) in ((0, 9, (1, 5)), (11, 12, (14, 18))):
        kids = [k for k in range(22) if par[k] == parent]
        rot = _align_two(template[primary], template[left] - template[right],
                         joints_bvh[:, primary] - joints_bvh[:, parent],
                         joints_bvh[:, left] - joints_bvh[:, right])           # (F, 3, 3)
        for k in kids:
            local = np.einsum("fji,fj->fi", rot, joints_bvh[:, k] - joints_bvh[:, parent])
            d = _unit(np.median(local, axis=0))
            offs[k] = d * np.linalg.norm(offs[k])
    return offs


def _smoothstep(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    t = np.clip((x - lo) / (hi - lo), 0.0, 1.0)
    return t * t * (3 - 2 * t)


def _bend_direction(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For a two-bone limb ``a -> b -> c`` (hip/knee/ankle, shoulder/elbow/wrist), ``(F, 3)``:
    the unit direction in which the middle joint sticks out of the limb's bending plane, and the
    sine of the bend angle (0 when straight or fully folded, where the direction is unreliable)."""
    upper = _unit(b - a)
    lower = _unit(c - b)
    perp = lower - (lower * upper).sum(-1, keepdims=True) * upper   # lower bone, across the upper
    sin = np.linalg.norm(perp, axis=-1)
    return -perp / np.maximum(sin, 1e-9)[:, None], sin


def _carry(q0: np.ndarray, rest: np.ndarray, bone: np.ndarray) -> np.ndarray:
    """Rotations ``(F, 4)`` that start at ``q0`` and follow the bone directions ``bone (F, 3)``
    frame by frame with the smallest rotation (no twist of their own)."""
    out = np.empty((bone.shape[0], 4))
    q = qmul(qbetween(qrot(q0, rest), bone[0]), q0)
    out[0] = q
    for t in range(1, bone.shape[0]):
        q = qmul(qbetween(bone[t - 1], bone[t]), q)
        out[t] = q
    return qnormalize(out)


def _smooth_angle(phi: np.ndarray, weight: np.ndarray, smooth: float = 4.0, prior: float = 1e-3) -> np.ndarray:
    """A smooth angle signal that follows the observed angles ``phi`` where ``weight`` is high.

    Solves ``min sum w |z - e^{i phi}|^2 + prior |z - 1|^2 + smooth sum |z_t - z_{t-1}|^2`` for a
    complex ``z`` (tridiagonal system, no angle unwrapping needed) and returns ``arg z``: where
    the observations are weak (a straight limb) the angle glides between the confident frames.
    """
    from scipy.linalg import solve_banded

    T = phi.shape[0]
    diag = weight + prior + 2 * smooth
    diag[0] -= smooth
    diag[-1] -= smooth
    if T == 1:
        diag = weight + prior
    ab = np.zeros((3, T), dtype=np.complex128)
    ab[0, 1:] = -smooth
    ab[1] = diag
    ab[2, :-1] = -smooth
    rhs = weight * np.exp(1j * phi) + prior
    z = solve_banded((1, 1), ab, rhs)
    return np.angle(z)


def solve_smpl22_rotations(joints: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """World rotations ``(F, 22, 3, 3)`` (template joint order) whose FK with ``offsets`` puts
    every joint on ``joints`` (template order, ``(F, 22, 3)``) where the bone geometry allows.

    Every rotation turns its rest bone exactly onto the current bone (the *swing*); the rest is
    the *twist* about that bone, chosen so that it is stable over time:

    * branching joints (Hips, Spine2) align their primary child (Spine / Neck) and turn the
      left-right sibling axis into place;
    * thighs and upper arms: the twist given by the knee's / elbow's bending plane (knees point
      forward, elbows backward in the rest pose), observed with a confidence that grows with the
      bend, is smoothed over time against a twist-free frame carried along the bone from frame 0
      (:func:`_smooth_angle`), so a straight limb glides between the bent poses;
    * all other bones (shins, forearms, feet, spine, neck, collars) use the minimal rotation
      from the parent bone's direction, with the rest pose's bend removed first - a knee or
      elbow turns about its hinge axis;
    * leaves (toes, head, hands) keep their parent's rotation.
    """
    par = SMPL22_BVH_PARENTS
    F = joints.shape[0]
    W = np.zeros((F, 22, 3, 3))
    children = {j: [k for k in range(22) if par[k] == j] for j in range(22)}
    rest_dir = {j: _unit(offsets[j]) for j in range(1, 22)}
    fwd, back = np.array([0.0, 0.0, 1.0]), np.array([0.0, 0.0, -1.0])
    # thigh / upper arm -> (middle joint, end joint, rest direction the middle joint sticks out to)
    limbs = {1: (2, 3, fwd), 5: (6, 7, fwd), 15: (16, 17, back), 19: (20, 21, back)}

    def from_parent(j: int, c: int) -> np.ndarray:
        """Minimal rotation from the parent bone's direction, rest bend removed."""
        p = par[j]
        Wp = W[:, p]
        straighten = _swing(rest_dir[c][None], rest_dir[j][None])[0]   # rest bone j->c onto p->j
        a = np.einsum("fij,j->fi", Wp, rest_dir[j])
        return _swing(a, joints[:, c] - joints[:, j]) @ Wp @ straighten

    for j in range(22):
        kids = children[j]
        if j == 0:
            W[:, 0] = _align_two(offsets[9], offsets[1] - offsets[5],
                                 joints[:, 9] - joints[:, 0], joints[:, 1] - joints[:, 5])
        elif j == 11:
            W[:, j] = _align_two(offsets[12], offsets[14] - offsets[18],
                                 joints[:, 12] - joints[:, 11], joints[:, 14] - joints[:, 18])
        elif not kids:
            W[:, j] = W[:, par[j]]
        elif j in limbs:
            mid, end, out_rest = limbs[j]
            b = _unit(joints[:, mid] - joints[:, j])
            out, sin = _bend_direction(joints[:, j], joints[:, mid], joints[:, end])
            q_bend = matrix_to_quat(_align_two(offsets[mid], out_rest, b, out))
            q_carried = _carry(matrix_to_quat(from_parent(j, mid)[:1])[0], rest_dir[mid], b)
            # twist (about the bone) from the carried frame to the bending-plane frame
            dq = qmul(q_bend, qinv(q_carried))
            phi = 2.0 * np.arctan2((dq[:, 1:] * b).sum(-1), dq[:, 0])
            theta = _smooth_angle(phi, _smoothstep(sin, 0.1, 0.35))
            twist = quat_from_axis_angle(b, theta)
            W[:, j] = quat_to_matrix(qmul(twist, q_carried))
        else:
            W[:, j] = from_parent(j, kids[0])
    return W


def smpl22_bvh_from_joints(joints: np.ndarray, fps: float = 20.0, offsets: str | np.ndarray = "motion") -> BVH:
    """Build the SMPL-22 :class:`BVH` of a ``(T, 22, 3)`` HumanML3D-order joint motion (metres).

    ``offsets``: ``"motion"`` (default) = template directions with the motion's bone lengths and
    sibling geometry, so FK reproduces the positions; ``"template"`` = the template's OFFSETs
    exactly (positions then differ by the bone-length mismatch); or an explicit ``(22, 3)``
    array in template order.
    """
    joints = np.asarray(joints, dtype=np.float64)
    if joints.ndim != 3 or joints.shape[1:] != (22, 3):
        raise ValueError(f"expected joints of shape (T, 22, 3), got {joints.shape}")
    if joints.shape[0] < 1 or not np.isfinite(joints).all():
        raise ValueError("joints must have at least one frame and finite values")
    if fps <= 0:
        raise ValueError(f"fps must be positive, got {fps}")
    jb = joints[:, SMPL22_BVH_TO_T2M]
    if isinstance(offsets, str):
        if offsets == "motion":
            offs = _rest_offsets_for(jb, SMPL22_BVH_OFFSETS)
        elif offsets == "template":
            offs = SMPL22_BVH_OFFSETS.copy()
        else:
            raise ValueError(f"offsets must be 'motion', 'template' or an array, got {offsets!r}")
    else:
        offs = np.asarray(offsets, dtype=np.float64)
        if offs.shape != (22, 3):
            raise ValueError(f"offsets must be (22, 3), got {offs.shape}")
    W = solve_smpl22_rotations(jb, offs)
    F = jb.shape[0]
    local = np.empty_like(W)
    for j, p in enumerate(SMPL22_BVH_PARENTS):
        local[:, j] = W[:, j] if p < 0 else np.swapaxes(W[:, p], -1, -2) @ W[:, j]
    motion = np.zeros((F, 6 + 3 * 21))
    motion[:, 0:3] = jb[:, 0]
    motion[:, 3:6] = matrix_to_euler(local[:, 0], "ZYX")
    for j in range(1, 22):
        motion[:, 6 + 3 * (j - 1):9 + 3 * (j - 1)] = matrix_to_euler(local[:, j], "ZYX")
    bvh = smpl22_template_bvh(offs, 1.0 / fps)
    bvh.motion = motion
    return bvh


def save_smpl22_bvh(joints: np.ndarray, path: str | Path, fps: float = 20.0,
                    offsets: str | np.ndarray = "motion") -> Path:
    """Write a ``(T, 22, 3)`` joint motion (metres, Y up) as a SMPL-22 BVH (template names).

    See :func:`smpl22_bvh_from_joints` for ``offsets``.  Returns the written path.
    """
    return write_bvh(smpl22_bvh_from_joints(joints, fps, offsets), path)


# --- any BVH -> the 22 HumanML3D joints ---------------------------------------------------------

_AXES = {"+X": [1, 0, 0], "-X": [-1, 0, 0], "+Y": [0, 1, 0], "-Y": [0, -1, 0],
         "+Z": [0, 0, 1], "-Z": [0, 0, -1]}


def axes_matrix(up_axis: str = "+Y", forward_axis: str = "+Z", mirror: bool = False) -> np.ndarray:
    """Matrix ``M`` with ``p_ours = M @ p_source``: the source's up axis becomes +Y and its
    forward axis +Z (so the left is +X).  ``mirror=True`` for left-handed sources."""
    up = np.array(_AXES[up_axis.upper()], dtype=np.float64)
    fw = np.array(_AXES[forward_axis.upper()], dtype=np.float64)
    if abs(up @ fw) > 0:
        raise ValueError(f"up axis {up_axis} and forward axis {forward_axis} must differ")
    left = np.cross(up, fw)
    M = np.stack([left, up, fw])  # rows: new x, y, z in source coordinates
    if mirror:
        M[0] *= -1
    return M


def load_skeleton_map(name_or_path: str | Path | dict) -> dict:
    """A skeleton map as a dict: a dict is returned as is; a path to a JSON file is read; a bare
    name looks in ``training/skeleton_maps/<name>.json`` next to this package."""
    if isinstance(name_or_path, dict):
        return name_or_path
    p = Path(name_or_path)
    if p.suffix != ".json":
        p = Path(__file__).resolve().parents[2] / "training" / "skeleton_maps" / f"{name_or_path}.json"
    if not p.is_file():
        raise FileNotFoundError(f"skeleton map {name_or_path!r} not found ({p})")
    return json.loads(p.read_text())


SMPL22_NAME_MAP = {t2m: SMPL22_BVH_NAMES[i] for i, t2m in enumerate(SMPL22_BVH_TO_T2M)}


def map_positions_to_smpl22(positions: np.ndarray, names: list[str], skeleton_map: dict) -> np.ndarray:
    """Apply a skeleton map's ``joints`` table to source world positions ``(F, J, 3)``.

    Each of the 22 HumanML3D joint names maps to a source joint name, or to
    ``{"lerp": [a, b, t]}`` (the point ``(1-t) a + t b``; ``a``/``b`` may name source joints or
    other SMPL joints already mapped), or ``{"mean": [a, b, ...]}``.
    """
    from ..motion.skeleton import T2M_JOINT_NAMES

    table = skeleton_map["joints"]
    lookup = {n: i for i, n in enumerate(names)}
    out: dict[str, np.ndarray] = {}

    def point(ref):
        if isinstance(ref, str):
            if ref in lookup:
                return positions[:, lookup[ref]]
            if ref in out:
                return out[ref]
            if ref in table and ref not in out:
                return resolve(ref)
            raise KeyError(f"skeleton map refers to {ref!r}, which is neither a source joint nor a "
                           f"mapped SMPL joint (source joints: {', '.join(names)})")
        raise ValueError(f"bad joint reference {ref!r}")

    def resolve(smpl_name):
        if smpl_name in out:
            return out[smpl_name]
        ref = table[smpl_name]
        if isinstance(ref, str):
            val = point(ref)
        elif isinstance(ref, dict) and "lerp" in ref:
            a, b, t = ref["lerp"]
            val = (1.0 - t) * point(a) + t * point(b)
        elif isinstance(ref, dict) and "mean" in ref:
            val = np.mean([point(r) for r in ref["mean"]], axis=0)
        else:
            raise ValueError(f"skeleton map entry for {smpl_name!r} must be a joint name, "
                             f"{{'lerp': [a, b, t]}} or {{'mean': [...]}}, got {ref!r}")
        out[smpl_name] = val
        return val

    missing = [n for n in T2M_JOINT_NAMES if n not in table]
    if missing:
        raise ValueError(f"skeleton map lacks SMPL joints: {', '.join(missing)}")
    return np.stack([resolve(n) for n in T2M_JOINT_NAMES], axis=1)


def bvh_to_smpl22(bvh: BVH, skeleton_map: str | Path | dict | None = None) -> np.ndarray:
    """World positions of the 22 HumanML3D joints ``(F, 22, 3)``, metres, Y up, at the file's fps.

    ``skeleton_map=None``: the file must use the SMPL-22 template names (our own export);
    otherwise a map name (``"bandai"``), JSON path or dict with ``joints``, ``unit_scale``
    (file units -> metres), ``up_axis``, ``forward_axis`` and optional ``mirror``.
    """
    pos = bvh.forward_kinematics()
    if skeleton_map is None:
        if all(n in bvh.names for n in SMPL22_BVH_NAMES):
            idx = [bvh.index(SMPL22_NAME_MAP[t]) for t in range(22)]
            return pos[:, idx].astype(np.float64)
        raise ValueError("this BVH does not use the SMPL-22 joint names; pass a skeleton map "
                         f"(joints: {', '.join(bvh.names)})")
    m = load_skeleton_map(skeleton_map)
    M = axes_matrix(m.get("up_axis", "+Y"), m.get("forward_axis", "+Z"), bool(m.get("mirror", False)))
    pos = pos @ M.T * float(m.get("unit_scale", 1.0))
    return map_positions_to_smpl22(pos, bvh.names, m)


__all__ = [
    "BVH", "BVHJoint", "parse_bvh", "read_bvh", "write_bvh", "format_bvh", "save_smpl22_bvh",
    "smpl22_bvh_from_joints", "smpl22_template_bvh", "solve_smpl22_rotations", "bvh_to_smpl22",
    "map_positions_to_smpl22", "load_skeleton_map", "axes_matrix", "SMPL22_BVH_NAMES",
    "SMPL22_BVH_TO_T2M", "SMPL22_BVH_OFFSETS", "SMPL22_BVH_PARENTS",
]
