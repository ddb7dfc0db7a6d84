"""Writing a retargeted motion into actions, fast, without touching keys it should not.

Blender 4.4+ stores F-curves in slotted actions (action -> layer -> strip -> channelbag per
slot; ``Action.fcurves`` is gone in 5.0); 4.2/4.3 use ``action.fcurves``.  :func:`channels`
hides the difference.  Keys are written with ``keyframe_points.add`` + ``foreach_set``.

Rotations are written in each pose bone's own rotation mode (quaternion, or Euler with its
axis order), so hand-keyed Euler rigs keep working.
"""
from __future__ import annotations

import bpy
import numpy as np

from .core import submodule

EULER_MODES = ("XYZ", "XZY", "YXZ", "YZX", "ZXY", "ZYX")
STASH_TRACK = "[Action Stash]"


# --------------------------------------------------------------------------------------
# Actions, slots, channel bags
# --------------------------------------------------------------------------------------
def channels(ob, action):
    """The F-curve collection of ``ob``'s slot in ``action`` (created if needed)."""
    if hasattr(action, "slots"):  # Blender 4.4+: slotted actions
        ad = ob.animation_data
        slot = ad.action_slot if ad and ad.action == action else None
        if slot is None:
            slot = next((s for s in action.slots
                         if getattr(s, "target_id_type", getattr(s, "id_root", "OBJECT")) == "OBJECT"), None)
            if slot is None:
                slot = action.slots.new(id_type="OBJECT", name=ob.name)
            if ad and ad.action == action:
                ad.action_slot = slot
        try:  # 5.0+
            from bpy_extras.anim_utils import action_ensure_channelbag_for_slot
        except ImportError:  # 4.4/4.5: the same, by hand
            return ensure_channelbag(action, slot)
        return action_ensure_channelbag_for_slot(action, slot)
    return action  # 4.2/4.3 legacy action: action.fcurves


def ensure_channelbag(action, slot):
    """``slot``'s channelbag in the first keyframe strip of the first layer (both created if
    needed): what 5.0's ``action_ensure_channelbag_for_slot`` does, for 4.4/4.5."""
    layer = action.layers[0] if len(action.layers) else action.layers.new("Layer")
    strip = layer.strips[0] if len(layer.strips) else layer.strips.new(type="KEYFRAME")
    return strip.channelbag(slot, ensure=True)


def new_fcurve(container, data_path: str, index: int, group: str):
    fc = container.fcurves.find(data_path, index=index)
    if fc is not None:
        return fc
    if hasattr(container, "slot"):  # channelbag
        try:
            return container.fcurves.new(data_path, index=index, group_name=group)
        except TypeError:  # 4.4: no group_name argument yet
            fc = container.fcurves.new(data_path, index=index)
            grp = container.groups.get(group) or container.groups.new(group)
            fc.group = grp
            return fc
    return container.fcurves.new(data_path, index=index, action_group=group)


def find_fcurve(container, data_path: str, index: int):
    return container.fcurves.find(data_path, index=index)


def stash_action(ob, action) -> None:
    """Keep ``action`` safe: a muted NLA track (like the Action Editor's Stash) + fake user."""
    action.use_fake_user = True
    ad = ob.animation_data
    track = ad.nla_tracks.new()
    track.name = STASH_TRACK
    start = int(action.frame_range[0])
    strip = track.strips.new(action.name, start, action)
    slot = getattr(ad, "action_slot", None)
    if slot is not None and hasattr(strip, "action_slot"):
        try:
            strip.action_slot = slot
        except (TypeError, AttributeError, RuntimeError):
            pass
    track.mute = True
    track.lock = True


def assign_new_action(ob, name: str):
    """Create an action for ``ob`` named ``name`` and make it active; the previous one is
    stashed (nothing lost).  Returns the new action."""
    ad = ob.animation_data or ob.animation_data_create()
    prev = ad.action
    if prev is not None:
        stash_action(ob, prev)
        ad.action = None
    action = bpy.data.actions.new(name)
    ad.action = action
    if hasattr(action, "slots"):
        slot = action.slots.new(id_type="OBJECT", name=ob.name)
        ad.action_slot = slot
    return action


