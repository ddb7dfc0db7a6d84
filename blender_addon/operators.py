"""The add-on's operators, in registration order.

``bpy.ops.bamm.generate / inpaint / outpaint`` (engine operators, see :mod:`.operators_base`
for the plan/work/apply split they share) and ``create_armature / new_seed /
install_dependencies`` (utilities).  Scripts call them like any operator; they run
synchronously there.
"""
from __future__ import annotations

from .body import classes as body_classes
from .operators_edit import BAMM_OT_inpaint, BAMM_OT_outpaint
from .operators_generate import BAMM_OT_generate
from .operators_timeline import classes as timeline_classes
from .operators_utility import BAMM_OT_create_armature, BAMM_OT_install_dependencies, BAMM_OT_new_seed
from .operators_variations import classes as variation_classes

classes = (BAMM_OT_generate, BAMM_OT_inpaint, BAMM_OT_outpaint, BAMM_OT_create_armature,
           BAMM_OT_new_seed, BAMM_OT_install_dependencies, *timeline_classes,
           *variation_classes, *body_classes)
