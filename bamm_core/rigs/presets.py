"""Rig presets: which bone of a known rig family plays which SMPL-22 joint.

A preset is a small JSON file (``bamm_core/rigs/data/*.json``)::

    {"name": "mixamo", "label": "Mixamo", "description": "...",
     "strip_namespace": true,                     # compare "mixamorig:Hips" as "Hips"
     "joints": {"pelvis": ["Hips"], "left_hip": ["LeftUpLeg"], ...},   # alternatives, in order
     "template": {"prefix": "mixamorig:", "extra_bones": [...]}}        # optional

Names are compared case-insensitively.  Joints left out (or whose bones a rig lacks) are
optional unless :data:`bamm_core.retargeting.REQUIRED_JOINTS` needs them.  Custom maps use the
same format (only ``joints`` is required; a plain ``{"pelvis": "Hips", ...}`` also loads).

:func:`detect` scores every preset by the number of joints whose bone it finds on a rig and
returns the best.  :func:`template_rest_pose` builds a clean armature layout with a preset's
names (used by "Create SMPL-22 armature", by the tests and the benchmark).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .retargeting import JOINT_NAMES, YUP_TO_ZUP, RetargetError
from ..motion.skeleton import PARENTS, RAW_OFFSETS, T2M_TARGET_BONE_LENGTHS

PRESET_DIR = Path(__file__).resolve().parent / "data"
#: order in which presets are tried (ties go to the first)
BUILTIN_ORDER = ("smpl22", "mixamo", "rigify_metarig", "rigify_generated", "ue5_mannequin")


@dataclass
class RigPreset:
    name: str
    label: str
    joints: dict[str, list[str]]
    strip_namespace: bool = False
    description: str = ""
    template: dict = field(default_factory=dict)

    @classmethod
    def from_dict(cls, d: dict, name: str = "custom") -> "RigPreset":
        joints = d.get("joints", d)
        if not isinstance(joints, dict) or not joints:
            raise ValueError("a rig map needs a non-empty 'joints' object {joint name: bone name(s)}")
        clean: dict[str, list[str]] = {}
        for joint, bones in joints.items():
            if joint in ("name", "label", "description", "strip_namespace", "template"):
                continue
            if joint not in JOINT_NAMES:
                raise ValueError(f"unknown joint {joint!r} in rig map (joints are: {', '.join(JOINT_NAMES)})")
            bones = [bones] if isinstance(bones, str) else list(bones or [])
            if not all(isinstance(b, str) for b in bones):
                raise ValueError(f"bones for {joint!r} must be names (strings)")
            clean[joint] = bones
        return cls(name=d.get("name", name), label=d.get("label", d.get("name", name)), joints=clean,
                   strip_namespace=bool(d.get("strip_namespace", False)),
                   description=d.get("description", ""), template=d.get("template", {}))

    def _key(self, bone: str) -> str:
        if self.strip_namespace and ":" in bone:
            bone = bone.rsplit(":", 1)[1]
        return bone.lower()

    def match(self, bone_names) -> dict[str, str]:
        """{joint name: bone name} for the joints whose bone this rig has (each bone used once,
        joints tried in the preset's order, each joint's alternatives in order)."""
        lookup: dict[str, str] = {}
        for b in bone_names:
            lookup.setdefault(self._key(b), b)
        out: dict[str, str] = {}
        used: set[str] = set()
        for joint, cands in self.joints.items():  # file order: a preset can match specific joints first
            for cand in cands:
                b = lookup.get(self._key(cand))
                if b is not None and b not in used:
                    out[joint] = b
                    used.add(b)
                    break
        return out


def load_preset(path: str | Path) -> RigPreset:
    """Load a preset or custom map from a JSON file (clear error on a bad file)."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(f"rig map file not found: {path}") from None
    except json.JSONDecodeError as e:
        raise ValueError(f"rig map {path} is not valid JSON: {e}") from None
    return RigPreset.from_dict(data, name=path.stem)


_BUILTIN: dict[str, RigPreset] | None = None


def builtin_presets() -> dict[str, RigPreset]:
    global _BUILTIN
    if _BUILTIN is None:
        _BUILTIN = {n: load_preset(PRESET_DIR / f"{n}.json") for n in BUILTIN_ORDER}
    return _BUILTIN


def get_preset(name_or_path: str | Path) -> RigPreset:
    """A built-in preset by name, or a custom map from a ``.json`` path."""
    presets = builtin_presets()
    if str(name_or_path) in presets:
        return presets[str(name_or_path)]
    if str(name_or_path).lower().endswith(".json"):
        return load_preset(name_or_path)
    raise ValueError(f"unknown rig preset {name_or_path!r} (built-in: {', '.join(presets)}; "
                     "or give a path to a .json map)")


def detect(bone_names, presets: dict[str, RigPreset] | None = None) -> tuple[RigPreset, dict[str, str]]:
    """Best preset for a rig by the number of matched joints -> (preset, {joint: bone})."""
    bone_names = list(bone_names)
    presets = builtin_presets() if presets is None else presets
    best, best_map = None, {}
    for p in presets.values():
        m = p.match(bone_names)
        if len(m) > len(best_map):
            best, best_map = p, m
    if best is None:
        sample = ", ".join(bone_names[:6]) + (" ..." if len(bone_names) > 6 else "")
        raise RetargetError(
            f"no recognisable bones (bones: {sample or 'none'}); supported presets: "
            + ", ".join(p.label for p in presets.values()) + "; or load a custom JSON map")
    return best, best_map


