"""Utility operators: create an SMPL-22 armature, pick a new seed, install the dependencies,
download the paper's model (in the background; progress in the preferences and status bar)."""
from __future__ import annotations

import random

import bpy
from bpy.props import EnumProperty, StringProperty

from . import dependencies
from .core import submodule
from .engine_loader import prefs
from .operators_base import settings
from .rig import add_edit_bones


class BAMM_OT_create_armature(bpy.types.Operator):
    """Add a clean armature matching the engine's 22-joint skeleton (T-pose, metres)"""

    bl_idname = "bamm.create_armature"
    bl_label = "Create SMPL-22 Armature"
    bl_options = {"REGISTER", "UNDO"}

    name: StringProperty(name="Name", default="SMPL-22")
    arms: EnumProperty(name="Rest pose", items=[("T", "T-pose", ""), ("A", "A-pose", "")], default="T")

    def execute(self, context):
        try:
            templates = submodule("rigs.templates")
        except ImportError as e:
            self.report({"ERROR"}, f"the engine's dependencies are missing ({e}); "
                                   "install them in the add-on preferences")
            return {"CANCELLED"}
        bones = templates.template_rest_pose("smpl22", arms=self.arms)
        if context.object and context.object.mode != "OBJECT":
            bpy.ops.object.mode_set(mode="OBJECT")
        data = bpy.data.armatures.new(self.name)
        ob = bpy.data.objects.new(self.name, data)
        (context.collection or context.scene.collection).objects.link(ob)
        ob.location = context.scene.cursor.location
        for o in context.view_layer.objects:
            o.select_set(False)
        context.view_layer.objects.active = ob
        ob.select_set(True)
        bpy.ops.object.mode_set(mode="EDIT")
        try:
            add_edit_bones(data, bones)
        finally:
            bpy.ops.object.mode_set(mode="OBJECT")
        for pb in ob.pose.bones:
            pb.rotation_mode = "QUATERNION"
        data.display_type = "STICK" if hasattr(data, "display_type") else data.display_type
        self.report({"INFO"}, f"Created armature {ob.name!r} with {len(bones)} bones")
        return {"FINISHED"}


class BAMM_OT_new_seed(bpy.types.Operator):
    """Pick a new random seed"""

    bl_idname = "bamm.new_seed"
    bl_label = "New Seed"
    bl_options = {"REGISTER", "UNDO"}

    def execute(self, context):
        settings(context).seed = random.randint(0, 2**31 - 1)
        return {"FINISHED"}


class BAMM_OT_install_dependencies(bpy.types.Operator):
    """pip-install torch, scipy, safetensors and tqdm into this extension's user folder
    (needs internet; can take minutes; Blender stays usable meanwhile)"""

    bl_idname = "bamm.install_dependencies"
    bl_label = "Install Dependencies"

    @classmethod
    def poll(cls, context):
        return not dependencies.is_installing()

    def execute(self, context):
        if not bpy.app.online_access:
            self.report({"ERROR"}, "Blender's online access is disabled (Preferences › System › Network); "
                                   "enable it to download the dependencies")
            return {"CANCELLED"}
        p = prefs(context)
        cpu_only = bool(p and p.torch_variant == "CPU")
        if bpy.app.background:  # scripts: wait for pip
            ok = dependencies.install(report=lambda m: self.report({"WARNING"}, m), cpu_only=cpu_only)
            ready, msg = dependencies.status()
            self.report({"INFO"} if ok and ready else {"ERROR"}, msg)
            return {"FINISHED"} if ok and ready else {"CANCELLED"}
        dependencies.install_in_background(cpu_only=cpu_only)
        self.report({"INFO"}, "Installing dependencies in the background; the preferences show progress")
        return {"FINISHED"}


_download = None  # the paper's model's BackgroundDownload (bamm_core.model.downloads), if any


def download_job():
    """The last download started from the preferences (None if none)."""
    return _download


def _status_text(text: str | None) -> None:
    for window in bpy.context.window_manager.windows:
        try:
            window.workspace.status_text_set(text)
        except (AttributeError, RuntimeError, TypeError):
            pass
        for area in window.screen.areas:
            area.tag_redraw()


def _watch_download():
    """Timer: the download's progress in the status bar; the preferences redraw it too."""
    job = _download
    if job is None:
        return None
    if job.state == "running":
        _status_text(job.describe())
        return 0.5
    _status_text(None)
    print(f"BAMM: the paper's model download {job.state}" + (f": {job.error}" if job.error else ""))
    return None


class BAMM_OT_download_official(bpy.types.Operator):
    """Download the paper's model (BAMM on HumanML3D, MoMask's tokenizer and residual
    transformer, CLIP ViT-B/32) into the model cache, in the background; interrupted
    downloads resume"""

    bl_idname = "bamm.download_official"
    bl_label = "Download the paper's model"

    @classmethod
    def poll(cls, context):
        return _download is None or _download.state != "running"

    def invoke(self, context, event):  # states the size and the license before starting
        return context.window_manager.invoke_props_dialog(self, width=560)

    def draw(self, context):
        dl = submodule("model.downloads")
        col = self.layout.column(align=True)
        col.label(text="Size: " + dl.SIZE_TEXT)
        col.label(text="License: " + dl.LICENSE_TEXT)
        col.label(text="Into: " + str(dl.official_dir()))

    def execute(self, context):
        global _download
        if not bpy.app.online_access:
            self.report({"ERROR"}, "Blender's online access is disabled (Preferences › System › Network); "
                                   "enable it to download the paper's model")
            return {"CANCELLED"}
        ready, msg = dependencies.status()
        if not ready:  # verifying the checkpoints needs torch
            self.report({"ERROR"}, msg)
            return {"CANCELLED"}
        dl = submodule("model.downloads")
        self.report({"INFO"}, f"Downloading the paper's model ({dl.SIZE_TEXT}); license: {dl.LICENSE_TEXT}")
        _download = dl.BackgroundDownload().start()
        if bpy.app.background:  # scripts: wait for it
            state = _download.join()
            self.report({"INFO"} if state == "done" else {"ERROR"}, str(_download.error or f"download {state}"))
            return {"FINISHED"} if state == "done" else {"CANCELLED"}
        bpy.app.timers.register(_watch_download, first_interval=0.5)
        return {"FINISHED"}


class BAMM_OT_cancel_download(bpy.types.Operator):
    """Stop the download of the paper's model (what arrived is kept; Download resumes it)"""

    bl_idname = "bamm.cancel_download"
    bl_label = "Cancel Download"

    @classmethod
    def poll(cls, context):
        return _download is not None and _download.state == "running"

    def execute(self, context):
        _download.cancel()
        return {"FINISHED"}
