"""Walk along a path: bend a motion's root trajectory onto a polyline on the ground.

>>> bent = follow_path(motion.joints, [[0, 0], [2, 0], [2, 3]], fps=20)   # [x, z] metres, Y up
>>> bent = follow_path(motion.joints, points, 20, fit_end=True)          # end at the path's end

How (:func:`follow_path`):

1. The motion's own travel: its root's ground track, smoothed over a stride
   (:data:`SMOOTH_SECONDS`) into a centre line; the distance walked along it; its travel
   direction (held through pauses, where the motion stands).
2. Frame ``t`` is placed at distance ``s(t)`` along the path (arc-length parameterised):
   ``s`` is the motion's own distance (speed from the motion), or that distance scaled so
   that the motion ends at the path's end (``fit_end=True``).  Past the path's end the motion
   goes on straight along the last segment.
3. Each pose is moved from its centre-line point to the path point and turned about +Y by the
   path's heading minus the motion's travel direction, so the body turns with the path's
   tangent and keeps its own sway and its stance towards the direction of travel (a walk
   backwards stays backwards).  Corners turn over :data:`TURN_DISTANCE` on each side.
   The root starts exactly at ``points[0]``; heights are not changed.
4. The feet are re-planted (:func:`~bamm_core.motion.foot_planting.plant_feet`) during the
   motion's own contacts (:func:`~bamm_core.motion.contacts.foot_contacts` of the input,
   before bending), so a walk that follows a curve does not skate.

A motion that barely travels (mean speed under :data:`STILL_SPEED`, e.g. a wave) is still
moved along the path, at :data:`DEFAULT_PACE` (or to the path's end with ``fit_end``),
facing along it; its feet then glide (they are not planted) - use a walking prompt for a
walk.  Pure numpy; joints ``(T, 22, 3)`` metres, Y up; headings as
:mod:`~bamm_core.motion.facing` (0 = facing +Z, pi/2 = facing +X).
"""
from __future__ import annotations

import numpy as np

from .contacts import foot_contacts
from .facing import facing_yaw, rotate_about_y
from .foot_planting import plant_feet

#: Pace (m/s) of a motion that barely travels moved along a path (an average walk).
DEFAULT_PACE = 1.2
#: Mean travel speed (m/s) under which a motion "barely travels".
STILL_SPEED = 0.15
#: Travel speed (m/s) under which the travel direction is held from the frames around.
MOVING_SPEED = 0.1
#: Gaussian sigma (s) of the centre line: averages out the sway of a stride.
SMOOTH_SECONDS = 0.3
#: Metres before and after a path corner over which the body turns.
TURN_DISTANCE = 0.4


# ----------------------------------------------------------------------------- the path
def check_path(points) -> np.ndarray:
    """``points`` as an (N, 2) float64 polyline [x, z] without repeated points; ValueError
    when it is not (N, 2) finite numbers, has fewer than 2 points or has no length."""
    try:
        p = np.asarray(points, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError("the path must be a list of [x, z] points in metres") from None
    if p.ndim != 2 or p.shape[1] != 2:
        raise ValueError(f"the path must be a list of [x, z] points in metres, got an array of "
                         f"shape {p.shape}")
    if p.shape[0] < 2:
        raise ValueError(f"the path needs at least 2 points, got {p.shape[0]}")
    if not np.isfinite(p).all():
        raise ValueError("the path contains NaN or infinite coordinates")
    keep = np.concatenate([[True], np.linalg.norm(np.diff(p, axis=0), axis=1) > 1e-9])
    p = p[keep]
    if p.shape[0] < 2:
        raise ValueError("the path has zero length: all its points are the same")
    return p


def arc_lengths(points: np.ndarray) -> np.ndarray:
    """(N,) distance along the polyline to each point (0 at the first)."""
    return np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(points, axis=0), axis=1))])


def point_at(points: np.ndarray, s: np.ndarray) -> np.ndarray:
    """(T, 2) points at distances ``s`` (T,) along the path; straight on past its end."""
    cum = arc_lengths(points)
    s = np.asarray(s, dtype=np.float64)
    out = np.stack([np.interp(s, cum, points[:, 0]), np.interp(s, cum, points[:, 1])], -1)
    last = points[-1] - points[-2]
    beyond = np.maximum(s - cum[-1], 0.0)
    return out + beyond[:, None] * (last / np.linalg.norm(last))


def heading_at(points: np.ndarray, s: np.ndarray) -> np.ndarray:
    """(T,) heading (radians about +Y, 0 = +Z) of the path at distances ``s``: each segment's
    direction, turning linearly over :data:`TURN_DISTANCE` (at most half a segment) on each
    side of a corner."""
    cum = arc_lengths(points)
    d = np.diff(points, axis=0)
    yaw = np.unwrap(np.arctan2(d[:, 0], d[:, 1]))
    half = np.minimum(TURN_DISTANCE, np.diff(cum) / 2)
    knots = np.stack([cum[:-1] + half, cum[1:] - half], 1).ravel()
    knots[0], knots[-1] = cum[0], cum[-1]
    return np.interp(np.asarray(s, dtype=np.float64), knots, np.repeat(yaw, 2))


