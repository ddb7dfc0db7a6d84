"""Variations side by side: temporary candidate copies of an armature, then Keep or Discard.

A candidate is a copy of the armature object (sharing its armature data) with its own action,
placed beside the original along the armature's local X (one step = the rest pose's size),
named and labelled ``#K`` in the viewport, hidden from renders.  The original armature and its
action are not touched until a candidate is kept.

Everything Keep needs is stored on the candidates as custom properties (``bamm_variation*``:
index, source armature, mode, frame range, action name, keyed paths), so candidates survive
undo and saved files; ones left behind by a crash are found by the same marker and removed by
:func:`discard`.  Keep copies the chosen candidate's keys onto the original:

- ``GENERATE``: into a new action (the previous one is stashed, as Generate does);
- ``INPAINT``: into the original action, only inside the range (keys outside stay bit-identical).
"""
from __future__ import annotations

import json

import bpy
import numpy as np
from mathutils import Vector

from . import keyframes
from .rig import UserError

MARK = "bamm_variation"  # the candidate's number K (on its object and its action)
PART = "bamm_variation_part"  # the number K on copies of the armature's child meshes (its skin)
SOURCE = "bamm_variation_of"  # the original armature's name
MODE = "bamm_variation_mode"  # "GENERATE" or "INPAINT"
ACTION = "bamm_variation_action"  # GENERATE: the kept action's name; INPAINT: the edited action
RANGE = "bamm_variation_range"  # INPAINT: [first frame, last frame]
PATHS = "bamm_variation_paths"  # INPAINT: JSON list of the F-curve data paths the edit keyed
SPACING = 1.2  # step between candidates, in rest-pose sizes

# key attributes copied from a candidate's F-curves: (name, values per key, dtype)
# (types before handles: the handles are set last)
_KEY_ATTRS = (("co", 2, np.float32), ("interpolation", 1, np.int32), ("handle_left_type", 1, np.int32),
              ("handle_right_type", 1, np.int32), ("easing", 1, np.int32),
              ("handle_left", 2, np.float32), ("handle_right", 2, np.float32))


# --------------------------------------------------------------------------------------
# finding candidates
# --------------------------------------------------------------------------------------
def candidates() -> list:
    """The candidate objects in the file (this session's or left behind), by number."""
    return sorted((o for o in bpy.data.objects if MARK in o), key=lambda o: (int(o[MARK]), o.name))


def leftover_actions() -> list:
    return [a for a in bpy.data.actions if MARK in a]


def waiting_source() -> str | None:
    """The name of the armature whose candidates are waiting, or None."""
    cands = candidates()
    if cands:
        return str(cands[0].get(SOURCE, "?"))
    return "?" if leftover_actions() or any(PART in o for o in bpy.data.objects) else None


def ensure_none_waiting() -> None:
    """UserError while candidates exist: one set of variations at a time."""
    source = waiting_source()
    if source is not None:
        raise UserError(f"variations of {source!r} are waiting: Keep one or Discard them first")


# --------------------------------------------------------------------------------------
# making candidates
# --------------------------------------------------------------------------------------
def spacing(ob) -> float:
    """The step between candidates along the armature's local X, in its local units: the
    largest side of the rest pose's bounding box, plus a margin."""
    pts = [tuple(b.head_local) for b in ob.data.bones] + [tuple(b.tail_local) for b in ob.data.bones]
    if not pts:
        return SPACING
    pts = np.array(pts, np.float64)
    return float(SPACING * max((pts.max(0) - pts.min(0)).max(), 1e-3))


def make_candidate(ob, k: int, step: float, props: dict):
    """Candidate ``k`` of ``ob``: a copy without animation, ``k`` steps along ``ob``'s local X
    (a delta offset, so animated object transforms still apply), labelled, not rendered; the
    armature's child meshes (the character) are copied onto it, sharing their mesh data."""
    cand = ob.copy()
    cand.animation_data_clear()
    cand.name = f"#{k} {ob.name}"
    cand[MARK] = k
    cand[SOURCE] = ob.name
    for key, value in props.items():
        cand[key] = value
    cand.show_name = True
    cand.hide_render = True
    offset = ob.matrix_basis.to_3x3() @ Vector((k * step, 0.0, 0.0))
    cand.delta_location = Vector(ob.delta_location) + offset
    _link_like(ob, cand)
    for child in ob.children:
        if child.type == "MESH":
            part = child.copy()
            part[PART] = k
            part.parent = cand
            part.hide_render = True
            for mod in part.modifiers:
                if mod.type == "ARMATURE" and mod.object == ob:
                    mod.object = cand
            _link_like(child, part)
    return cand