# --------------------------------------------------------------------------------------
# Rotation modes
# --------------------------------------------------------------------------------------
def rotation_channels(pb) -> tuple[str, int]:
    """(property name, number of channels) the bone's rotation is keyed in."""
    if pb.rotation_mode in EULER_MODES:
        return "rotation_euler", 3
    if pb.rotation_mode == "AXIS_ANGLE":
        pb.rotation_mode = "QUATERNION"
    return "rotation_quaternion", 4


def quats_to_mode(q: np.ndarray, mode: str, reference: np.ndarray | None = None) -> np.ndarray:
    """Quaternions (T, 4) -> values (T, 3|4) for rotation mode ``mode``; Euler angles are made
    continuous over time and (when ``reference`` (3,) is given) next to it."""
    if mode not in EULER_MODES:
        return q
    rot = submodule("motion.rotations")
    # Blender's mode "XYZ" applies X first (R = Rz Ry Rx), i.e. bamm_core's order "ZYX"
    # (R = R_o0 R_o1 R_o2); rotation_euler stores the angles per axis (x, y, z) in any mode
    order = mode[::-1]
    e = np.asarray(rot.quat_to_euler(q, order=order, degrees=False))
    e = e[..., [order.index(a) for a in "XYZ"]]
    if reference is not None:
        e = np.concatenate([np.asarray(reference, np.float64)[None], e], axis=0)
        e = np.unwrap(e, axis=0)[1:]
    else:
        e = np.unwrap(e, axis=0)
    return e


def mode_to_quats(v: np.ndarray, mode: str) -> np.ndarray:
    if mode not in EULER_MODES:
        return v
    rot = submodule("motion.rotations")
    order = mode[::-1]
    e = np.asarray(v, np.float64)[..., ["XYZ".index(a) for a in order]]
    return np.asarray(rot.euler_to_quat(e, order=order, degrees=False))


# --------------------------------------------------------------------------------------
# Key writing
# --------------------------------------------------------------------------------------
def add_keys(fc, frames: np.ndarray, values: np.ndarray) -> None:
    """Append keys (frames (n,), values (n,)) to an F-curve in one go and recalc handles."""
    kp = fc.keyframe_points
    n0 = len(kp)
    n = len(frames)
    if n == 0:
        return
    kp.add(n)
    co = np.empty(2 * (n0 + n), np.float32)
    kp.foreach_get("co", co)
    co[2 * n0::2] = frames
    co[2 * n0 + 1::2] = values
    kp.foreach_set("co", co)
    fc.update()


def evaluate(fc, frames: np.ndarray, default: float) -> np.ndarray:
    if fc is None or len(fc.keyframe_points) == 0:
        return np.full(len(frames), default, np.float64)
    return np.array([fc.evaluate(float(f)) for f in frames], np.float64)


