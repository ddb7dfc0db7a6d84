"""Automatic skeleton maps: any humanoid BVH skeleton -> a rig preset for the 22 joints.

>>> preset = auto_map(read_bvh("take.bvh"))        # a RigPreset; bvh_joints(anim, preset)

The map comes from the hierarchy and a reference pose (the first frame: a BVH's OFFSET pose
is no reference, Bandai's keeps every bone along one axis), with the joint names as help:

* helper joints (IK targets, controls, poles, props) are left out; twist/roll joints and limb
  segments (Rigify's ``.001``) are passed through; a zero-length joint (CMU's ``LHipJoint``)
  stands for its child;
* the pelvis is the first joint from the root with two leg branches and a spine branch (legs
  under a pelvis child, as DAZ has them, count; a named pelvis just above, as Biped's, is
  taken); the legs are its two farthest-reaching side branches, the spine its largest one; the
  chest is the first joint up the spine where both arms branch off (Biped-style clavicles under
  the neck too);
* the up axis is feet -> pelvis, the units the one of m/cm/mm/inch/ASF that makes the bones
  from an ankle to the head about 1.5 m; the forward axis is the usual one for that up axis
  (:data:`FORWARD_FOR_UP`: the world is rotated, never mirrored or turned);
* left and right come from the geometry: the feet (ankle -> toe, or the foot's End Site) give
  the facing, left = up x facing; the names' sides are used only when the feet say nothing;
* joints a skeleton lacks are synthesised with the preset format's point rules: spine joints,
  a neck and collars by ``lerp`` of their neighbours, a missing toe at the ankle's End Site.

Known name conventions (:data:`CONVENTIONS`) only label the map for the user.
"""
from __future__ import annotations

import hashlib
import re

import numpy as np

from ..formats.bvh import BVH
from .bvh_joints import END_SITE
from .presets import RigPreset

#: bone lengths from an ankle via the pelvis to the head joint, metres (for the unit guess)
TYPICAL_HEIGHT_M = 1.5
UNIT_SCALES = {"m": 1.0, "cm": 0.01, "mm": 0.001, "inch": 0.0254, "asf": 0.0254 / 0.45}

#: the forward axis of the file's world for each up axis (Y up: +Z as in BVH; Z up: -Y as in
#: Blender): ``axes_matrix`` is then a rotation, and the motion keeps its place and heading
FORWARD_FOR_UP = {"+Y": "+Z", "-Y": "-Z", "+Z": "-Y", "-Z": "+Y", "+X": "+Z", "-X": "+Z"}

_HELPER = re.compile(r"(^|[^a-z])(ik|ctrl|control|pole|target|prop|weapon|helper|nub|attach|socket|"
                     r"twistcor|corrective)([^a-z]|$)|ik_|_ik|^ik", re.I)
_PASS = re.compile(r"twist|roll|bend_?helper", re.I)
_TOE = re.compile(r"toe|ball", re.I)
_FOOT = re.compile(r"foot|ankle", re.I)
_HAND = re.compile(r"hand|wrist", re.I)
_FINGER = re.compile(r"thumb|index|middle|ring|pinky|little|finger|carpal", re.I)
_ELBOW = re.compile(r"fore|lower_?arm|elbow|radius", re.I)
_HEAD = re.compile(r"head(?!.*(top|end|nub|site))", re.I)
_PELVIS = re.compile(r"pelvis|hips?$", re.I)
_NECK = re.compile(r"neck", re.I)
_ASF_SIDE = re.compile(r"^([lr])(femur|tibia|foot|toes|humerus|radius|wrist|hand|clavicle|hipjoint|"
                       r"fingers|thumb|shoulder)$", re.I)

