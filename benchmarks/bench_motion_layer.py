"""Accuracy and speed figures of the motion layer (features, BVH) on the shared reference data.

    .venv/bin/python benchmarks/bench_motion_layer.py [--shared ../shared]
"""
from __future__ import annotations

import argparse
import os
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bamm_core.formats import bvh as B  # noqa: E402
from bamm_core.formats import smpl22_bvh as S  # noqa: E402
from bamm_core.motion.features import joints_to_features, recover_from_ric  # noqa: E402


def timed(fn, n=5):
    fn()
    t = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - t) / n


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--shared", type=Path, default=Path(os.environ.get("BAMM_SHARED", REPO.parent / "shared")))
    args = p.parse_args()
    ref = args.shared / "reference" / "humanml3d"
    if not ref.is_dir():
        print(f"no reference data at {ref}")
        return 1
    feats = np.load(ref / "new_joint_vecs_012314.npy")
    joints = np.load(ref / "new_joints_012314.npy")
    rec = recover_from_ric(feats)
    print(f"recover_from_ric(reference features) vs reference joints: max |err| {np.abs(rec - joints).max():.2e} m")
    out = joints_to_features(joints)
    d = np.abs(out - feats[:-1]).max(axis=1)
    print(f"joints_to_features(reference joints) vs reference features: rows 0..{len(d) - 82}: max {d[:len(d) - 81].max():.2e}, "
          f"all rows: max {d.max():.2e} (smoothing window at the clip end)")
    print(f"joints_to_features speed: {timed(lambda: joints_to_features(joints)) * 1000:.1f} ms per {len(joints)}-frame clip")
    print(f"recover_from_ric speed: {timed(lambda: recover_from_ric(feats)) * 1000:.2f} ms per {len(feats)}-frame clip")
    for mode in ("motion", "template"):
        b = S.smpl22_bvh_from_joints(joints, offsets=mode)
        err = np.linalg.norm(S.bvh_to_smpl22(b) - joints, axis=-1).max()
        print(f"save_smpl22_bvh(offsets={mode!r}) FK vs input joints: max {err * 1000:.4f} mm")
    print(f"SMPL-22 BVH export speed: {timed(lambda: S.smpl22_bvh_from_joints(joints)) * 1000:.1f} ms per {len(joints)} frames")
    archive = args.shared / "data" / "bandai-namco" / "bandai-namco-dataset-1-dev.tar.xz"
    with tempfile.TemporaryDirectory() as tmp, tarfile.open(archive) as t:
        for m in t:
            if m.name.endswith("dataset-1_walk_normal_001.bvh"):
                src = Path(tmp) / "take.bvh"
                src.write_bytes(t.extractfile(m).read())
                break
        for name, path in (("Bandai take", src), ("SMPL-22 template", args.shared / "reference" / "momask" / "smpl22_template.bvh")):
            a = B.read_bvh(path)
            B.write_bvh(a, Path(tmp) / "rt.bvh")
            b = B.read_bvh(Path(tmp) / "rt.bvh")
            print(f"BVH round trip ({name}, {a.num_frames} frames): motion max |err| {np.abs(a.motion - b.motion).max():.1e}, "
                  f"offsets {np.abs(a.offsets - b.offsets).max():.1e}")
        print(f"BVH read + FK speed (Bandai take): {timed(lambda: B.read_bvh(src).forward_kinematics()) * 1000:.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
