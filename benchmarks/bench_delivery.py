"""Time of the engine's delivery step (:func:`bamm_core.motion.delivery.deliver`) per part.

    .venv/bin/python benchmarks/bench_delivery.py [--frames 196] [--repeats 50] [--threads 1]

Generates one motion with the bundled model (``"a person walks forward."``, seed 0) and times,
on its raw prediction (``Motion.raw_joints``), each part of the delivery step: the rigid
skeleton (:func:`~bamm_core.motion.rigid_skeleton.rigid_joints`, and inside it
:func:`~bamm_core.motion.rigid_skeleton.rigid_offsets` and
:func:`~bamm_core.motion.rotation_solver.solve_world_rotations`), the contacts
(:func:`~bamm_core.motion.contacts.motion_contacts`), the foot planting
(:func:`~bamm_core.motion.foot_planting.plant_feet`) and the whole :func:`deliver`.  Each
time is the minimum over ``--repeats`` runs (the least disturbed by other work on the
machine), in milliseconds, with torch and numpy's BLAS on ``--threads`` threads.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def best_ms(fn, repeats: int) -> float:
    """Minimum wall time of ``fn()`` over ``repeats`` calls, in milliseconds."""
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return 1000.0 * best


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=196)
    ap.add_argument("--repeats", type=int, default=50)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--prompt", default="a person walks forward.")
    args = ap.parse_args(argv)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, str(args.threads))  # before numpy loads its BLAS

    import torch

    torch.set_num_threads(args.threads)
    from bamm_core.generation.engine import Engine
    from bamm_core.motion.clip import Motion
    from bamm_core.motion.contacts import motion_contacts
    from bamm_core.motion.delivery import deliver
    from bamm_core.motion.foot_planting import plant_feet
    from bamm_core.motion.rigid_skeleton import rest_pose, rigid_joints, rigid_offsets
    from bamm_core.motion.rotation_solver import solve_world_rotations

    m = Engine.from_pretrained().generate(args.prompt, args.frames, seed=0)
    raw, feats, fps = m.raw_joints, m.features, m.fps
    rigid = rigid_joints(raw)
    contacts = motion_contacts(rigid, fps, feats)
    rest = rest_pose(rigid_offsets(raw))
    steps = {
        "rigid": lambda: rigid_joints(raw),
        "  rigid_offsets": lambda: rigid_offsets(raw),
        "  solve_world_rotations": lambda: solve_world_rotations(rest, raw),
        "contacts": lambda: motion_contacts(rigid, fps, feats),
        "planting": lambda: plant_feet(rigid, contacts, fps),
        "total (deliver)": lambda: deliver(Motion(raw, feats, None, args.prompt, fps)),
    }
    print(f"{raw.shape[0]} frames, min of {args.repeats} runs, {args.threads} thread(s)")
    for name, fn in steps.items():
        fn()  # warm-up
        print(f"{name:26s} {best_ms(fn, args.repeats):7.2f} ms")


if __name__ == "__main__":
    main()