#: name conventions, recognised by characteristic joint names (only to label the map)
CONVENTIONS = {
    "mixamo": r"mixamorig|^lefttoebase$|^lefthandindex1$",
    "asf/amc": r"^lfemur$|^ltibia$|^lhumerus$|^upperback$|^thorax$",
    "cmu/motionbuilder": r"^lhipjoint$|^lowerback$|^leftfingerbase$|^lthumb$",
    "daz/poser/genesis": r"^lthigh|^lshin$|^abdomen|^chestupper$|^lshldr",
    "3ds max biped": r"^bip0?0?1",
    "rigify": r"^(def|org|mch)-|\.l(\.\d+)?$",
    "ue4/ue5": r"^thigh_l$|^calf_l$|^clavicle_l$|^spine_0\d$",
    "bandai": r"^upperleg_l$|^toes_l$|^joint_root$",
    "smpl": r"^l_hip$|^left_hip$|^pelvis$",
    "mixamo-like": r"^leftupleg$|^leftforearm$",
}


class AutoMapError(ValueError):
    """The skeleton cannot be mapped (the message says what is missing)."""


def name_tokens(name: str) -> list[str]:
    """``"mixamorig:LeftUpLeg"`` -> ["left", "up", "leg"]; ``"thigh_l"`` -> ["thigh", "l"]."""
    name = name.rsplit(":", 1)[-1]
    parts = re.findall(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+", name)
    return [p.lower() for p in parts]


def name_side(name: str) -> str | None:
    """'L', 'R' or None from a joint name (any common convention)."""
    m = _ASF_SIDE.match(name.rsplit(":", 1)[-1])
    if m:
        return m.group(1).upper()
    toks = set(name_tokens(name))
    left, right = bool(toks & {"l", "left", "lf"}), bool(toks & {"r", "right", "rt"})
    return "L" if left and not right else "R" if right and not left else None


def _segment(name: str, parent: str) -> bool:
    """A limb bone's extra segment (Rigify's ``DEF-forearm.L.001`` under ``DEF-forearm.L``)."""
    m = re.match(r"(.*)\.\d{3}$", name)
    return bool(m and m.group(1) == parent and re.search(r"arm|leg|thigh|shin", name, re.I))


def skeleton_key(anim: BVH) -> str:
    """A short id of a hierarchy (joint names and parents): takes sharing it share one map."""
    text = "|".join(f"{n}<{p}" for n, p in zip(anim.names, anim.parents))
    return hashlib.sha1(text.encode()).hexdigest()[:10]


def convention(names: list[str]) -> str:
    """The name convention a skeleton looks like (a label), or 'unknown'."""
    short = [n.rsplit(":", 1)[-1].lower() for n in names]
    for label, pat in CONVENTIONS.items():
        if sum(bool(re.search(pat, n)) for n in short) >= 2 or (label == "mixamo" and any("mixamorig" in n.lower() for n in names)):
            return label
    return "unknown"


def rest_positions(anim: BVH) -> tuple[np.ndarray, dict[int, np.ndarray]]:
    """The reference pose: world positions of the joints at the first frame (file units) and of
    the End Sites {joint: position}.  (The OFFSET pose is no reference: skeletons with position
    channels on every joint, like Bandai's, keep all OFFSETs along one axis.)"""
    first = BVH(anim.joints, anim.frame_time, anim.motion[:1])
    pos = first.forward_kinematics(end_sites=True)[0]
    n = len(anim.joints)
    with_end = [i for i, j in enumerate(anim.joints) if j.end_site is not None]
    return pos[:n], {i: pos[n + k] for k, i in enumerate(with_end)}


class _Tree:
    """The hierarchy without helper joints; twist/roll and zero-length joints are transparent."""

    def __init__(self, anim: BVH):
        self.names = anim.names
        self.parent = anim.parents
        self.pos, self.ends = rest_positions(anim)
        self.children: dict[int, list[int]] = {i: [] for i in range(len(self.names))}
        for i, p in enumerate(anim.parents):
            if p >= 0 and not _HELPER.search(self.names[i]):
                self.children[p].append(i)
        size = float(np.ptp(self.pos, axis=0).max()) or 1.0
        self.transparent = {i for i, n in enumerate(self.names)
                            if _PASS.search(n) or _segment(n, self.names[anim.parents[i]] if anim.parents[i] >= 0 else "")
                            or (anim.parents[i] >= 0 and
                                np.linalg.norm(self.pos[i] - self.pos[anim.parents[i]]) < 0.01 * size)}
        self._height: dict[int, int] = {}

    def height(self, i: int) -> int:
        """Joints below ``i`` on its longest path (transparent joints not counted)."""
        if i not in self._height:
            self._height[i] = max((self.height(c) + (c not in self.transparent) for c in self.children[i]),
                                  default=0)
        return self._height[i]

    def subtree(self, i: int) -> list[int]:
        out = [i]
        for c in self.children[i]:
            out += self.subtree(c)
        return out

    def reach(self, i: int, origin: np.ndarray) -> float:
        return max(float(np.linalg.norm(self.pos[k] - origin)) for k in self.subtree(i))

    def chain(self, i: int, stop=None) -> list[int]:
        """Visible joints from ``i`` down the longest path (to ``stop``, included, if given)."""
        out = []
        while True:
            if i not in self.transparent:
                out.append(i)
            if i == stop or not self.children[i]:
                return out
            if stop is not None:
                i = next(c for c in self.children[i] if stop in self.subtree(c))
            else:
                i = max(self.children[i], key=lambda c: (self.height(c), len(self.subtree(c))))


def _ancestors(parents: list[int], i: int, stop: int) -> list[int]:
    """``i`` and its ancestors up to (without) ``stop``."""
    out = []
    while i != stop and i >= 0:
        out.append(i)
        i = parents[i]
    return out


def _axis(v: np.ndarray, exclude: str | None = None) -> str:
    """The signed coordinate axis nearest to ``v`` (optionally not along ``exclude``)."""
    v = np.asarray(v, float).copy()
    if exclude is not None:
        v["XYZ".index(exclude[1])] = 0.0
    k = int(np.argmax(np.abs(v)))
    return ("+" if v[k] >= 0 else "-") + "XYZ"[k]


def _unit_vector(axis: str) -> np.ndarray:
    v = np.zeros(3)
    v["XYZ".index(axis[1])] = 1.0 if axis[0] == "+" else -1.0
    return v


def _find_pelvis(t: _Tree, root: int) -> tuple[int, list[int], int]:
    """(pelvis, [two leg branch roots], spine branch root), breadth first from the root.

    A child near the joint that only holds the two legs (DAZ's ``pelvis`` under ``hip``) counts
    as its legs; a named pelvis/hips joint just above the branching (Biped's ``Pelvis`` above
    ``Spine``) is the pelvis."""
    big = lambda c: t.height(c) + (c not in t.transparent) >= 3  # noqa: E731
    size = float(np.ptp(t.pos, axis=0).max()) or 1.0
    queue = [root]
    while queue:
        i = queue.pop(0)
        kids = []
        for c in (c for c in t.children[i] if big(c)):
            grand = [g for g in t.children[c] if big(g)]
            near = np.linalg.norm(t.pos[c] - t.pos[i]) < 0.15 * size
            kids += grand if len(grand) == 2 and near else [c]
        if len(kids) >= 3:
            spine = max(kids, key=lambda c: len(t.subtree(c)))
            sides = sorted((c for c in kids if c != spine), key=lambda c: -t.reach(c, t.pos[i]))
            pelvis, parent = i, t.parent[i]
            if not _PELVIS.search(t.names[i]) and parent >= 0 and _PELVIS.search(t.names[parent]):
                pelvis = parent
            return pelvis, sides[:2], spine
        queue += t.children[i]
    raise AutoMapError("no legs: found no joint with two leg chains and a spine below it")


def _find_chest(t: _Tree, spine: int, up: np.ndarray) -> tuple[int, list[int], int | None]:
    """(chest, [two arm branch roots], head branch root or None) up the spine branch."""
    i = spine
    while True:
        kids = [c for c in t.children[i] if t.height(c) + (c not in t.transparent) >= 2]
        if len(kids) >= 2:
            origin = t.pos[i]
            lateral = lambda c: max(float(np.linalg.norm(np.cross(t.pos[k] - origin, up)))
                                    for k in t.subtree(c))
            arms = sorted(kids, key=lateral, reverse=True)[:2]
            rest = [c for c in t.children[i] if c not in arms]
            head = max(rest, key=lambda c: max(float((t.pos[k] - origin) @ up) for k in t.subtree(c)),
                       default=None)
            return i, arms, head
        nxt = [c for c in t.children[i] if t.height(c) >= 1 or c not in t.transparent]
        if not nxt:
            raise AutoMapError("no arms: found no joint up the spine where two arm chains branch off")
        i = max(nxt, key=lambda c: len(t.subtree(c)))


def _leg_roles(t: _Tree, branch: int) -> dict[str, int | str | None]:
    chain = t.chain(branch)
    named = [k for k, j in enumerate(chain) if _FOOT.search(t.names[chain[k]]) and not _TOE.search(t.names[j])]
    a = named[0] if named and named[0] >= 2 else min(2, len(chain) - 1)
    if a < 2:
        raise AutoMapError(f"the leg chain from {t.names[branch]} has fewer than 3 joints (hip, knee, ankle)")
    ankle = chain[a]
    toes = [k for k in chain[a + 1:] if _TOE.search(t.names[k])]
    toe = toes[0] if toes else chain[a + 1] if a + 1 < len(chain) else None
    toe_end = None
    if toe is None and ankle in t.ends:
        toe_end = t.names[ankle] + END_SITE
    return {"hip": chain[a - 2], "knee": chain[a - 1], "ankle": ankle, "foot": toe, "foot_end": toe_end}


def _arm_roles(t: _Tree, branch: int) -> dict[str, int | None]:
    named = [k for k in t.subtree(branch) if _HAND.search(t.names[k]) and not _FINGER.search(t.names[k])]
    if named:
        chain = t.chain(branch, stop=named[0])
    else:
        chain, i = [], branch
        while True:  # down to the first joint with fingers (two or more branches) or the end
            if i not in t.transparent:
                chain.append(i)
            if len(t.children[i]) != 1:
                break
            i = t.children[i][0]
    elbows = [k for k, j in enumerate(chain[:-1]) if _ELBOW.search(t.names[j])]
    if elbows and elbows[0] >= 1:
        chain = chain[:elbows[0] + 1] + chain[-1:]
    if len(chain) < 3:
        raise AutoMapError(f"the arm chain from {t.names[branch]} has fewer than 3 joints (shoulder, elbow, wrist)")
    return {"wrist": chain[-1], "elbow": chain[-2], "shoulder": chain[-3],
            "collar": chain[-4] if len(chain) >= 4 else None}


def _facing(pos: np.ndarray, ends: dict, legs: list[dict], up: np.ndarray) -> np.ndarray | None:
    """Forward direction of a pose from the feet (ankle -> toe or End Site), None if they do not
    say (no toes nor End Sites, or the feet point apart)."""
    dirs = []
    for leg in legs:
        tip = pos[leg["foot"]] if leg["foot"] is not None else ends.get(leg["ankle"])
        if tip is None:
            return None
        d = tip - pos[leg["ankle"]]
        d = d - (d @ up) * up
        if np.linalg.norm(d) < 1e-9:
            return None
        dirs.append(d / np.linalg.norm(d))
    if dirs[0] @ dirs[1] < 0.5:
        return None
    f = dirs[0] + dirs[1]
    return f / np.linalg.norm(f)


def _side_votes(anim: BVH, legs: list[dict], arms: list[dict], up: np.ndarray,
                frames: int = 12) -> tuple[int, int]:
    """(legs, arms) votes over up to ``frames`` poses of the take: + when ``legs[0]`` is on the
    left (up x facing), and + when ``arms[0]`` is on the same side as ``legs[0]``."""
    idx = np.unique(np.linspace(0, anim.num_frames - 1, min(frames, anim.num_frames)).astype(int))
    sample = BVH(anim.joints, anim.frame_time, anim.motion[idx])
    allpos = sample.forward_kinematics(end_sites=True)
    n = len(anim.joints)
    with_end = [i for i, j in enumerate(anim.joints) if j.end_site is not None]
    leg_vote = arm_vote = 0
    for pos in allpos:
        hips = pos[legs[0]["hip"]] - pos[legs[1]["hip"]]
        arm_vote += int(np.sign(hips @ (pos[arms[0]["shoulder"]] - pos[arms[1]["shoulder"]])))
        fwd = _facing(pos[:n], {i: pos[n + k] for k, i in enumerate(with_end)}, legs, up)
        if fwd is not None:
            leg_vote += int(np.sign(hips @ np.cross(up, fwd)))
    return leg_vote, arm_vote


def auto_map(anim: BVH, name: str | None = None) -> RigPreset:
    """A :class:`RigPreset` that reads this skeleton onto the 22 joints (see the module doc).

    Raises :class:`AutoMapError` (a ValueError) naming what it could not find.
    """
    t = _Tree(anim)
    root = anim.parents.index(-1)
    pelvis, leg_roots, spine_root = _find_pelvis(t, root)
    legs = [_leg_roles(t, b) for b in leg_roots]
    feet = np.mean([t.pos[leg["ankle"]] for leg in legs], axis=0)
    down = feet - t.pos[pelvis]
    if np.linalg.norm(down) < 1e-9:
        raise AutoMapError("the rest pose has the feet at the pelvis; cannot tell which way is up")
    up_axis = _axis(-down)
    up = _unit_vector(up_axis)
    chest, arm_roots, head_root = _find_chest(t, spine_root, up)
    arms = [_arm_roles(t, b) for b in arm_roots]

    # left and right from the geometry: the feet give the facing, left = up x facing
    notes = []
    leg_vote, arm_vote = _side_votes(anim, legs, arms, up)
    if leg_vote == 0:
        sides = [name_side(t.names[leg["hip"]]) for leg in legs]
        if sorted(s or "" for s in sides) != ["L", "R"]:
            raise AutoMapError("cannot tell left from right: the feet have no toes or End Sites (or "
                               "point apart) and the leg names carry no side")
        leg_vote = 1 if sides[0] == "L" else -1
        notes.append("left and right from the joint names (the feet do not show the facing)")
    if leg_vote < 0:
        legs.reverse()
    if arm_vote * leg_vote < 0:
        arms.reverse()
    forward_axis = FORWARD_FOR_UP[up_axis]  # a proper rotation of the file's world (no turn, no mirror)
    for limb in (legs[0]["hip"], arms[0]["shoulder"]):
        if name_side(t.names[limb]) == "R":
            notes.append(f"{t.names[limb]} is named as a right joint but lies on the left in the "
                         "motion; following the motion")

    n = lambda i: t.names[i]  # noqa: E731
    joints: dict[str, object] = {"pelvis": n(pelvis)}
    for side, leg in zip(("left", "right"), legs):
        joints[f"{side}_hip"], joints[f"{side}_knee"], joints[f"{side}_ankle"] = \
            n(leg["hip"]), n(leg["knee"]), n(leg["ankle"])
        if leg["foot"] is not None:
            joints[f"{side}_foot"] = n(leg["foot"])
        elif leg["foot_end"] is not None:
            joints[f"{side}_foot"] = {"lerp": [n(leg["ankle"]), leg["foot_end"], 1.0]}
        else:
            joints[f"{side}_foot"] = {"lerp": [n(leg["knee"]), n(leg["ankle"]), 1.25]}
            notes.append(f"{side} toe synthesised along the shin (no toe joint, no End Site)")

    # spine: joints between the pelvis and the chest; a Biped-style chest (arms under the neck)
    # is the neck, the joint below it spine3
    head_chain = t.chain(head_root) if head_root is not None else []
    top = chest
    if _NECK.search(n(chest)) and not any(_NECK.search(n(k)) for k in head_chain):
        head_chain = [chest] + head_chain
        top = anim.parents[chest]
    between = [k for k in t.chain(pelvis, stop=top) if k not in (pelvis, top)]
    joints["spine3"] = n(top)
    if len(between) == 0:
        joints["spine1"] = {"lerp": [n(pelvis), n(top), 1 / 3]}
        joints["spine2"] = {"lerp": [n(pelvis), n(top), 2 / 3]}
    elif len(between) == 1:
        joints["spine1"] = n(between[0])
        joints["spine2"] = {"lerp": [n(between[0]), n(top), 0.5]}
    else:
        joints["spine1"], joints["spine2"] = n(between[0]), n(between[len(between) // 2 if len(between) > 2 else 1])
    heads = [k for k in head_chain if _HEAD.search(n(k))]
    if not head_chain:
        raise AutoMapError("no head: found no neck/head chain above the chest")
    head = heads[0] if heads else head_chain[-1] if len(head_chain) >= 3 else head_chain[min(1, len(head_chain) - 1)]
    neck = head_chain[0] if head_chain[0] != head else None
    joints["neck"] = n(neck) if neck is not None else {"lerp": [n(top), n(head), 0.5]}
    joints["head"] = n(head)
    for side, arm in zip(("left", "right"), arms):
        joints[f"{side}_shoulder"], joints[f"{side}_elbow"], joints[f"{side}_wrist"] = \
            n(arm["shoulder"]), n(arm["elbow"]), n(arm["wrist"])
        joints[f"{side}_collar"] = (n(arm["collar"]) if arm["collar"] is not None
                                    else {"lerp": [n(top), n(arm["shoulder"]), 0.5]})

    # units: the bones from an ankle up to the head measure about a person's height
    path = lambda i, stop: sum(float(np.linalg.norm(t.pos[k] - t.pos[anim.parents[k]]))  # noqa: E731
                               for k in _ancestors(anim.parents, i, stop))
    height = path(legs[0]["ankle"], pelvis) + path(head, pelvis)
    if height <= 0:
        raise AutoMapError("the skeleton has no size (all joints at one point)")
    unit, scale = min(UNIT_SCALES.items(), key=lambda kv: abs(np.log(height * kv[1] / TYPICAL_HEIGHT_M)))
    label = convention(anim.names)
    key = skeleton_key(anim)
    data = {"name": name or f"auto-{key}", "label": f"automatic ({label})",
            "description": f"automatic map of a {label} skeleton ({len(anim.names)} joints, {unit}, "
                           f"{up_axis} up)",
            "unit_scale": scale, "units": unit, "up_axis": up_axis, "forward_axis": forward_axis,
            "convention": label, "notes": notes, "joints": joints}
    return RigPreset.from_dict(data, name=data["name"])


def describe(preset: RigPreset) -> list[str]:
    """Readable lines of a map: '  left_knee <- LeftLeg', derived joints with their rule."""
    lines = [f"{preset.name}: {preset.description}"]
    for joint, ref in preset.data.get("joints", {}).items():
        shown = ref if isinstance(ref, str) else ", ".join(f"{k} {v}" for k, v in ref.items())
        lines.append(f"  {joint:14s} <- {shown}")
    lines += [f"  note: {x}" for x in preset.data.get("notes", [])]
    return lines


__all__ = ["auto_map", "AutoMapError", "describe", "skeleton_key", "convention", "name_side",
           "rest_positions", "CONVENTIONS", "UNIT_SCALES", "END_SITE"]
