"""*Add Body*: a skinned SMPL / SMPL-X body mesh on the active SMPL-22 armature.

The user's own model file (preferences › Body model; licensed by its authors, never bundled)
is read and fitted to the armature's rest pose by the engine (:mod:`bamm_core.rigs.body`);
here the mesh object is created: parented to the armature, one vertex group per body bone
(the model's hand, finger, jaw and eye weights go to their parent body joint) and an Armature
modifier, so a generated motion deforms it without offsets.  Bad input (no SMPL-22 armature,
a missing / corrupt / foreign model file, a wrong joint count, smplx not installed): an error
message and no change to the scene.
"""
from __future__ import annotations

import bpy
import numpy as np
from bpy.props import EnumProperty, FloatVectorProperty, StringProperty

from .core import submodule
from .engine_loader import prefs

GENDER_ITEMS = [("neutral", "Neutral", ""), ("male", "Male", ""), ("female", "Female", "")]
NUM_BETAS = 4


def armature_rest_joints(ob) -> tuple[np.ndarray, list[str]]:
    """(22, 3) bone heads in armature space and the 22 bone names, through the rig presets;
    ValueError when the armature does not have all 22 joints."""
    presets = submodule("rigs.presets")
    names = submodule("rigs.rest_pose").JOINT_NAMES
    try:
        _preset, mapping = presets.detect([b.name for b in ob.data.bones])
    except ValueError:
        mapping = {}
    missing = [n for n in names if not mapping.get(n)]
    if missing:
        raise ValueError(f"Add Body needs an SMPL-22 armature (Create SMPL-22 Armature); {ob.name!r} has no "
                         f"bones for {', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''}")
    bones = [mapping[n] for n in names]
    return np.array([ob.data.bones[b].head_local for b in bones], float), bones


def build_body(context, arm, body, bones: list[str], name: str):
    """The mesh object of ``body`` (armature-space vertices), skinned to ``arm``."""
    mesh = bpy.data.meshes.new(name)
    mesh.from_pydata([tuple(v) for v in body.vertices], [], [tuple(int(i) for i in f) for f in body.faces])
    mesh.validate(clean_customdata=False)
    mesh.update()
    for poly in mesh.polygons:
        poly.use_smooth = True
    ob = bpy.data.objects.new(name, mesh)
    (arm.users_collection[0] if arm.users_collection else context.scene.collection).objects.link(ob)
    ob.parent = arm
    ob.matrix_parent_inverse.identity()
    for j, bone in enumerate(bones):
        group = ob.vertex_groups.new(name=bone)
        w = body.weights[:, j]
        for i in np.flatnonzero(w > 0):
            group.add([int(i)], float(w[i]), "REPLACE")
    mod = ob.modifiers.new("Armature", "ARMATURE")
    mod.object = arm
    mod.use_vertex_groups = True
    return ob


class BAMM_OT_add_body(bpy.types.Operator):
    """Add a skinned SMPL / SMPL-X body mesh on the active SMPL-22 armature, from your own
    model file (set in the add-on preferences)"""

    bl_idname = "bamm.add_body"
    bl_label = "Add Body"
    bl_options = {"REGISTER", "UNDO"}

    model_path: StringProperty(name="Model file", subtype="FILE_PATH", default="",
                               description="SMPL/SMPL-X .npz/.pkl or a folder of them; empty: the preferences'")
    gender: EnumProperty(name="Gender", items=GENDER_ITEMS, default="neutral")
    betas: FloatVectorProperty(name="Shape", size=NUM_BETAS, default=(0.0,) * NUM_BETAS, min=-5.0, max=5.0,
                               description="The first shape coefficients (betas) of the body model")
    name: StringProperty(name="Name", default="Body")

    @classmethod
    def poll(cls, context):
        return context.active_object is not None and context.active_object.type == "ARMATURE"

    def execute(self, context):
        arm = context.active_object
        p = prefs(context)
        path = bpy.path.abspath(self.model_path or (p.body_model if p else ""))
        try:
            body_model, body_fit = submodule("rigs.body_model"), submodule("rigs.body")
            rest, bones = armature_rest_joints(arm)
            model = body_model.load_body_model(path, self.gender, list(self.betas))
            body = body_fit.fit_body(model, rest)
        except (ImportError, ValueError) as e:  # BodyModelError is a ValueError
            self.report({"ERROR"}, str(e))
            return {"CANCELLED"}
        if context.object and context.object.mode != "OBJECT":
            bpy.ops.object.mode_set(mode="OBJECT")
        ob = build_body(context, arm, body, bones, self.name)
        self.report({"INFO"}, f"Added {model.kind} body {ob.name!r} ({len(body.vertices)} vertices) on {arm.name!r}")
        return {"FINISHED"}


def draw_add_body(layout, context) -> None:
    """The panel's Add Body row: gender, a few shape sliders, the button."""
    s = context.scene.bamm
    box = layout.box()
    box.label(text="Body (SMPL / SMPL-X)", icon="OUTLINER_OB_MESH")
    p = prefs(context)
    if p is not None and not p.body_model:
        box.label(text="Set the model file in the preferences", icon="INFO")
    box.prop(s, "body_gender", expand=True)
    box.prop(s, "body_betas")
    op = box.operator("bamm.add_body", icon="OUTLINER_OB_ARMATURE")
    op.gender, op.betas = s.body_gender, tuple(s.body_betas)


classes = (BAMM_OT_add_body,)