# ----------------------------------------------------------------------------- the motion
def _smooth(x: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian smoothing along axis 0 of (T, D); the ends are padded by point reflection,
    so a steady walk's line is not pulled back at its ends."""
    if sigma <= 0 or x.shape[0] < 2:
        return x.copy()
    r = int(np.ceil(3 * sigma))
    k = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma) ** 2)
    k /= k.sum()
    padded = np.pad(x, ((r, r), (0, 0)), mode="reflect", reflect_type="odd")
    return np.stack([np.convolve(padded[:, i], k, mode="valid") for i in range(x.shape[1])], 1)


def travel(joints: np.ndarray, fps: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The motion's own travel: centre line (T, 2) [x, z], distance walked along it (T,)
    (0 at frame 0) and travel direction (T,) (held through pauses; the first frame's facing
    when it never moves)."""
    centre = _smooth(joints[:, 0, [0, 2]].astype(np.float64), SMOOTH_SECONDS * fps)
    dist = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(centre, axis=0), axis=1))])
    ahead = _smooth(centre, SMOOTH_SECONDS * fps)  # once more: a steady direction
    vel = np.gradient(ahead, axis=0) * fps if len(centre) > 1 else np.zeros_like(centre)
    moving = np.flatnonzero(np.linalg.norm(vel, axis=1) > MOVING_SPEED)
    if moving.size == 0:
        return centre, dist, np.full(len(centre), float(facing_yaw(joints[0])))
    yaw = np.unwrap(np.arctan2(vel[moving, 0], vel[moving, 1]))
    return centre, dist, np.interp(np.arange(len(centre)), moving, yaw)


def barely_travels(distance: np.ndarray, fps: float) -> bool:
    """True when the motion's mean travel speed is under :data:`STILL_SPEED`."""
    seconds = max(len(distance) - 1, 1) / fps
    return float(distance[-1]) / seconds < STILL_SPEED


# ----------------------------------------------------------------------------- follow
def follow_path(joints, points, fps: float, *, fit_end: bool = False,
                contacts=None) -> np.ndarray:
    """The motion ``joints`` (T, 22, 3) walked along the polyline ``points`` (N, 2) [x, z]
    (metres, ground plane, Y up); see the module docstring.

    Args:
        fps: the motion's frames per second.
        fit_end: scale the motion's speed so that it ends at the path's end (default: its
            own speed; it stops where its own travel ends, or goes on straight past the end).
        contacts: (T, 2) bool foot contacts (left, right) to re-plant (e.g. the engine's
            ``Motion.contacts``); default measured on the input; all False = no planting.
            A motion that barely travels is never planted (its feet glide).
    Returns:
        (T, 22, 3) joints (same dtype) in the path's coordinates, root starting at points[0].
    """
    x = np.asarray(joints)
    if x.ndim != 3 or x.shape[1:] != (22, 3) or x.shape[0] < 2:
        raise ValueError(f"joints must be (T, 22, 3) with at least 2 frames, got {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError("joints contain NaN or inf")
    if not float(fps) > 0:
        raise ValueError(f"fps must be > 0, got {fps!r}")
    p = check_path(points)
    j = x.astype(np.float64)
    centre, dist, direction = travel(j, fps)
    still = barely_travels(dist, fps)
    if still:
        dist = np.arange(len(j)) * (DEFAULT_PACE / fps)
    if fit_end:
        dist = dist * (arc_lengths(p)[-1] / dist[-1])
    on_line = np.stack([centre[:, 0], np.zeros(len(j)), centre[:, 1]], -1)
    local = j - on_line[:, None]  # each pose about its centre-line point
    out = rotate_about_y(local, heading_at(p, dist) - direction)
    out[..., [0, 2]] += point_at(p, dist)[:, None]
    out[..., [0, 2]] += p[0] - out[0, 0, [0, 2]]  # the root starts at the first point
    c = foot_contacts(j, fps) if contacts is None else np.asarray(contacts, dtype=bool)
    if c.shape != (len(j), 2):
        raise ValueError(f"contacts must be ({len(j)}, 2) (left, right foot), got {c.shape}")
    if c.any() and not still:
        out = plant_feet(out, c, fps)
    return out.astype(x.dtype) if np.issubdtype(x.dtype, np.floating) else out


__all__ = ["follow_path", "check_path", "arc_lengths", "point_at", "heading_at", "travel",
           "barely_travels", "DEFAULT_PACE", "STILL_SPEED", "MOVING_SPEED", "SMOOTH_SECONDS",
           "TURN_DISTANCE"]
