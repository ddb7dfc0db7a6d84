#!/usr/bin/env python3
"""Benchmark: bake 10 s of motion onto each preset rig.

"Bake" = resample the 20 fps joints to the scene's 30 fps, retarget them (numpy:
positions -> per-bone quaternions + root location) and write the keys into a new action
(bpy, ``keyframe_points.add`` + ``foreach_set``).  Target: < 50 ms per rig.  Motion: the
HumanML3D reference sample from ../shared, played forward then backward to make 10 s (a
synthetic sway if ../shared is absent).  Prints the median of 7 runs per step.

    .venv/bin/python benchmarks/bench_retarget.py
"""
from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bamm_core.rigs import retargeting as rt  # noqa: E402
from bamm_core.rigs import presets as rp  # noqa: E402
from bamm_core.rigs.rest_pose import smpl_rest_joints  # noqa: E402
from bamm_core.rigs.templates import template_rest_pose  # noqa: E402
from bamm_core.motion.resampling import resample_positions  # noqa: E402

SECONDS, SCENE_FPS, RUNS = 10.0, 30, 7


def motion_10s() -> np.ndarray:
    ref = REPO.parent / "shared" / "reference" / "humanml3d" / "new_joints_012314.npy"
    n = int(SECONDS * 20)
    if ref.is_file():
        j = np.load(ref).astype(np.float64)
        return np.concatenate([j, j[::-1]])[:n]
    base = smpl_rest_joints("A") @ np.diag([1, 1, 1])
    t = np.arange(n) / 20.0
    out = np.repeat(base[None], n, 0)
    out[:, 16:, 1] += 0.1 * np.sin(2 * np.pi * t)[:, None]
    return out


def median_ms(fn) -> float:
    times = []
    for _ in range(RUNS):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


def main() -> int:
    joints = motion_10s()
    try:
        import bpy

        from blender_addon import keyframes
    except ImportError:
        bpy = None
    print(f"bake {SECONDS:.0f} s of motion ({len(joints)} frames at 20 fps -> {SCENE_FPS} fps), "
          f"median of {RUNS} runs, {'with' if bpy else 'WITHOUT (no bpy)'} key writing")
    print(f"{'rig preset':<20} {'bones':>5} {'retarget ms':>12} {'write keys ms':>14} {'total ms':>9}")
    worst = 0.0
    for name in rp.preset_names():
        bones = template_rest_pose(name, arms="A", roll="random")
        rest = rt.RestPose.from_bones(bones)
        _, mapping = rp.detect(rest.names)
        r = rt.Retargeter(rest, mapping)

        def retarget():
            return r.retarget(resample_positions(joints, 20, SCENE_FPS))

        ms_rt = median_ms(retarget)
        pose = retarget()
        ms_keys = float("nan")
        if bpy is not None:
            bpy.ops.wm.read_homefile(use_empty=True)
            data = bpy.data.armatures.new(name)
            ob = bpy.data.objects.new(name, data)
            bpy.context.scene.collection.objects.link(ob)
            bpy.context.view_layer.objects.active = ob
            bpy.ops.object.mode_set(mode="EDIT")
            from blender_addon.rig import add_edit_bones

            add_edit_bones(data, bones)
            bpy.ops.object.mode_set(mode="OBJECT")
            for pb in ob.pose.bones:
                pb.rotation_mode = "QUATERNION"
            frames = 1 + np.arange(len(pose.rotations))

            def write():
                action = keyframes.assign_new_action(ob, "bench")
                keyframes.write_pose(ob, action, pose, frames)

            ms_keys = median_ms(write)
        total = ms_rt + (0.0 if np.isnan(ms_keys) else ms_keys)
        worst = max(worst, total)
        print(f"{name:<20} {len(bones):>5} {ms_rt:>12.1f} {ms_keys:>14.1f} {total:>9.1f}")
    print(f"worst total {worst:.1f} ms (target < 50 ms): {'OK' if worst < 50 else 'OVER TARGET'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
