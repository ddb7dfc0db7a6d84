"""``bamm dataset --check``: a contact sheet of a skeleton map (the 22 mapped joints drawn over
the source skeleton's bones, front and side views, at the first frame of a take)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from bamm_core.formats.bvh import BVH
from bamm_core.motion.skeleton import HUMANML3D, JOINT_NAMES
from bamm_core.rigs.bvh_joints import axes_matrix, bvh_joints
from bamm_core.rigs.presets import RigPreset


def source_in_model_space(anim: BVH, preset: RigPreset) -> np.ndarray:
    """The source joints at frame 0 ``(J, 3)`` in metres, Y up, as the map reads them."""
    first = BVH(anim.joints, anim.frame_time, anim.motion[:1])
    m = axes_matrix(preset.up_axis, preset.forward_axis, preset.mirror)
    pos = first.forward_kinematics()[0] @ m.T
    return pos * (preset.unit_scale if preset.unit_scale is not None else
                  (0.01 if np.ptp(pos[:, 1]) > 4.0 else 1.0))


def save_map_sheet(anim: BVH, preset: RigPreset, path: str | Path, title: str = "") -> Path:
    """Write the PNG; returns its path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    first = BVH(anim.joints, anim.frame_time, anim.motion[:1])
    mapped = bvh_joints(first, preset)[0]
    src = source_in_model_space(anim, preset)
    centre = mapped[0].copy()
    mapped, src = mapped - centre, src - centre
    fig, axes = plt.subplots(1, 2, figsize=(11, 6.5))
    for ax, (h, view) in zip(axes, ((0, "front (left side at +X)"), (2, "side (facing +Z)"))):
        for i, p in enumerate(anim.parents):
            if p >= 0:
                ax.plot(src[[p, i], h], src[[p, i], 1], color="#bbbbbb", lw=3, zorder=1)
        for chain in HUMANML3D.kinematic_chain:
            ax.plot(mapped[chain, h], mapped[chain, 1], color="#555555", lw=1, zorder=2)
        for j, name in enumerate(JOINT_NAMES):
            colour = "#d62728" if name.startswith("left") else "#1f77b4" if name.startswith("right") else "#222222"
            ax.scatter(mapped[j, h], mapped[j, 1], s=22, color=colour, zorder=3)
            ax.annotate(name, (mapped[j, h], mapped[j, 1]), fontsize=6, xytext=(3, 2),
                        textcoords="offset points", color=colour)
        ax.set_title(view, fontsize=9)
        ax.set_aspect("equal")
        ax.grid(alpha=0.3)
        if h == 0:
            ax.invert_xaxis()  # seen from the front: the character's left on the viewer's right
    fig.suptitle(f"{title}\n{preset.description}\ngrey: source bones, dots: the 22 mapped joints "
                 "(red left, blue right)", fontsize=9)
    path = Path(path)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


__all__ = ["save_map_sheet", "source_in_model_space"]
