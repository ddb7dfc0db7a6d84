"""Where a clip goes, seen from its first frame's facing, and whether that matches its class.

:func:`travel` gives the root's net ground displacement ``forward`` / ``left`` (metres, in
the frame where frame 0 faces +Z; the performer's left is +X), its mean ground ``speed``
(m/s) and the net ``turn`` (degrees, + = to the left, :func:`training.prepare_bvh.net_turn_degrees`).
:data:`EXPECT` states what each locomotion class must do; :func:`goes_where_asked` checks it
(the gestures, which have no rule there, must stay within ``STAY_PUT`` of where they began).
"""
from __future__ import annotations

import numpy as np

from ..prepare_bvh import net_turn_degrees
from .joint_features import canonical

MIN_TRAVEL = 0.5     # metres a walk/run must cover
STAY_PUT = 1.0       # metres a gesture may drift at most
TURN_MIN = 30.0      # degrees a turning walk must turn


def travel(joints: np.ndarray, fps: float = 20.0) -> dict[str, float]:
    """Net displacement (forward, left), mean ground speed and net turn of a clip."""
    j = canonical(joints)
    root = j[:, 0, [0, 2]]
    d = root[-1] - root[0]
    steps = np.linalg.norm(np.diff(root, axis=0), axis=1)
    speed = float(steps.sum() / max(len(j) - 1, 1) * fps)
    return {"forward": float(d[1]), "left": float(d[0]), "speed": speed,
            "turn": net_turn_degrees(j, fps)}


def _heading(t: dict) -> float:
    """Travel direction in degrees from the initial facing, + = to the left."""
    return float(np.degrees(np.arctan2(t["left"], t["forward"])))


def _straight(t, sign=1.0):
    """Covers MIN_TRAVEL along ``sign`` x the initial facing, within 20 degrees of it."""
    f = sign * t["forward"]
    return f > MIN_TRAVEL and abs(t["left"]) < np.tan(np.radians(20)) * f


EXPECT = {
    "walk": lambda t: _straight(t),
    "run": lambda t: _straight(t),
    "dash": lambda t: _straight(t),
    "walk-back": lambda t: _straight(t, -1.0),
    "walk-left": lambda t: np.hypot(t["forward"], t["left"]) > MIN_TRAVEL and 15 < _heading(t) < 80,
    "walk-right": lambda t: np.hypot(t["forward"], t["left"]) > MIN_TRAVEL and -80 < _heading(t) < -15,
    "walk-turn-left": lambda t: t["turn"] > TURN_MIN,
    "walk-turn-right": lambda t: t["turn"] < -TURN_MIN,
}


def goes_where_asked(joints: np.ndarray, cls: str, fps: float = 20.0) -> bool:
    """Whether the clip moves as class ``cls`` asks (a gesture: stays within STAY_PUT)."""
    t = travel(joints, fps)
    rule = EXPECT.get(cls)
    if rule is None:
        return bool(np.hypot(t["forward"], t["left"]) < STAY_PUT)
    return bool(rule(t))


__all__ = ["travel", "goes_where_asked", "EXPECT"]
