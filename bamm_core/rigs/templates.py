"""Template armatures: a clean rest pose with a rig preset's bone names (numpy only).

Used by "Create SMPL-22 armature" in the add-on, by the tests and the benchmarks.
"""
from __future__ import annotations

import numpy as np

from .presets import RigPreset, get_preset
from .rest_pose import JOINT_NAMES, PARENTS, YUP_TO_ZUP, smpl_rest_joints

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
    if 0 not in names:
        raise ValueError(f"rig preset {p.name!r} has no pelvis bone to build a template from")
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


__all__ = ["template_rest_pose"]
