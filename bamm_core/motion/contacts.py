"""Foot contacts: which foot is on the floor in which frame, and how much the feet skate.

Two sources of the same (T, 2) boolean labels (column 0 = left foot, 1 = right foot):

* :func:`foot_contacts` measures them from joint positions (any frame rate): a foot joint
  (ankle or toe) is *down* when it is near the clip's floor and slow; a foot is in contact
  when its ankle or its toe is down (heel strike, flat foot and toe-off all count).
* :func:`contacts_from_features` reads the four contact channels of HumanML3D features
  (``[l_ankle, l_foot, r_ankle, r_foot]``, see :mod:`bamm_core.motion.features`).

Both are debounced (:func:`debounce`): gaps of a frame or so inside a contact are filled and
one-frame blips are dropped, so a flicker never splits one contact into two.

:func:`skating_share` is the skating measure the tests and benchmarks use: the share of
contact steps in which a foot slides.
"""
from __future__ import annotations

import numpy as np

from .skeleton import HUMANML3D

#: (ankle, toe) joint indices of the left and right foot (HumanML3D / SMPL-22).
FEET: tuple[tuple[int, int], tuple[int, int]] = (HUMANML3D.feet_left, HUMANML3D.feet_right)
#: Contact channels of the 263-d features: ``[l_ankle, l_foot, r_ankle, r_foot]``.
CONTACT_CHANNELS = slice(259, 263)

#: Default thresholds of :func:`foot_contacts`.
CONTACT_HEIGHT = 0.05   # metres above the joint's floor level
CONTACT_SPEED = 0.6     # metres per second
#: Horizontal speed above which a foot in contact counts as sliding (:func:`skating_share`).
SLIDE_SPEED = 0.3       # metres per second


def _check_joints(joints) -> np.ndarray:
    j = np.asarray(joints, dtype=np.float64)
    if j.ndim != 3 or j.shape[1] < 12 or j.shape[2] != 3:
        raise ValueError(f"joints must be (T, 22, 3) (metres, Y up), got {j.shape}")
    if not np.isfinite(j).all():
        raise ValueError("joints contain NaN or inf")
    return j


def joint_speed(points: np.ndarray, fps: float, horizontal: bool = False) -> np.ndarray:
    """(T, ...) speeds in m/s of (T, ..., 3) positions: central differences inside the clip,
    one-sided at its ends (0 for a one-frame clip)."""
    p = points[..., [0, 2]] if horizontal else points
    if p.shape[0] < 2:
        return np.zeros(p.shape[:-1])
    v = np.gradient(p, axis=0) * float(fps)
    return np.linalg.norm(v, axis=-1)


def floor_levels(joints: np.ndarray) -> np.ndarray:
    """(2,) resting heights of the (ankle, toe) joints: the 2nd percentile of each kind's
    height over the clip, both feet together (the clip's own floor, wherever it is)."""
    j = _check_joints(joints)
    ankles = j[:, [FEET[0][0], FEET[1][0]], 1]
    toes = j[:, [FEET[0][1], FEET[1][1]], 1]
    return np.array([np.percentile(ankles, 2), np.percentile(toes, 2)])


def debounce(contacts: np.ndarray, gap: int = 1, min_span: int = 2) -> np.ndarray:
    """Fill gaps of at most ``gap`` frames inside contacts, then drop contacts shorter than
    ``min_span`` frames.  ``contacts``: (T,) or (T, F) bool; returns a new bool array."""
    c = np.array(contacts, dtype=bool, copy=True)
    if c.ndim == 1:
        return debounce(c[:, None], gap, min_span)[:, 0]
    for f in range(c.shape[1]):
        col = c[:, f]
        for on, limit in ((False, gap), (True, min_span - 1)):
            for s, e in runs(col == on):
                inner = s > 0 and e < len(col)  # a gap must have contact on both sides
                if e - s <= limit and (on or inner):
                    col[s:e] = not on
    return c


def runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """``[(start, end), ...]`` half-open spans where the (T,) bool ``mask`` is True."""
    m = np.concatenate([[False], np.asarray(mask, dtype=bool), [False]])
    d = np.flatnonzero(m[1:] != m[:-1])
    return [(int(a), int(b)) for a, b in zip(d[::2], d[1::2])]


def _debounce_frames(fps: float) -> tuple[int, int]:
    """(gap, min_span) in frames: 1 and 2 frames at 20 fps, scaled with the frame rate."""
    k = max(1.0, float(fps) / 20.0)
    return int(round(k)), int(round(2 * k))


