"""`make demo`: the main job, end to end.

With the bundled default model (``bamm_core/models/default``) the demo generates a motion from
a prompt, then regenerates two seconds of it with another prompt (inpainting), and writes

* ``out/demo.bvh`` / ``out/demo.gif`` / ``out/demo.npz`` - the generated motion (SMPL-22 BVH,
  stick-figure preview, joints + features + tokens),
* ``out/demo_inpainted.gif`` / ``out/demo_inpainted.bvh`` - the same motion with seconds
  2-4 regenerated.

``--mocap`` (or no bundled model) instead takes a real motion-capture take through the motion
layer: a Bandai Namco BVH from ``../shared/data/bandai-namco`` (falling back to the HumanML3D
reference sample) -> 263-d HumanML3D features -> joints -> ``out/demo_preview.gif``,
``out/demo.bvh``, ``out/demo_features.npy``.

Usage: ``python scripts/demo.py [--prompt TEXT] [--seed N] [--mocap [--take NAME] [--shared DIR]] [--out DIR]``.
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

from bamm_core.formats.bvh import read_bvh  # noqa: E402
from bamm_core.formats.preview import save_preview  # noqa: E402
from bamm_core.formats.smpl22_bvh import bvh_to_smpl22, save_smpl22_bvh  # noqa: E402
from bamm_core.motion.features import joints_to_features, recover_from_ric  # noqa: E402
from bamm_core.motion.resampling import resample_positions  # noqa: E402
from bamm_core.motion.timebase import HUMANML3D  # noqa: E402
from bamm_core.rigs.bvh_joints import bvh_joints  # noqa: E402

DEFAULT_TAKE = "dataset-1_walk_happy_001"


def find_take(shared: Path, take: str, tmp: Path) -> Path | None:
    """Extract ``take``.bvh from the first archive that has it."""
    data = shared / "data" / "bandai-namco"
    for archive in sorted(data.glob("*.tar.xz")):
        with tarfile.open(archive) as t:
            for m in t:
                if m.name.endswith(f"/{take}.bvh"):
                    dest = tmp / f"{take}.bvh"
                    dest.write_bytes(t.extractfile(m).read())
                    return dest
    return None


def _rel(path: Path) -> Path:
    return path.relative_to(REPO) if path.is_relative_to(REPO) else path


def generate_demo(args) -> int:
    """Prompt -> motion with the bundled model, then inpaint two seconds of it."""
    from bamm_core import Engine

    t0 = time.time()
    eng = Engine.from_pretrained()
    print(f"1. loaded the bundled model {eng.info().get('name', '')} in {time.time() - t0:.1f} s")
    tb, fps = eng.timebase, eng.timebase.fps
    t1 = time.time()
    m = eng.generate(args.prompt, seed=args.seed)
    print(f"2. generated \"{args.prompt}\" (seed {args.seed}): {m.joints.shape[0]} frames "
          f"({tb.frames_to_seconds(m.joints.shape[0]):.1f} s, length predicted) in {time.time() - t1:.1f} s")
    np.savez(args.out / "demo.npz", joints=m.joints, features=m.features, tokens=m.tokens,
             fps=fps, prompt=args.prompt, seed=args.seed)
    print(f"3. wrote {_rel(save_smpl22_bvh(m.joints, args.out / 'demo.bvh', fps=fps))} and "
          f"{_rel(save_preview(m.joints, args.out / 'demo.gif', fps=fps, title=args.prompt))}")
    # seconds 2-4 (or the last seconds of a short motion), kept at least one token from the end
    end = min(tb.seconds_to_frames(4.0), m.joints.shape[0] - tb.frames_per_token)
    start = min(tb.seconds_to_frames(2.0), max(0, end - tb.seconds_to_frames(1.0)))
    t1 = time.time()
    m2 = eng.inpaint(m, start=start, end=end, text=args.inpaint_prompt, seed=args.seed)
    same = bool(np.array_equal(m2.joints[:start], m.joints[:start])
                and np.array_equal(m2.joints[end:], m.joints[end:]))
    print(f"4. regenerated frames {start}-{end} as \"{args.inpaint_prompt}\" in {time.time() - t1:.1f} s "
          f"(frames outside the range unchanged: {same})")
    save_smpl22_bvh(m2.joints, args.out / "demo_inpainted.bvh", fps=fps)
    gif = save_preview(m2.joints, args.out / "demo_inpainted.gif", fps=fps,
                       title=f"{args.prompt} / {start}-{end}: {args.inpaint_prompt}")
    print(f"5. wrote {_rel(args.out / 'demo_inpainted.bvh')} and {_rel(gif)}")
    print(f"done in {time.time() - t0:.1f} s")
    return 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--prompt", default="a person walks forward happily.")
    p.add_argument("--inpaint-prompt", default="a person waves the right hand.")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--mocap", action="store_true", help="motion-layer round trip of a real take instead")
    p.add_argument("--take", default=DEFAULT_TAKE, help="Bandai take name (without .bvh), with --mocap")
    p.add_argument("--shared", type=Path, default=Path(os.environ.get("BAMM_SHARED", REPO.parent / "shared")))
    p.add_argument("--out", type=Path, default=REPO / "out")
    args = p.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    if not args.mocap:
        if (REPO / "bamm_core" / "models" / "default" / "config.json").is_file():
            return generate_demo(args)
        print("no bundled model in bamm_core/models/default: showing the motion-layer round trip instead")
    return mocap_demo(args)


def mocap_demo(args) -> int:
    """A real take through the motion layer: BVH -> 22 joints -> features -> joints -> BVH/GIF."""
    t0 = time.time()

    with tempfile.TemporaryDirectory() as tmp:
        bvh_path = find_take(args.shared, args.take, Path(tmp)) if args.shared.is_dir() else None
        if bvh_path is not None:
            bvh = read_bvh(bvh_path)
            print(f"1. read {args.take}.bvh from the Bandai Namco archives: {len(bvh.joints)} joints, "
                  f"{bvh.num_frames} frames at {bvh.fps:.0f} fps")
            joints = bvh_joints(bvh, "bandai")
            print("2. mapped its skeleton onto the 22 HumanML3D joints (rig preset bamm_core/rigs/data/"
                  "bandai.json: cm -> m, Y up)")
            joints = resample_positions(joints, bvh.fps, HUMANML3D.fps, method="cubic")
            print(f"3. resampled to {HUMANML3D.fps:g} fps: {joints.shape[0]} frames")
            source = args.take
        else:
            ref = args.shared / "reference" / "humanml3d" / "new_joints_012314.npy"
            if not ref.is_file():
                print(f"error: no motion to demo: neither the Bandai archives nor {ref} were found "
                      f"(pass --shared DIR or set BAMM_SHARED)", file=sys.stderr)
                return 1
            joints = np.load(ref)
            source = "HumanML3D sample 012314"
            print(f"1-3. Bandai archives not found; using the HumanML3D reference sample ({joints.shape[0]} frames)")

    feats, canon = joints_to_features(joints, return_positions=True)
    print(f"4. HumanML3D features: {feats.shape} (bone lengths onto the target skeleton, feet on the floor, "
          f"facing +Z)")
    decoded = recover_from_ric(feats)
    err = np.abs(decoded - canon[:-1]).max()
    print(f"5. decoded the features back to joints {decoded.shape}: max |error| {err:.2e} m")
    np.save(args.out / "demo_features.npy", feats)

    bvh_out = save_smpl22_bvh(decoded, args.out / "demo.bvh", fps=HUMANML3D.fps)
    back = bvh_to_smpl22(read_bvh(bvh_out))
    print(f"6. wrote {bvh_out.relative_to(REPO) if bvh_out.is_relative_to(REPO) else bvh_out} "
          f"(SMPL-22 skeleton; FK of the file vs the joints: max {np.linalg.norm(back - decoded, axis=-1).max() * 1000:.3f} mm)")
    gif = save_preview(decoded, args.out / "demo_preview.gif", fps=HUMANML3D.fps, title=source)
    print(f"7. wrote {gif.relative_to(REPO) if gif.is_relative_to(REPO) else gif} ({decoded.shape[0]} frames)")
    print(f"done in {time.time() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
