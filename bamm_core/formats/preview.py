"""Stick-figure previews of joint motions with matplotlib: animations (.gif/.mp4) and PNG sheets.

Joints are ``(T, J, 3)`` metres, Y up (HumanML3D's 22 joints or KIT's 21).  The camera looks
from the front-left of a character facing +Z (no mirroring) and follows the root; the floor grid stays fixed in the
world so that travelling is visible.  Colours: the character's **left** side is red, the
right side blue, the spine and head black.

* :func:`save_preview` - ``.gif`` (Pillow) or ``.mp4`` (needs ``ffmpeg`` on the PATH);
* :func:`save_contact_sheet` - a PNG grid of evenly spaced frames (or a single frame);
* :func:`save_top_view` - a PNG of the motion seen from above, with the path it follows.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from ..motion.facing import facing_direction
from ..motion.skeleton import HUMANML3D, KIT
from ..motion.timebase import HUMANML3D as HUMANML3D_TIMEBASE

_LEFT, _RIGHT, _CENTER = "#d62728", "#1f77b4", "#222222"


def _check(joints) -> np.ndarray:
    j = np.asarray(joints, dtype=np.float64)
    if j.ndim != 3 or j.shape[-1] != 3 or j.shape[1] not in (21, 22):
        raise ValueError(f"expected joints of shape (T, 22, 3) or (T, 21, 3), got {j.shape}")
    if j.shape[0] < 1:
        raise ValueError("the motion has no frames")
    if not np.isfinite(j).all():
        raise ValueError("joints contain NaN or inf")
    return j


def _chains(num_joints: int) -> list[tuple[list[int], str]]:
    defn = HUMANML3D if num_joints == 22 else KIT
    out = []
    for chain in defn.kinematic_chain:
        names = [defn.joint_names[i] for i in chain[1:]]
        if all(n.startswith("left") for n in names):
            color = _LEFT
        elif all(n.startswith("right") for n in names):
            color = _RIGHT
        else:
            color = _CENTER
        out.append((chain, color))
    return out


class _Figure:
    """One 3-D axes with a stick figure that can be moved to any frame."""

    def __init__(self, ax, joints: np.ndarray, radius: float = 1.1, grid: float = 0.5):
        self.ax, self.joints, self.radius, self.grid = ax, joints, radius, grid
        self.height = max(float(joints[..., 1].max()), 1.0)
        ax.set_box_aspect((1, 1, self.height / (2 * radius) + 0.1), zoom=1.2)
        # matplotlib's axes are (X, Y, Z-up) right-handed; ours (x, y-up, z) map to
        # (X, Y, Z) = (x, -z, y) so that nothing is mirrored.  Camera: front-left of a character
        # facing +z.
        ax.view_init(elev=15, azim=-60)
        ax.set_axis_off()  # panes and ticks cost 2/3 of the drawing time; the floor grid is ours
        n_lines = int(2 * radius / grid) + 3
        e = np.zeros(0)
        self.grid_x = [ax.plot(e, e, e, color="#bbbbbb", lw=0.5)[0] for _ in range(n_lines)]
        self.grid_z = [ax.plot(e, e, e, color="#bbbbbb", lw=0.5)[0] for _ in range(n_lines)]
        self.traj = ax.plot(e, e, e, color="#999999", lw=1.0, ls="--")[0]
        self.bones = [(chain, ax.plot(e, e, e, color=c, lw=2.5, marker="o", ms=2)[0])
                      for chain, c in _chains(joints.shape[1])]

    def show(self, t: int):
        j = self.joints[t]
        cx, cz = j[0, 0], j[0, 2]
        r, g = self.radius, self.grid
        ax = self.ax
        ax.set_xlim(cx - r, cx + r)
        ax.set_ylim(-cz - r, -cz + r)   # matplotlib's Y shows our -z
        ax.set_zlim(0, self.height + 0.1)
        gx0 = np.floor((cx - r) / g) * g
        gz0 = np.floor((cz - r) / g) * g
        for k, (lx, lz) in enumerate(zip(self.grid_x, self.grid_z)):
            x = gx0 + k * g
            z = gz0 + k * g
            xs = np.array([x, x]) if cx - r <= x <= cx + r else np.full(2, np.nan)
            lx.set_data_3d(xs, -np.array([cz - r, cz + r]), np.zeros(2))
            zs = np.array([z, z]) if cz - r <= z <= cz + r else np.full(2, np.nan)
            lz.set_data_3d(np.array([cx - r, cx + r]), -zs, np.zeros(2))
        path = self.joints[: t + 1, 0]
        near = (np.abs(path[:, 0] - cx) <= r) & (np.abs(path[:, 2] - cz) <= r)
        p = np.where(near[:, None], path, np.nan)
        self.traj.set_data_3d(p[:, 0], -p[:, 2], np.zeros(len(p)))
        for chain, line in self.bones:
            line.set_data_3d(j[chain, 0], -j[chain, 2], j[chain, 1])
        return [line for _, line in self.bones]


def _legend(fig) -> None:
    fig.text(0.02, 0.02, "left", color=_LEFT, fontsize=7)
    fig.text(0.1, 0.02, "right", color=_RIGHT, fontsize=7)


def _figure(title: str | None, size: float):
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=(size, size), dpi=100)
    ax = fig.add_subplot(111, projection="3d")
    fig.subplots_adjust(0, 0, 1, 0.93 if title else 1)
    if title:
        fig.suptitle(title, fontsize=9)
    _legend(fig)
    return fig, ax


def save_preview(joints, path: str | Path, fps: float = HUMANML3D_TIMEBASE.fps, title: str | None = None,
                 size: float = 4.0, dpi: int = 80, max_frames: int | None = None) -> Path:
    """Write a stick-figure animation of ``joints (T, J, 3)`` to ``path`` (.gif or .mp4).

    ``max_frames`` keeps only the first frames (for quick looks).  Raises ``ValueError`` for bad
    joints or extensions and ``RuntimeError`` when .mp4 is asked for but ffmpeg is missing;
    nothing is written then.
    """
    j = _check(joints)
    path = Path(path)
    ext = path.suffix.lower()
    if ext not in (".gif", ".mp4"):
        raise ValueError(f"preview must be .gif or .mp4, got {path.name!r}")
    if fps <= 0:
        raise ValueError(f"fps must be positive, got {fps}")
    if ext == ".mp4" and shutil.which("ffmpeg") is None:
        raise RuntimeError("writing .mp4 needs ffmpeg on the PATH (not found); write a .gif instead")
    if max_frames:
        j = j[:max_frames]
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    from matplotlib import animation

    fig, ax = _figure(title, size)
    fg = _Figure(ax, j)
    try:
        anim = animation.FuncAnimation(fig, lambda t: fg.show(t), frames=len(j), interval=1000 / fps, blit=False)
        if ext == ".gif":
            writer = animation.PillowWriter(fps=fps)
        else:
            writer = animation.FFMpegWriter(fps=fps, codec="libx264", extra_args=["-pix_fmt", "yuv420p"])
        path.parent.mkdir(parents=True, exist_ok=True)
        anim.save(str(path), writer=writer, dpi=dpi)
    finally:
        plt.close(fig)
    return path


_LABEL_IN, _TITLE_IN, _LEGEND_IN = 0.25, 0.4, 0.2  # strips (inches): frame label, title, legend


def _sheet_frames(n: int, frames: list[int] | int) -> list[int]:
    if isinstance(frames, int):
        frames = np.linspace(0, n - 1, max(1, min(frames, n))).round().astype(int).tolist()
    frames = [int(f) for f in frames]
    bad = [f for f in frames if not 0 <= f < n]
    if bad:
        raise ValueError(f"frames {bad} outside 0..{n - 1}")
    return frames


def contact_sheet_figure(joints, frames: list[int] | int = 8, cols: int = 4, title: str | None = None,
                         fps: float = HUMANML3D_TIMEBASE.fps, size: float = 2.6):
    """The matplotlib figure of :func:`save_contact_sheet` (the caller closes it).

    Cells are laid out explicitly, row by row from the top: each cell is a ``size`` inch
    square 3-D view with its label just above the figure it draws, inside the cell (3-D
    axes titles drift onto the row above and can be hidden under it)."""
    j = _check(joints)
    frames = _sheet_frames(len(j), frames)
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    cols = max(1, min(cols, len(frames)))
    rows = (len(frames) + cols - 1) // cols
    top = _TITLE_IN if title else 0.0
    width, height = size * cols, rows * (size + _LABEL_IN) + top + _LEGEND_IN
    fig = plt.figure(figsize=(width, height), dpi=100)
    if title:
        fig.text(0.5, 1 - 0.5 * top / height, title, ha="center", va="center", fontsize=10)
    _legend(fig)
    cells = []
    for k, t in enumerate(frames):
        r, c = divmod(k, cols)
        cell_top = height - top - r * (size + _LABEL_IN)  # inches from the bottom
        ax = fig.add_axes([c * size / width, (cell_top - _LABEL_IN - size) / height,
                           size / width, size / height], projection="3d")
        lines = _Figure(ax, j).show(t) + ax.lines
        cells.append((r, c, cell_top, t, lines))
    # a 3-D view leaves empty space above a flat scene: put a row's labels just above what
    # its cells draw (never higher than the cells), so they cannot read as the row above's
    fig.canvas.draw()  # projects the 3-D lines
    renderer = fig.canvas.get_renderer()
    top_of_row: dict[int, float] = {}
    for r, _, cell_top, _, lines in cells:
        drawn = max(ln.get_window_extent(renderer).y1 for ln in lines
                    if np.isfinite(np.asarray(ln.get_ydata(), float)).any()) / fig.dpi
        top_of_row[r] = min(max(top_of_row.get(r, 0.0), drawn + 0.08), cell_top - _LABEL_IN)
    for r, c, _, t, _ in cells:
        fig.text((c + 0.5) * size / width, top_of_row[r] / height, f"frame {t} ({t / fps:.2f} s)",
                 ha="center", va="bottom", fontsize=7)
    return fig


def save_contact_sheet(joints, path: str | Path, frames: list[int] | int = 8, cols: int = 4,
                       title: str | None = None, fps: float = HUMANML3D_TIMEBASE.fps, size: float = 2.6) -> Path:
    """PNG grid of stick figures at ``frames`` (a list of indices, or a count spread evenly
    over the clip; ``frames=[t]`` saves a single frame), read left to right, top to bottom,
    each labelled above its figure."""
    path = Path(path)
    if path.suffix.lower() != ".png":
        raise ValueError(f"contact sheet must be .png, got {path.name!r}")
    import matplotlib.pyplot as plt

    fig = contact_sheet_figure(joints, frames, cols, title, fps, size)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path)
    finally:
        plt.close(fig)
    return path


def save_frame_png(joints, path: str | Path, frame: int = 0, title: str | None = None) -> Path:
    """A single-frame PNG."""
    return save_contact_sheet(joints, path, frames=[frame], cols=1, title=title, size=4.0)


def save_top_view(joints, path: str | Path, points=None, frames: int = 8, title: str | None = None,
                  size: float = 5.0) -> Path:
    """PNG of the motion seen from above (x to the right, +z down the page, so nothing is
    mirrored): the root's track, stick figures at ``frames`` evenly spaced frames (darker =
    later) with an arrow where they face, and, when given, the path ``points`` [[x, z], ...]
    it follows (dashed)."""
    j = _check(joints)
    path = Path(path)
    if path.suffix.lower() != ".png":
        raise ValueError(f"top view must be .png, got {path.name!r}")
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(size, size), dpi=100)
    try:
        if points is not None:
            p = np.asarray(points, dtype=np.float64)
            ax.plot(p[:, 0], p[:, 1], "--o", color="#999999", ms=3, lw=1.2, label="path")
        ax.plot(j[:, 0, 0], j[:, 0, 2], color="#2ca02c", lw=1.0, label="root")
        shown = _sheet_frames(len(j), frames)
        ahead = 0.35 * facing_direction(j[shown]) if j.shape[1] == 22 else np.zeros((len(shown), 3))
        for k, t in enumerate(shown):
            alpha = 0.35 + 0.65 * k / max(1, len(shown) - 1)
            for chain, color in _chains(j.shape[1]):
                ax.plot(j[t, chain, 0], j[t, chain, 2], color=color, lw=1.5, alpha=alpha)
            ax.annotate("", xy=(j[t, 0, 0] + ahead[k, 0], j[t, 0, 2] + ahead[k, 2]),
                        xytext=(j[t, 0, 0], j[t, 0, 2]),
                        arrowprops=dict(arrowstyle="->", color="#222222", alpha=alpha, lw=1.2))
        ax.set_aspect("equal", adjustable="datalim")
        ax.invert_yaxis()  # seen from above (+Y towards the viewer): +z points down the page
        ax.grid(True, color="#eeeeee")
        ax.set_xlabel("x (m)")
        ax.set_ylabel("z (m)")
        ax.legend(loc="best", fontsize=7)
        if title:
            ax.set_title(title, fontsize=9)
        fig.tight_layout()
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path)
    finally:
        plt.close(fig)
    return path


__all__ = ["save_preview", "save_contact_sheet", "contact_sheet_figure", "save_frame_png",
           "save_top_view"]