def foot_contacts(joints, fps: float, *, height: float | None = None,
                  speed: float | None = None) -> np.ndarray:
    """(T, 2) bool contacts (left, right foot) measured from joints ``(T, 22, 3)``
    (metres, Y up, HumanML3D/SMPL-22 order) at ``fps`` frames per second.

    Rule: a foot joint (ankle 7/8 or toe 10/11) is *down* in a frame when its height is at
    most ``height`` (default 0.05 m) above its floor level (:func:`floor_levels`: the clip's
    own floor, per joint kind) and its speed (3-D, central differences) is at most ``speed``
    (default 0.6 m/s).  A foot is in contact when its ankle or its toe is down.  The labels
    are then debounced: gaps of up to 1 frame (at 20 fps; scaled with ``fps``) are filled,
    then contacts shorter than 2 frames are dropped.
    """
    j = _check_joints(joints)
    if float(fps) <= 0:
        raise ValueError(f"fps must be > 0, got {fps!r}")
    h = CONTACT_HEIGHT if height is None else float(height)
    s = CONTACT_SPEED if speed is None else float(speed)
    pts = j[:, FEET]                                    # (T, foot, ankle / toe, 3)
    down = pts[..., 1] - floor_levels(j) <= h           # (T, 2, 2) near the floor
    if s != np.inf:                                     # (no speed limit: motion_contacts)
        down &= joint_speed(pts, fps) <= s
    return debounce(down.any(axis=2), *_debounce_frames(fps))


def contacts_from_features(features) -> np.ndarray:
    """(T, 2) bool contacts (left, right foot) from HumanML3D features ``(T, 263)``: a foot is
    in contact when its ankle or toe channel is above 0.5 (channels 259-262 are
    ``[l_ankle, l_foot, r_ankle, r_foot]``; generated features are continuous), debounced
    like :func:`foot_contacts` at 20 fps."""
    f = np.asarray(features, dtype=np.float64)
    if f.ndim != 2 or f.shape[1] != 263:
        raise ValueError(f"features must be (T, 263) HumanML3D features, got {f.shape}")
    c = f[:, CONTACT_CHANNELS] > 0.5
    out = np.stack([c[:, 0] | c[:, 1], c[:, 2] | c[:, 3]], axis=1)
    return debounce(out, *_debounce_frames(20.0))


def motion_contacts(joints, fps: float, features=None) -> np.ndarray:
    """(T, 2) contacts of a motion: the features' contact channels (what the model meant,
    :func:`contacts_from_features`) where the foot is also near the floor (the height part
    of :func:`foot_contacts`, no speed limit: a sliding foot is still a contact), or
    :func:`foot_contacts` when there are no features."""
    if features is None:
        return foot_contacts(joints, fps)
    low = foot_contacts(joints, fps, speed=np.inf)
    c = contacts_from_features(features)
    if c.shape != low.shape:
        raise ValueError(f"features give {c.shape[0]} frames, joints {low.shape[0]}")
    return debounce(c & low, *_debounce_frames(fps))


def skating_share(joints, fps: float, contacts: np.ndarray | None = None,
                  slide: float = SLIDE_SPEED) -> float:
    """Share of contact steps (pairs of consecutive frames with the foot in contact in both,
    over both feet) in which the foot slides: its ankle or toe, whichever moves less (the
    part that bears weight), moves faster than ``slide`` m/s (default 0.3) horizontally.
    ``contacts`` default: :func:`foot_contacts` of ``joints``."""
    j = _check_joints(joints)
    c = foot_contacts(j, fps) if contacts is None else np.asarray(contacts, dtype=bool)
    if c.shape != (j.shape[0], 2):
        raise ValueError(f"contacts must be ({j.shape[0]}, 2), got {c.shape}")
    both = c[1:] & c[:-1]
    if not both.any():
        return 0.0
    slides = np.zeros_like(both)
    for side, (ankle, toe) in enumerate(FEET):
        step = np.diff(j[:, [ankle, toe]][..., [0, 2]], axis=0)
        slides[:, side] = np.linalg.norm(step, axis=-1).min(axis=1) * float(fps) > slide
    return float((slides & both).sum() / both.sum())


__all__ = ["FEET", "CONTACT_CHANNELS", "foot_contacts", "contacts_from_features",
           "motion_contacts", "debounce",
           "runs", "floor_levels", "joint_speed", "skating_share"]
