"""The *Path* a motion follows: a curve object's world-space points (bpy, no motion math).

Bezier splines are sampled at the curve's resolution (``resolution_u`` points a segment),
poly splines at their points, NURBS splines from the evaluated curve; only the first spline
is used.  Points are read in world space (Z up), then expressed in the armature's space; the
rig's linear map (:mod:`bamm_core.rigs.rig_path`) takes them to the engine's Y-up ground
plane.  A script or jobs file may give the points directly: ``[[x, z], ...]`` in metres on the
engine's ground plane, i.e. world ``(x, -z)`` (the engine's +Z is Blender's -Y, its front view).
"""
from __future__ import annotations

import json

import numpy as np
from bpy.props import StringProperty

from .rig import UserError


class PathOptions:
    """Operator properties naming a path (mixed into the operators that follow one)."""

    path: StringProperty(name="Path", description="Curve object to walk along (empty: the scene's Path setting)")
    path_points: StringProperty(name="Path points", description="JSON [[x, z], ...] in metres on the engine's "
                                                                "ground plane (world x, -y); overrides Path")


def _bezier_points(spline) -> list:
    from mathutils.geometry import interpolate_bezier

    pts = list(spline.bezier_points)
    pairs = list(zip(pts, pts[1:])) + ([(pts[-1], pts[0])] if spline.use_cyclic_u and len(pts) > 1 else [])
    if not pairs:
        return [pts[0].co] if pts else []
    out = [pairs[0][0].co]
    n = max(int(spline.resolution_u), 1) + 1
    for a, b in pairs:
        out += interpolate_bezier(a.co, a.handle_right, b.handle_left, b.co, n)[1:]
    return out


def world_points(context, ob) -> np.ndarray:
    """``(N, 3)`` world-space points along the curve object ``ob``; UserError if it is not a
    curve or has no spline."""
    if ob is None:
        raise UserError("no path: set the Path field to a curve object")
    if ob.type != "CURVE":
        raise UserError(f"the path {ob.name!r} is a {ob.type.lower()}, not a curve: pick a Bezier, NURBS "
                        "or poly curve object")
    splines = ob.data.splines
    if not len(splines):
        raise UserError(f"the path curve {ob.name!r} has no spline")
    spline = splines[0]
    if spline.type == "BEZIER":
        local = [tuple(p) for p in _bezier_points(spline)]
    elif spline.type == "POLY":
        local = [tuple(p.co)[:3] for p in spline.points]
        if spline.use_cyclic_u and local:
            local.append(local[0])
    else:  # NURBS: the evaluated curve (at its resolution)
        data = ob.data
        if data.bevel_depth or data.extrude or data.bevel_object is not None or len(splines) > 1:
            raise UserError(f"the NURBS path {ob.name!r} must be a single unbevelled spline")
        ev = ob.evaluated_get(context.evaluated_depsgraph_get())
        mesh = ev.to_mesh()
        try:
            local = [tuple(v.co) for v in mesh.vertices]
        finally:
            ev.to_mesh_clear()
        return _to_world(local, world_matrix(context, ob))
    return _to_world(local, world_matrix(context, ob))


def world_matrix(context, ob) -> np.ndarray:
    """``ob``'s evaluated (up to date) world matrix, 4x4."""
    return np.array(ob.evaluated_get(context.evaluated_depsgraph_get()).matrix_world)


def _to_world(local, m: np.ndarray) -> np.ndarray:
    return np.asarray(local, np.float64).reshape(-1, 3) @ m[:3, :3].T + m[:3, 3]


def parse_points(text: str) -> np.ndarray:
    """``"[[x, z], ...]"`` (engine ground plane, metres) -> world points ``(N, 3)``."""
    try:
        p = np.asarray(json.loads(text), np.float64)
    except (ValueError, TypeError):
        raise UserError(f"path points must be a JSON list of [x, z] pairs, got {text[:60]!r}") from None
    if p.ndim != 2 or p.shape[1] != 2 or not np.isfinite(p).all():
        raise UserError(f"path points must be a list of [x, z] pairs, got shape {p.shape}")
    return np.stack([p[:, 0], -p[:, 1], np.zeros(len(p))], -1)


def check_points(world: np.ndarray, name: str) -> np.ndarray:
    """The points, or a UserError for fewer than 2 points or a path of no length on the ground."""
    if len(world) < 2:
        raise UserError(f"the path {name} needs at least 2 points, got {len(world)}")
    if np.linalg.norm(np.diff(world[:, :2], axis=0), axis=-1).sum() < 1e-6:
        raise UserError(f"the path {name} has zero length on the ground")
    return world


def rig_points(context, op, ob) -> np.ndarray | None:
    """The path for an operator on armature ``ob``, in ``ob``'s armature space (None: no path).

    From the operator's ``path_points`` (JSON), else its ``path`` (a curve object's name), else
    the scene's *Path* setting."""
    import bpy

    points = getattr(op, "path_points", "")
    name = getattr(op, "path", "")
    if points:
        world = check_points(parse_points(points), "points")
    else:
        if name:
            curve = bpy.data.objects.get(name)
            if curve is None:
                raise UserError(f"no path object named {name!r}")
        else:
            curve = context.scene.bamm.path
            if curve is None:
                return None
        world = check_points(world_points(context, curve), repr(curve.name))
    inv = np.linalg.inv(world_matrix(context, ob))
    return world @ inv[:3, :3].T + inv[:3, 3]