def _link_like(ob, copy) -> None:
    for coll in ob.users_collection or (bpy.context.scene.collection,):
        coll.objects.link(copy)


def show_generated(ob, poses, start: int, name: str) -> str:
    """One candidate per generated pose, keyed from frame ``start``; Keep names the action
    ``name``."""
    ensure_none_waiting()
    step = spacing(ob)
    for k, pose in enumerate(poses, 1):
        cand = make_candidate(ob, k, step, {MODE: "GENERATE", ACTION: name})
        action = keyframes.assign_new_action(cand, f"{name} (variation #{k})")
        action[MARK] = k
        keyframes.write_pose(cand, action, pose, start + np.arange(len(pose.rotations)))
    return f"{len(poses)} variations of '{name}' beside {ob.name}: Keep one (#1–#{len(poses)}) or Discard them"


def show_inpainted(ob, action, poses, frames, weights) -> str:
    """One candidate per inpainted pose: a copy of ``action`` with the range rewritten (as
    Inpaint would write it); Keep writes the range into ``action``."""
    ensure_none_waiting()
    step = spacing(ob)
    f0, f1 = int(frames[0]), int(frames[-1])
    src_slot = getattr(ob.animation_data, "action_slot", None)
    for k, pose in enumerate(poses, 1):
        cand = make_candidate(ob, k, step, {MODE: "INPAINT", ACTION: action.name, RANGE: [f0, f1]})
        copy = action.copy()
        copy.name = f"{action.name} (variation #{k})"
        copy[MARK] = k
        copy.use_fake_user = False
        ad = cand.animation_data_create()
        ad.action = copy
        if src_slot is not None:
            ad.action_slot = next((s for s in copy.slots if s.identifier == src_slot.identifier), None)
        keyframes.write_pose(cand, copy, pose, frames, weights=weights)
        cand[PATHS] = json.dumps(keyed_paths(cand, pose))
    return (f"{len(poses)} variations of frames {f0}–{f1} beside {ob.name}: "
            f"Keep one (#1–#{len(poses)}) or Discard them")


def keyed_paths(ob, pose) -> list[str]:
    """The F-curve data paths :func:`keyframes.write_pose` keys for ``pose`` on ``ob``."""
    out = []
    for name in pose.bone_names:
        pb = ob.pose.bones[name]
        out.append(pb.path_from_id("rotation_euler" if pb.rotation_mode in keyframes.EULER_MODES
                                   else "rotation_quaternion"))
        if name == pose.root_bone:
            out.append(pb.path_from_id("location"))
    return out


# --------------------------------------------------------------------------------------
# keep / discard
# --------------------------------------------------------------------------------------
def keep(index: int) -> str:
    """Apply candidate ``index``'s motion to the original armature, then remove all
    candidates.  Every check comes first: a UserError changes nothing."""
    cands = candidates()
    if not cands:
        raise UserError("no variations to keep: Generate (or Inpaint) with Variations above 1, side by side")
    chosen = next((c for c in cands if int(c[MARK]) == index), None)
    if chosen is None:
        have = ", ".join(f"#{int(c[MARK])}" for c in cands)
        raise UserError(f"there is no variation #{index} (left: {have})")
    name = str(chosen.get(SOURCE, ""))
    ob = bpy.data.objects.get(name)
    if ob is None or ob.type != "ARMATURE" or MARK in ob:
        raise UserError(f"the original armature {name!r} is gone (deleted or renamed): rename it back "
                        "to keep a variation, or Discard them")
    ad = chosen.animation_data
    cand_action = ad.action if ad else None
    if cand_action is None:
        raise UserError(f"variation #{index} has no action any more: Discard the variations")
    missing = [pb.name for pb in chosen.pose.bones if ob.pose.bones.get(pb.name) is None]
    if missing:
        raise UserError(f"armature {name!r} lacks bones of variation #{index} ({', '.join(missing[:3])}): "
                        "Discard the variations")
    if chosen.get(MODE) == "INPAINT":
        action = ob.animation_data.action if ob.animation_data else None
        if action is None or action.name != chosen.get(ACTION):
            raise UserError(f"the action of {name!r} changed since the variations were made "
                            f"(was {chosen.get(ACTION)!r}): Discard them and Inpaint again")
        f0, f1 = (int(v) for v in chosen[RANGE])
        paths = set(json.loads(chosen.get(PATHS, "[]")))
        _sync_rotation_modes(chosen, ob)
        _copy_curves(keyframes.channels(chosen, cand_action), keyframes.channels(ob, action), paths, f0, f1)
        msg = f"Kept variation #{index}: frames {f0}–{f1} of '{action.name}' on {ob.name}"
    else:
        _sync_rotation_modes(chosen, ob)
        action = keyframes.assign_new_action(ob, str(chosen.get(ACTION, cand_action.name)))
        _copy_curves(keyframes.channels(chosen, cand_action), keyframes.channels(ob, action))
        msg = f"Kept variation #{index} as '{action.name}' on {ob.name}"
    discard()
    return msg


