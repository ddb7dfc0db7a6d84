"""The animator's path, headless, as a user would take it (run by a Python whose only
packages are ``bpy`` and the NumPy its Blender ships; ``blender_matrix.py --user-check``):

1. build the extension zip and install it into a fresh user folder;
2. Install Dependencies with the index blocked: one-line message, nothing left on the path,
   Blender's NumPy-using modules still work;
3. Install Dependencies from the package index into the extension's own folder (``--choice``
   CPU or GPU): NumPy unchanged and not in that folder, torch imported from it;
4. generate on a Mixamo-named rig, inpaint a range: keys outside it bit-identical.

Prints one line per step with its time; exit status 1 on the first failure.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
NAME = "bl_ext.user_default.bamm_motion"


def step(label: str, t0: float) -> float:
    print(f"[user-check] {label} ({time.time() - t0:.1f} s)", flush=True)
    return time.time()


def blender_numpy_modules_work() -> None:
    """Blender's own modules that use NumPy, after the add-on's packages are on the path."""
    import bpy
    import numpy as np
    from bpy_extras import anim_utils, mesh_utils, object_utils  # noqa: F401

    me = bpy.data.meshes.new("numpy_check")
    me.from_pydata([(0, 0, 0), (1, 0, 0), (0, 1, 0)], [], [(0, 1, 2)])
    co = np.empty(9, np.float32)
    me.vertices.foreach_get("co", co)
    assert co[3] == 1.0 and mesh_utils.ngon_tessellate(me, [0, 1, 2]) is not None
    bpy.data.meshes.remove(me)


def mixamo_rig(ext_dir: Path):
    """The add-on's SMPL-22 armature with its bones renamed to Mixamo's names."""
    import bpy

    load = lambda n: json.loads((ext_dir / "bamm_core" / "rigs" / "data" / f"{n}.json").read_text())
    smpl, mixamo = load("smpl22")["joints"], load("mixamo")["joints"]
    assert bpy.ops.bamm.create_armature() == {"FINISHED"}
    ob = bpy.context.active_object
    for joint, names in smpl.items():
        bone = next((ob.data.bones.get(n) for n in names if ob.data.bones.get(n)), None)
        if bone is not None and joint in mixamo:
            bone.name = "mixamorig:" + mixamo[joint][0]
    ob.name = "MixamoRig"
    renamed = [b.name for b in ob.data.bones if b.name.startswith("mixamorig:")]
    assert len(renamed) == 22, [b.name for b in ob.data.bones]
    return ob


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--choice", default="CPU", choices=["CPU", "GPU"], help="the torch build to install")
    args = ap.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="bamm-user-check-"))
    os.environ["BLENDER_USER_RESOURCES"] = str(tmp / "user")
    try:
        return check(tmp, args.choice)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)  # the extension folder holds GBs of torch


def check(tmp: Path, choice: str) -> int:
    t0 = time.time()
    subprocess.run([sys.executable, str(REPO / "scripts" / "build_addon.py"), "--out", str(tmp)],
                   check=True, capture_output=True)
    zip_path = next(tmp.glob("bamm_motion-*.zip"))
    import bpy
    import numpy

    np_before = (numpy.__version__, numpy.__file__)
    bpy.ops.wm.read_homefile(use_empty=True)
    bpy.ops.extensions.package_install_files(filepath=str(zip_path), repo="user_default",
                                             enable_on_install=True)
    assert NAME in bpy.context.preferences.addons, "extension did not enable"
    mod = sys.modules[NAME]
    deps = mod.dependencies
    sp = Path(deps.site_packages())
    ready, msg = deps.status()
    assert not ready, "the engine's packages are importable before installing: not a bare Python"
    t0 = step(f"zip installed, enabled; status: {msg}", t0)

    # 2. a blocked index: one line, nothing installed, Blender's NumPy modules fine
    blocked = {"PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(tmp / "no-wheels"), "PIP_CONFIG_FILE": os.devnull}
    saved = {k: os.environ.get(k) for k in blocked}
    os.environ.update(blocked)
    try:
        ok = deps.install(report=lambda m: None, choice=choice)
    finally:
        for k, v in saved.items():
            os.environ.pop(k) if v is None else os.environ.__setitem__(k, v)
    ready, msg = deps.status()
    assert not ok and not ready and "\n" not in msg and "--target" in msg, msg
    assert not sp.exists() and not [p for p in sp.parent.iterdir() if p.name.startswith(".partial")]
    blender_numpy_modules_work()
    t0 = step(f"blocked index -> {msg[:110]}...", t0)

    # 3. the real install, from the package index
    ok = deps.install(report=print, choice=choice)
    ready, msg = deps.status()
    assert ok and ready, msg
    assert not [p.name for p in sp.iterdir() if p.name.lower().startswith("numpy")], "numpy in the folder"
    import torch

    assert Path(torch.__file__).is_relative_to(sp), torch.__file__
    assert (numpy.__version__, numpy.__file__) == np_before
    blender_numpy_modules_work()
    size = sum(f.stat().st_size for f in sp.rglob("*") if f.is_file()) / 1e9
    t0 = step(f"dependencies installed ({choice}: torch {torch.__version__}, {size:.1f} GB in "
              f"{sp}); NumPy {numpy.__version__} unchanged", t0)

    # 4. generate on a Mixamo-named rig, inpaint a range
    prefs = bpy.context.preferences.addons[NAME].preferences
    prefs.device = "CPU"
    scene = bpy.context.scene
    scene.render.fps, scene.frame_start = 24, 1
    ob = mixamo_rig(Path(mod.__file__).parent)
    assert bpy.ops.bamm.generate(prompt="a person walks forward", length=3.0, seed=1) == {"FINISHED"}
    before = mod.keyframes.snapshot(ob)
    t0 = step(f"generated on {ob.name} ({len(before)} F-curves)", t0)
    assert bpy.ops.bamm.inpaint(prompt="a person waves", frame_start=20, frame_end=45) == {"FINISHED"}
    after = mod.keyframes.snapshot(ob)
    outside = 0
    for key, (co, hl, hr) in before.items():
        keep = (co[:, 0] < 20) | (co[:, 0] > 45)
        co2, hl2, hr2 = after[key]
        keep2 = (co2[:, 0] < 20) | (co2[:, 0] > 45)
        for a, b in ((co, co2), (hl, hl2), (hr, hr2)):
            assert a[keep].tobytes() == b[keep2].tobytes(), key
        outside += int(keep.sum())
    changed = sum(not np_equal(before[k][0], after[k][0]) for k in before)
    assert changed > 0, "inpaint changed nothing"
    step(f"inpainted frames 20-45: {changed} F-curves changed inside, {outside} keys outside bit-identical", t0)
    print("USER-CHECK-OK")
    return 0


def np_equal(a, b) -> bool:
    return a.shape == b.shape and a.tobytes() == b.tobytes()


if __name__ == "__main__":
    sys.exit(main())