# --------------------------------------------------------------------------------------
# The engine skeleton's rest pose, and template armatures
# --------------------------------------------------------------------------------------
def smpl_rest_joints(arms: str = "T", arm_angle: float = 45.0) -> np.ndarray:
    """(22, 3) rest pose of the engine's skeleton: Y-up metres, facing +Z, feet on y = 0.

    Bone lengths are HumanML3D's target skeleton (:mod:`bamm_core.skeleton`); directions are
    its raw offsets except: arms straight out (``arms="T"``) or ``arm_angle`` degrees below
    horizontal (``"A"``), head above the neck, feet pointing forward and slightly down.
    """
    dirs = np.array(RAW_OFFSETS, dtype=np.float64)
    if arms not in ("T", "A"):
        raise ValueError("arms must be 'T' or 'A'")
    a = np.radians(arm_angle if arms == "A" else 0.0)
    for j, side in ((16, 1), (18, 1), (20, 1), (17, -1), (19, -1), (21, -1)):
        dirs[j] = [side * np.cos(a), -np.sin(a), 0.0]
    dirs[15] = [0.0, 1.0, 0.0]
    dirs[10] = dirs[11] = np.array([0.0, -0.35, 1.0]) / np.linalg.norm([0.0, -0.35, 1.0])
    x = np.zeros((22, 3))
    for j in range(1, 22):
        x[j] = x[PARENTS[j]] + dirs[j] * T2M_TARGET_BONE_LENGTHS[j]
    x[:, 1] -= x[[10, 11], 1].min()
    return x


_END_TAIL = {15: (12, 0.18), 10: (7, 0.05), 11: (8, 0.05), 20: (18, 0.08), 21: (19, 0.08)}
_TAIL_CHILD = {0: 3, 1: 4, 2: 5, 3: 6, 4: 7, 5: 8, 6: 9, 7: 10, 8: 11, 9: 12, 12: 15,
               13: 16, 14: 17, 16: 18, 17: 19, 18: 20, 19: 21}


def template_rest_pose(preset: str | RigPreset = "smpl22", arms: str = "T", up: str = "Z",
                       unit: float = 1.0, roll: float | str = 0.0, leg_scale: float = 1.0,
                       extra_bones: bool = True, seed: int = 0) -> list[dict]:
    """A clean armature with a preset's bone names, as ``RestPose.from_bones`` dicts.

    arms: "T" or "A" rest; up: "Z" (Blender: Z-up, facing -Y) or "Y" (like an FBX import in
    armature space: Y-up facing +Z); unit: armature units per metre (100 = centimetres);
    roll: radians for every bone, or "random" (seeded); leg_scale: stretch the legs
    (different proportions); extra_bones: add the preset's non-mapped bones (fingers, twist
    bones, ...).  Returns ``[{"name", "head", "tail", "roll", "parent"}]``.
    """
    p = get_preset(preset) if isinstance(preset, str) else preset
    tmpl = p.template or {}
    prefix = tmpl.get("prefix", "")
    x = smpl_rest_joints(arms)
    # stretch legs: move everything above the hips up
    if leg_scale != 1.0:
        for leg in ((1, 4, 7, 10), (2, 5, 8, 11)):
            hip = x[leg[0]].copy()
            x[list(leg[1:])] = hip + (x[list(leg[1:])] - hip) * leg_scale
        x[:, 1] -= x[[10, 11], 1].min()
    to_arm = (YUP_TO_ZUP if up == "Z" else np.eye(3)) * unit
    pos = x @ to_arm.T
    rng = np.random.default_rng(seed)
    names = {j: prefix + p.joints[jn][0] for j, jn in enumerate(JOINT_NAMES) if p.joints.get(jn)}
    bones: list[dict] = []
    if tmpl.get("root"):
        bones.append({"name": tmpl["root"], "head": [0, 0, 0],
                      "tail": (np.array([0, 0.2, 0]) @ to_arm.T).tolist(), "roll": 0.0, "parent": None})

    def _roll() -> float:
        return float(rng.uniform(-np.pi, np.pi)) if roll == "random" else float(roll)

    for j in range(22):
        if j not in names:
            continue
        head = pos[j]
        if j in _TAIL_CHILD and _TAIL_CHILD[j] in names:
            tail = pos[_TAIL_CHILD[j]]
        elif j in _END_TAIL:
            src, length = _END_TAIL[j]
            d = pos[j] - pos[src]
            tail = head + d / np.linalg.norm(d) * length * unit
        else:
            tail = head + (pos[3] - pos[0]) * 0.5
        par = PARENTS[j]
        while par >= 0 and par not in names:
            par = PARENTS[par]
        parent = names[par] if par >= 0 else tmpl.get("root")
        bones.append({"name": names[j], "head": head.tolist(), "tail": np.asarray(tail).tolist(),
                      "roll": _roll(), "parent": parent})
    if extra_bones:
        by_name = {b["name"]: b for b in bones}
        for e in tmpl.get("extra_bones", []):
            parent = by_name.get(e["parent"])
            if parent is None:
                continue
            if "between" in e:
                a, b = (pos[JOINT_NAMES.index(n)] for n in e["between"])
                head, tail = (a + b) / 2, b
            else:
                head = np.asarray(parent["tail"] if "at" not in e else pos[JOINT_NAMES.index(e["at"])], float)
                off = np.asarray(e["offset"], float)
                if not off.any():
                    off = np.array([0.0, 0.1, 0.0])
                tail = head + off @ to_arm.T
                if "drop" in e:
                    head = head + np.array([0.0, -e["drop"], 0.0]) @ to_arm.T
            b = {"name": e["name"], "head": np.asarray(head).tolist(), "tail": np.asarray(tail).tolist(),
                 "roll": _roll(), "parent": e["parent"]}
            bones.append(b)
            by_name[b["name"]] = b
    return bones

