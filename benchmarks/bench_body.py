"""Time of a body on a motion at SMPL-X's size (about 10 400 vertices, 20 500 faces), CPU.

The model file is synthetic (tests/body_files.py: capsules around a T-pose, the real file
layout, 20 shape directions and 486 pose directions like SMPL-X), so no licensed file is
needed.  Times: reading + shaping through smplx, fitting to the SMPL-22 rest pose, posing
(rotation solver + skinning) a generated-length motion, drawing the .gif and the .png sheet.

    .venv/bin/python benchmarks/bench_body.py [--frames 120]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]


def walk(frames: int) -> np.ndarray:
    """A stand-in walk: the T-pose travelling forward, legs and arms swinging."""
    from bamm_core.rigs.rest_pose import smpl_rest_joints

    x = smpl_rest_joints("T")[None].repeat(frames, axis=0)
    t = np.arange(frames) / 20.0
    for hip, knee_chain, sign in ((1, (4, 7, 10), 1), (2, (5, 8, 11), -1)):
        a = 0.4 * sign * np.sin(2 * np.pi * t)
        c, s = np.cos(a), np.sin(a)
        rel = x[:, list(knee_chain)] - x[:, [hip]]
        x[:, list(knee_chain), 1] = x[:, [hip], 1] + c[:, None] * rel[..., 1] - s[:, None] * rel[..., 2]
        x[:, list(knee_chain), 2] = x[:, [hip], 2] + s[:, None] * rel[..., 1] + c[:, None] * rel[..., 2]
    x[..., 2] += 1.2 * t[:, None]
    return x


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--frames", type=int, default=120)
    args = ap.parse_args()
    from body_files import write_model

    from bamm_core.formats.mesh_preview import save_mesh_preview, save_mesh_sheet
    from bamm_core.rigs.body import fit_body, pose_body
    from bamm_core.rigs.body_model import load_body_model
    from bamm_core.rigs.rest_pose import smpl_rest_joints

    with tempfile.TemporaryDirectory() as tmp:
        path = write_model(Path(tmp), "smplx", "npz", ring=96)
        t = time.perf_counter()
        model = load_body_model(path, betas=[1.0, -0.5])
        times = {"read + shape (smplx)": time.perf_counter() - t}
        t = time.perf_counter()
        body = fit_body(model, smpl_rest_joints("T"))
        times["fit to the SMPL-22 rest"] = time.perf_counter() - t
        x = walk(args.frames)
        t = time.perf_counter()
        v = pose_body(body, x)
        times[f"pose {args.frames} frames"] = time.perf_counter() - t
        t = time.perf_counter()
        save_mesh_preview(v, body.faces, Path(tmp) / "walk.gif", root=x[:, 0])
        times[f"draw .gif ({args.frames} frames)"] = time.perf_counter() - t
        t = time.perf_counter()
        save_mesh_sheet(v, body.faces, Path(tmp) / "walk.png", root=x[:, 0])
        times["draw .png sheet (8 frames)"] = time.perf_counter() - t
    print(f"{model.kind}: {len(body.vertices)} vertices, {len(body.faces)} faces")
    for k, s in times.items():
        print(f"  {k:<28} {s:7.2f} s")


if __name__ == "__main__":
    main()
