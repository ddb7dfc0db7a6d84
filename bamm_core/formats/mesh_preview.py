"""Previews of a moving triangle mesh (a body on the motion): flat-shaded, drawn with Pillow.

Vertices are ``(T, V, 3)`` metres, Y up, the character facing +Z (HumanML3D's space, like
:mod:`.preview`'s stick figures).  An orthographic camera looks from the front-left and a
little above, follows the root horizontally; the floor grid stays fixed in the world.
Triangles are painted far to near (painter's algorithm), shaded by a light from the camera.

* :func:`save_mesh_preview` - ``.gif`` of every frame;
* :func:`save_mesh_sheet` - ``.png`` grid of evenly spaced frames.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..motion.timebase import HUMANML3D as HUMANML3D_TIMEBASE
from .paths import atomic_path

MESH_PREVIEW_FORMATS = (".gif", ".png")
_BASE = np.array([150.0, 170.0, 200.0])
_BG, _GRID, _INK = (250, 250, 250), (205, 205, 205), (40, 40, 40)


def _camera(azimuth: float = 35.0, elevation: float = 15.0) -> np.ndarray:
    """Rows: screen right, screen up, view direction (into the picture)."""
    a, e = np.radians(azimuth), np.radians(elevation)
    back = np.array([np.sin(a) * np.cos(e), np.sin(e), np.cos(a) * np.cos(e)])  # towards the camera
    right = np.cross([0.0, 1.0, 0.0], back)
    right /= np.linalg.norm(right)
    return np.stack([right, np.cross(back, right), -back])


def _check(vertices, faces) -> tuple[np.ndarray, np.ndarray]:
    v = np.asarray(vertices, np.float64)
    f = np.asarray(faces, np.int64)
    if v.ndim != 3 or v.shape[-1] != 3 or len(v) < 1:
        raise ValueError(f"expected vertices of shape (T, V, 3), got {v.shape}")
    if f.ndim != 2 or f.shape[1] != 3 or f.size == 0 or f.min() < 0 or f.max() >= v.shape[1]:
        raise ValueError("faces must be (F, 3) indices of the vertices")
    return v, f


def front_sign(vertices: np.ndarray, faces: np.ndarray) -> float:
    """+1 / -1 when the mesh is closed and consistently wound (every edge shared by two faces
    in opposite directions), by the sign of its volume: the faces that can be skipped when
    seen from behind; 0 for an open or inconsistent mesh (draw every face)."""
    edges = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    key = edges[:, 0] * (faces.max() + 1) + edges[:, 1]
    twin = edges[:, 1] * (faces.max() + 1) + edges[:, 0]
    if len(np.unique(key)) != len(key) or not np.isin(twin, key).all():
        return 0.0
    tri = vertices[faces]
    volume = np.einsum("fi,fi->f", tri[:, 0], np.cross(tri[:, 1], tri[:, 2])).sum()
    return float(np.sign(volume))


class _Renderer:
    """One camera and scale for all frames of a motion."""

    def __init__(self, v: np.ndarray, faces: np.ndarray, root: np.ndarray, size: int) -> None:
        self.faces, self.cam, self.size = faces, _camera(), size
        self.root = root
        local = v - np.stack([root[:, 0], np.zeros(len(v)), root[:, 2]], axis=1)[:, None]
        p = local @ self.cam.T
        lo, hi = p[..., :2].min(axis=(0, 1)), p[..., :2].max(axis=(0, 1))
        self.scale = 0.8 * size / max(float((hi - lo).max()), 1e-6)
        self.mid = (lo + hi) / 2
        self.floor_y = float(v[..., 1].min())
        self.front = front_sign(v[0], faces)

    def _screen(self, pts: np.ndarray, t: int) -> np.ndarray:
        p = (pts - [self.root[t, 0], 0.0, self.root[t, 2]]) @ self.cam.T
        xy = (p[..., :2] - self.mid) * self.scale
        return np.stack([self.size / 2 + xy[..., 0], self.size / 2 - xy[..., 1], p[..., 2]], axis=-1)

    def _grid(self, draw, t: int) -> None:
        cx, cz = np.round(self.root[t, [0, 2]] * 2) / 2
        ticks = np.arange(-3, 3.01, 0.5)
        for a in ticks:
            for line in (([cx + a, cz - 3], [cx + a, cz + 3]), ([cx - 3, cz + a], [cx + 3, cz + a])):
                ends = np.array([[x, self.floor_y, z] for x, z in line])
                s = self._screen(ends, t)
                draw.line([tuple(s[0, :2]), tuple(s[1, :2])], fill=_GRID, width=1)

    def frame(self, v: np.ndarray, t: int, label: str | None = None):
        from PIL import Image, ImageDraw

        img = Image.new("RGB", (self.size, self.size), _BG)
        draw = ImageDraw.Draw(img)
        self._grid(draw, t)
        s = self._screen(v, t)
        tri = s[self.faces]  # (F, 3, 3)
        world = v[self.faces]
        n = np.cross(world[:, 1] - world[:, 0], world[:, 2] - world[:, 0])
        n /= np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-12)
        facing = n @ self.cam[2]
        light = np.abs(facing)  # two-sided: light from the camera
        colors = np.clip(_BASE * (0.35 + 0.65 * light[:, None]), 0, 255).astype(int)
        order = np.argsort(-tri[:, :, 2].mean(axis=1))
        if self.front:  # a closed mesh: faces turned away are hidden behind the others
            order = order[self.front * facing[order] < 0]
        for i in order:
            draw.polygon([tuple(q) for q in tri[i, :, :2]], fill=tuple(colors[i]))
        if label:
            draw.text((6, 4), label, fill=_INK)
        return img


def _root(v: np.ndarray, root) -> np.ndarray:
    return np.asarray(root, np.float64) if root is not None else v.mean(axis=1)


def save_mesh_preview(vertices, faces, path: str | Path, fps: float = HUMANML3D_TIMEBASE.fps,
                      title: str | None = None, size: int = 320, root=None, progress=None) -> Path:
    """Write a ``.gif`` of the mesh ``vertices (T, V, 3)`` / ``faces (F, 3)``; the camera
    follows ``root (T, 3)`` (default the mesh's centre); ``progress(done, total)`` is called
    after each frame.  ValueError for bad input; nothing is written then."""
    v, f = _check(vertices, faces)
    path = Path(path)
    if path.suffix.lower() != ".gif":
        raise ValueError(f"a mesh animation is written as .gif, not {path.suffix!r}")
    if fps <= 0:
        raise ValueError(f"fps must be positive, got {fps}")
    r = _Renderer(v, f, _root(v, root), size)
    frames = []
    for t in range(len(v)):
        frames.append(r.frame(v[t], t, title))
        if progress is not None:
            progress(t + 1, len(v))
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        frames[0].save(tmp, format="GIF", save_all=True, append_images=frames[1:],
                       duration=int(round(1000 / fps)), loop=0)
    return path


def save_mesh_sheet(vertices, faces, path: str | Path, frames: int = 8, cols: int = 4,
                    fps: float = HUMANML3D_TIMEBASE.fps, title: str | None = None, size: int = 240,
                    root=None) -> Path:
    """Write a ``.png`` grid of ``frames`` evenly spaced frames, each labelled with its time."""
    from PIL import Image, ImageDraw

    v, f = _check(vertices, faces)
    path = Path(path)
    if path.suffix.lower() != ".png":
        raise ValueError(f"a mesh sheet is written as .png, not {path.suffix!r}")
    picks = np.unique(np.linspace(0, len(v) - 1, max(1, min(frames, len(v)))).round().astype(int))
    cols = min(cols, len(picks))
    rows = -(-len(picks) // cols)
    top = 20 if title else 0
    sheet = Image.new("RGB", (cols * size, rows * size + top), _BG)
    r = _Renderer(v, f, _root(v, root), size)
    for i, t in enumerate(picks):
        sheet.paste(r.frame(v[t], t, f"{t / fps:.2f} s"), ((i % cols) * size, (i // cols) * size + top))
    if title:
        ImageDraw.Draw(sheet).text((6, 4), title, fill=_INK)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        sheet.save(tmp, format="PNG")
    return path


__all__ = ["MESH_PREVIEW_FORMATS", "save_mesh_preview", "save_mesh_sheet"]
