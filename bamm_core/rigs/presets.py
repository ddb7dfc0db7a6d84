"""Rig presets: which bone (or BVH joint) of a known skeleton plays which SMPL-22 joint.

One format serves armatures in Blender and BVH skeletons (mocap files).  A preset is a small
JSON file in ``bamm_core/rigs/data/`` (drop a file there to add one)::

    {"name": "mixamo", "label": "Mixamo", "description": "...",
     "order": 20,                                 # registry / detection order (ties: lower)
     "strip_namespace": true,                     # compare "mixamorig:Hips" as "Hips"
     "joints": {"pelvis": ["Hips"], "left_hip": ["LeftUpLeg"], ...,   # alternatives, in order
                "spine2": {"lerp": ["Spine", "Chest", 0.5]}},         # BVH only: a derived point
     "unit_scale": 0.01, "up_axis": "+Y", "forward_axis": "+Z",      # BVH only, optional
     "template": {"prefix": "mixamorig:", "extra_bones": [...]}}        # optional

Names are compared case-insensitively.  A joint may be a bone name, a list of alternatives,
or (for BVH skeletons, where no bone of its own exists) ``{"lerp": [a, b, t]}`` =
``(1-t) a + t b`` or ``{"mean": [a, b, ...]}`` of source joints or SMPL joints mapped before.
Joints left out (or whose bones a rig lacks) are optional unless
:data:`bamm_core.rigs.rest_pose.REQUIRED_JOINTS` needs them.  Custom maps use the same
format (only ``joints`` is required; a plain ``{"pelvis": "Hips", ...}`` also loads).  Other
keys (e.g. a data set's per-take notes) are kept in :attr:`RigPreset.data`.

:func:`registry` lists the built-in presets in order (the add-on's enum and the CLI read
it); :func:`detect` scores every preset by the number of joints whose bone it finds on a rig.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from .rest_pose import JOINT_NAMES, RetargetError

PRESET_DIR = Path(__file__).resolve().parent / "data"
_FIELDS = ("name", "label", "description", "order", "strip_namespace", "template", "unit_scale",
           "up_axis", "forward_axis", "mirror")


@dataclass
class RigPreset:
    name: str
    label: str
    joints: dict[str, list[str]]                 # joint -> bone name alternatives
    strip_namespace: bool = False
    description: str = ""
    template: dict = field(default_factory=dict)
    points: dict[str, dict] = field(default_factory=dict)   # joint -> {"lerp"|"mean": ...}
    order: int = 1000
    unit_scale: float | None = None              # BVH file units -> metres (None: guess)
    up_axis: str = "+Y"
    forward_axis: str = "+Z"
    mirror: bool = False
    data: dict = field(default_factory=dict)     # the whole JSON object

    @classmethod
    def from_dict(cls, d: dict, name: str = "custom") -> "RigPreset":
        joints = d.get("joints", d)
        if not isinstance(joints, dict) or not joints:
            raise ValueError("a rig map needs a non-empty 'joints' object {joint name: bone name(s)}")
        bones: dict[str, list[str]] = {}
        points: dict[str, dict] = {}
        for joint, ref in joints.items():
            if joint in _FIELDS and joints is d:
                continue
            if joint not in JOINT_NAMES:
                raise ValueError(f"unknown joint {joint!r} in rig map (joints are: {', '.join(JOINT_NAMES)})")
            if isinstance(ref, dict):
                if not (set(ref) & {"lerp", "mean"}):
                    raise ValueError(f"{joint!r}: a derived joint is {{'lerp': [a, b, t]}} or "
                                     f"{{'mean': [a, b, ...]}}, got {ref!r}")
                points[joint] = ref
                continue
            alts = [ref] if isinstance(ref, str) else list(ref or [])
            if not all(isinstance(b, str) for b in alts):
                raise ValueError(f"bones for {joint!r} must be names (strings)")
            bones[joint] = alts
        scale = d.get("unit_scale")
        return cls(name=d.get("name", name), label=d.get("label", d.get("name", name)), joints=bones,
                   strip_namespace=bool(d.get("strip_namespace", False)),
                   description=d.get("description", ""), template=d.get("template", {}), points=points,
                   order=int(d.get("order", 1000)), unit_scale=None if scale is None else float(scale),
                   up_axis=d.get("up_axis", "+Y"), forward_axis=d.get("forward_axis", "+Z"),
                   mirror=bool(d.get("mirror", False)), data=d)

    def key(self, bone: str) -> str:
        """A bone name as compared: lower case, without namespace if ``strip_namespace``."""
        if self.strip_namespace and ":" in bone:
            bone = bone.rsplit(":", 1)[1]
        return bone.lower()

    def match(self, bone_names) -> dict[str, str]:
        """{joint name: bone name} for the joints whose bone this rig has (each bone used once,
        joints tried in the preset's order, each joint's alternatives in order)."""
        lookup: dict[str, str] = {}
        for b in bone_names:
            lookup.setdefault(self.key(b), b)
        out: dict[str, str] = {}
        used: set[str] = set()
        for joint, cands in self.joints.items():  # file order: a preset can match specific joints first
            for cand in cands:
                b = lookup.get(self.key(cand))
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
    if not isinstance(data, dict):
        raise ValueError(f"rig map {path} must hold a JSON object")
    return RigPreset.from_dict(data, name=path.stem)


_REGISTRY: dict[str, RigPreset] | None = None


def registry() -> dict[str, RigPreset]:
    """The built-in presets (``data/*.json``) by name, in registry order."""
    global _REGISTRY
    if _REGISTRY is None:
        found = [load_preset(f) for f in sorted(PRESET_DIR.glob("*.json"))]
        _REGISTRY = {p.name: p for p in sorted(found, key=lambda p: (p.order, p.name))}
    return _REGISTRY


def preset_names() -> list[str]:
    return list(registry())


def get_preset(name_or_path: str | Path | RigPreset) -> RigPreset:
    """A built-in preset by name, or a custom map from a ``.json`` path."""
    if isinstance(name_or_path, RigPreset):
        return name_or_path
    presets = registry()
    if str(name_or_path) in presets:
        return presets[str(name_or_path)]
    if str(name_or_path).lower().endswith(".json"):
        return load_preset(name_or_path)
    raise ValueError(f"unknown rig preset {str(name_or_path)!r} (known: {', '.join(presets)}; "
                     "or give a path to a .json map)")


def detect(bone_names, presets: dict[str, RigPreset] | None = None) -> tuple[RigPreset, dict[str, str]]:
    """Best preset for a rig by the number of matched joints -> (preset, {joint: bone})."""
    bone_names = list(bone_names)
    presets = registry() if presets is None else presets
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


__all__ = ["RigPreset", "registry", "preset_names", "get_preset", "load_preset",
           "detect", "PRESET_DIR"]