def discard() -> int:
    """Remove every candidate object and candidate action (this session's or left behind);
    the number of candidates removed."""
    obs = [o for o in bpy.data.objects if MARK in o or PART in o]
    actions = leftover_actions()
    count = sum(MARK in o for o in obs)
    for ob in obs:
        bpy.data.objects.remove(ob, do_unlink=True)
    for action in actions:
        bpy.data.actions.remove(action)
    return count


def _sync_rotation_modes(src, dst) -> None:
    """Give dst's bones the rotation modes the candidate's keys are in (Generate turns
    axis-angle bones into quaternion ones)."""
    for pb in src.pose.bones:
        target = dst.pose.bones[pb.name]
        if target.rotation_mode != pb.rotation_mode and target.rotation_mode == "AXIS_ANGLE":
            target.rotation_mode = pb.rotation_mode


def _read_keys(fc, select=None) -> dict:
    kp = fc.keyframe_points
    out = {}
    for attr, width, dtype in _KEY_ATTRS:
        a = np.empty(width * len(kp), dtype)
        kp.foreach_get(attr, a)
        a = a.reshape(len(kp), width)
        out[attr] = a if select is None else a[select]
    return out


def _copy_curves(src_bag, dst_bag, paths=None, lo=None, hi=None) -> None:
    """Copy src's F-curves (those in ``paths`` if given) into dst exactly: whole curves, or
    (lo/hi given) only the keys in [lo, hi], replacing dst's keys there and keeping dst's
    keys outside bit-identical (:func:`keyframes.replace_range`)."""
    for fc in src_bag.fcurves:
        if paths is not None and fc.data_path not in paths:
            continue
        group = fc.group.name if fc.group else ""
        dst = keyframes.find_fcurve(dst_bag, fc.data_path, fc.array_index)
        if lo is None:
            if dst is not None:
                dst_bag.fcurves.remove(dst)
            dst = keyframes.new_fcurve(dst_bag, fc.data_path, fc.array_index, group)
            keys = _read_keys(fc)
        else:
            co = _read_keys(fc)["co"]
            keys = _read_keys(fc, (co[:, 0] >= lo) & (co[:, 0] <= hi))
            dst = dst or keyframes.new_fcurve(dst_bag, fc.data_path, fc.array_index, group)
        frames, values = keys["co"][:, 0], keys["co"][:, 1]
        if lo is not None and len(dst.keyframe_points):
            keyframes.replace_range(dst, frames, values)
        else:
            keyframes.add_keys(dst, frames, values)
        _set_inside(dst, keys, frames)


def _set_inside(fc, keys: dict, frames) -> None:
    """Give fc's keys at ``frames`` the candidate's handles, types and interpolation."""
    if not len(frames):
        return
    kp = fc.keyframe_points
    co = np.empty(2 * len(kp), np.float32)
    kp.foreach_get("co", co)
    x = co[0::2]
    idx = np.nonzero((x >= frames[0]) & (x <= frames[-1]))[0]
    if len(idx) != len(frames):
        return  # not one key per candidate key: the values are in, Blender's handles stay
    for attr, width, dtype in _KEY_ATTRS[1:]:
        a = np.empty(width * len(kp), dtype)
        kp.foreach_get(attr, a)
        a = a.reshape(len(kp), width)
        a[idx] = keys[attr]
        kp.foreach_set(attr, a.ravel())
