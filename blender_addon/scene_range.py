"""The scene's frame range follows new keys, so a new motion can be played at once.

After Generate, Generate Timeline and Extend the scene's start/end frames grow to cover the
new keys (in the same undo step as the keys; they never shrink).  Blender's scene range cannot
start before frame 0, so new keys that would land before frame 0 (Extend Before near the
start) are not written there: the whole action is shifted later first, so that its first key
lands on frame 0 (:func:`shift_for`, :func:`shift_action`).
"""
from __future__ import annotations

import numpy as np

from . import keyframes

EARLIEST = 0  # Blender's lowest scene start frame


def shift_for(first_frame: int) -> int:
    """Frames the action must move later so that ``first_frame`` is playable (0: none)."""
    return max(EARLIEST - int(first_frame), 0)


def shift_action(ob, action, offset: int) -> None:
    """Move every key of ``ob``'s slot in ``action`` (co and handles) ``offset`` frames later."""
    if not offset:
        return
    for fc in keyframes.channels(ob, action).fcurves:
        kp = fc.keyframe_points
        for attr in ("co", "handle_left", "handle_right"):
            a = np.empty(2 * len(kp), np.float32)
            kp.foreach_get(attr, a)
            a[0::2] += offset
            kp.foreach_set(attr, a)
        fc.update()


def cover(scene, first: int, last: int) -> str:
    """Grow the scene's frame range to include ``first``..``last``; returns a note for the
    operator's report ("" when the range already covered them)."""
    lo, hi = min(scene.frame_start, max(int(first), EARLIEST)), max(scene.frame_end, int(last))
    if (lo, hi) == (scene.frame_start, scene.frame_end):
        return ""
    if hi != scene.frame_end:  # end first: the start may not pass the end
        scene.frame_end = hi
    scene.frame_start = lo
    return f"; scene range now {lo}–{hi}"
