"""Reading an armature for retargeting: rest pose, bone map, posed joints (bpy, no math)."""
from __future__ import annotations

import numpy as np

from .core import submodule


class UserError(Exception):
    """Bad input from the user; operators report its message and change nothing."""


def add_edit_bones(armature, bones) -> dict:
    """Create ``bones`` (dicts with name, head, tail, roll, parent) as edit bones of ``armature``.

    The armature's object must be in Edit Mode.  Returns name -> edit bone.
    """
    ebs = {}
    for b in bones:
        eb = armature.edit_bones.new(b["name"])
        eb.head, eb.tail, eb.roll = b["head"], b["tail"], b["roll"]
        ebs[b["name"]] = eb
    for b in bones:
        if b["parent"]:
            ebs[b["name"]].parent = ebs[b["parent"]]
    return ebs


def rest_pose(ob):
    """The armature's rest pose in armature space as a ``retargeting.RestPose``."""
    rt = submodule("rigs.retargeting")
    bones = ob.data.bones
    names = [b.name for b in bones]
    index = {n: i for i, n in enumerate(names)}
    heads = np.array([tuple(b.head_local) for b in bones], np.float64).reshape(-1, 3)
    tails = np.array([tuple(b.tail_local) for b in bones], np.float64).reshape(-1, 3)
    mats = np.array([[tuple(r) for r in b.matrix_local.to_3x3()] for b in bones], np.float64).reshape(-1, 3, 3)
    parents = [index[b.parent.name] if b.parent else -1 for b in bones]
    return rt.RestPose(names, np.array(parents, np.int64), heads, tails, mats)


def armature_from_context(context, name: str = ""):
    """The target armature: the named object, else the active object; UserError otherwise."""
    import bpy

    ob = bpy.data.objects.get(name) if name else context.active_object
    if name and ob is None:
        raise UserError(f"no object named {name!r}")
    if ob is None:
        raise UserError("no armature: select an armature (make it the active object) "
                        "or use Create SMPL-22 Armature")
    if ob.type != "ARMATURE":
        raise UserError(f"the active object {ob.name!r} is a {ob.type.lower()}, not an armature")
    if ob.mode == "EDIT":
        raise UserError(f"armature {ob.name!r} is in Edit Mode: switch to Object or Pose Mode first")
    return ob


def retargeter_for(ob, preset: str = "AUTO", custom_map: str = ""):
    """(Retargeter, preset label) for an armature; UserError with a clear message if the rig
    has no recognisable bones or lacks required ones."""
    rt = submodule("rigs.retargeting")
    rp = submodule("rigs.presets")
    names = [b.name for b in ob.data.bones]
    try:
        if preset == "CUSTOM":
            if not custom_map:
                raise UserError("rig preset is Custom but no JSON map file is set")
            p = rp.load_preset(bpy_abspath(custom_map))
            mapping = p.match(names)
        elif preset == "AUTO":
            p, mapping = rp.detect(names)
        else:
            p = rp.get_preset(preset)
            mapping = p.match(names)
        return rt.Retargeter(rest_pose(ob), mapping, rig_name=f"armature {ob.name!r} ({p.label})"), p.label
    except (rt.RetargetError, ValueError, FileNotFoundError) as e:
        raise UserError(str(e)) from None


def bpy_abspath(path: str) -> str:
    import bpy

    return bpy.path.abspath(path)


def read_joints(context, ob, retargeter, frames) -> np.ndarray:
    """Evaluated pose -> joints (len(frames), 22, 3) in armature space.

    Steps the scene through ``frames`` (restoring the current frame afterwards) and reads the
    evaluated pose bones' heads of the mapped bones (tails fill joints the rig has no bone
    for), so whatever drives the rig -- keys made by hand, constraints, drivers -- is seen.
    """
    rt = submodule("rigs.retargeting")
    scene = context.scene
    keep = (scene.frame_current, scene.frame_subframe)
    mapped = [(j, retargeter.rest.names[b]) for j, b in retargeter.map.items()]
    out = np.full((len(frames), 22, 3), np.nan)
    tails = {j: np.zeros((len(frames), 3)) for j, _ in mapped}
    try:
        for k, f in enumerate(frames):
            scene.frame_set(int(f))
            dg = context.evaluated_depsgraph_get()
            pose = ob.evaluated_get(dg).pose
            for j, name in mapped:
                pb = pose.bones[name]
                out[k, j] = tuple(pb.head)
                tails[j][k] = tuple(pb.tail)
    finally:
        scene.frame_set(keep[0], subframe=keep[1])
    return rt.fill_missing_joints(out, tails)