def replace_range(fc, frames: np.ndarray, values: np.ndarray) -> None:
    """Replace the keys of ``fc`` with frames in [frames[0], frames[-1]] by new keys.

    Keys outside that range keep their co and handles bit for bit: after Blender recomputes
    automatic handles, any outside key whose handles moved (only the neighbours of the range
    can) gets its saved handles back with handle type FREE, so the curve outside is unchanged.
    """
    kp = fc.keyframe_points
    lo, hi = float(frames[0]), float(frames[-1])
    n = len(kp)
    co = np.empty(2 * n, np.float32)
    hl = np.empty(2 * n, np.float32)
    hr = np.empty(2 * n, np.float32)
    kp.foreach_get("co", co)
    kp.foreach_get("handle_left", hl)
    kp.foreach_get("handle_right", hr)
    x = co[0::2]
    before = np.nonzero(x < lo)[0]
    after = np.nonzero(x > hi)[0]
    inside = np.nonzero((x >= lo) & (x <= hi))[0]
    for i in inside[::-1]:
        kp.remove(kp[int(i)], fast=True)
    add_keys(fc, frames, values)  # sorts + recalculates handles
    # restore outside keys' handles where the recalculation moved them
    m = len(kp)
    hl2 = np.empty(2 * m, np.float32)
    hr2 = np.empty(2 * m, np.float32)
    kp.foreach_get("handle_left", hl2)
    kp.foreach_get("handle_right", hr2)
    pairs = [(int(i), k) for k, i in enumerate(before)]
    pairs += [(int(i), m - len(after) + k) for k, i in enumerate(after)]
    for old, new in pairs:
        if (hl2[2 * new:2 * new + 2] != hl[2 * old:2 * old + 2]).any() or \
                (hr2[2 * new:2 * new + 2] != hr[2 * old:2 * old + 2]).any():
            p = kp[new]
            p.handle_left_type = "FREE"
            p.handle_right_type = "FREE"
            p.handle_left = tuple(hl[2 * old:2 * old + 2])
            p.handle_right = tuple(hr[2 * old:2 * old + 2])


def write_pose(ob, action, pose, frames: np.ndarray, weights: np.ndarray | None = None) -> int:
    """Write a ``RigPose`` at ``frames`` (T,) into ``action`` for ``ob``.

    weights None: plain write (a new action).  Otherwise (T,) blend weights: each key is
    blended from the value the existing animation has at that frame (weight 0) to the new
    one (weight 1), and only keys within [frames[0], frames[-1]] are replaced.
    Returns the number of F-curves written.
    """
    rt = submodule("rigs.retargeting")
    bag = channels(ob, action)
    frames = np.asarray(frames, np.float64)
    count = 0
    for k, name in enumerate(pose.bone_names):
        pb = ob.pose.bones[name]
        prop, nch = rotation_channels(pb)
        path = pb.path_from_id(prop)
        new_q = np.asarray(pose.rotations[:, k], np.float64)
        fcs = [find_fcurve(bag, path, i) for i in range(nch)]
        if weights is not None:
            current = tuple(getattr(pb, prop))
            old = np.stack([evaluate(fc, frames, current[i]) for i, fc in enumerate(fcs)], -1)
            q = rt.nlerp(mode_to_quats(old, pb.rotation_mode), new_q, weights)
            q = rt.make_continuous(q)
            vals = quats_to_mode(q, pb.rotation_mode, reference=old[0])
        else:
            vals = quats_to_mode(new_q, pb.rotation_mode)
        for i in range(nch):
            fc = fcs[i] or new_fcurve(bag, path, i, name)
            _write(fc, frames, vals[:, i], weights is not None)
            count += 1
        if name == pose.root_bone:
            path = pb.path_from_id("location")
            new_l = np.asarray(pose.root_location, np.float64)
            for i in range(3):
                fc = find_fcurve(bag, path, i)
                v = new_l[:, i]
                if weights is not None:
                    old = evaluate(fc, frames, pb.location[i])
                    v = (1 - weights) * old + weights * v
                fc = fc or new_fcurve(bag, path, i, name)
                _write(fc, frames, v, weights is not None)
                count += 1
    return count


def _write(fc, frames, values, merge: bool) -> None:
    if merge and len(fc.keyframe_points):
        replace_range(fc, frames, values)
    else:
        add_keys(fc, frames, values)


def snapshot(ob) -> dict:
    """{(data_path, index): (co, handle_left, handle_right) arrays} of ob's active action."""
    ad = ob.animation_data
    if ad is None or ad.action is None:
        return {}
    out = {}
    for fc in channels(ob, ad.action).fcurves:
        kp = fc.keyframe_points
        arrs = []
        for attr in ("co", "handle_left", "handle_right"):
            a = np.empty(2 * len(kp), np.float32)
            kp.foreach_get(attr, a)
            arrs.append(a.reshape(-1, 2))
        out[(fc.data_path, fc.array_index)] = tuple(arrs)
    return out
