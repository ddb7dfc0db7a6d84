"""Make the example scene for examples/jobs.json: two SMPL-22 armatures, "Hero" and "Villain".

    python examples/make_scene.py scene.blend        # bpy from PyPI
    blender -b --python examples/make_scene.py -- scene.blend

Then:  python scripts/bake.py --blend scene.blend --jobs examples/jobs.json --out baked.blend
"""
import sys
from pathlib import Path

import bpy

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))
import bake_runner  # noqa: E402  (enables the add-on from this checkout)

argv = sys.argv[sys.argv.index("--") + 1:] if "--" in sys.argv else sys.argv[1:]
out = Path(argv[0] if argv else "scene.blend").resolve()
bpy.ops.wm.read_homefile(use_empty=True)
bake_runner.enable_addon(None, None)
bpy.ops.bamm.create_armature(name="Hero")
bpy.ops.bamm.create_armature(name="Villain")
bpy.data.objects["Villain"].location.x = 1.5
bpy.ops.wm.save_as_mainfile(filepath=str(out))
print(f"wrote {out} with armatures Hero and Villain")
