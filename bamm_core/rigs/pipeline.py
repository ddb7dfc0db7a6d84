"""The one motion -> rig pipeline (pure numpy): what every front end does between the engine
and an armature's keys.

Motions are joints ``(T, 22, 3)`` in metres, Y up, at the model's fps; a rig is animated at
the scene's fps in armature space through a :class:`~bamm_core.rigs.retargeting.Retargeter`.

* :func:`motion_to_rig` - a generated or edited motion -> a :class:`RigPose` at scene fps
  (resampling, motion space -> rig space, rotation solving);
* :func:`rig_to_motion` - an armature's animation read back -> joints at model fps (and the
  scale that maps them back exactly);
* :func:`scene_range_to_model` - an inclusive scene frame range -> the model frames to
  regenerate; :func:`scene_frames_for` - frames added at model fps -> scene frames;
* the one blend at the edges of new keys: :func:`edge_weights` (0 = hard cut) and, for an
  inclusive inpaint range whose border keys are the attachment points,
  :func:`range_weights`; applied in the rig's key space by the front end when it writes the
  keys; the engine's own splice is then called with ``blend=0``.

No alignment step is needed after an edit: the engine returns the frames outside the edited
range bit-identical and the edit in the input's space, so the kept frames map back onto the
rig exactly (``rig_to_motion`` and ``motion_to_rig`` with the same scale are inverses).
"""
from __future__ import annotations

import math

import numpy as np

from ..motion.blending import edge_weights
from ..motion.resampling import resample_positions
from .retargeting import Retargeter, RigPose
from .rig_feet import contacts_at, feet_problem, plant_rig_feet


def to_fps(x: np.ndarray, src_fps: float, dst_fps: float, n_out: int | None = None) -> np.ndarray:
    """Resample ``x (T, ...)`` (float64) and pad (repeating the last frame) or trim it to
    ``n_out`` frames."""
    y = resample_positions(np.asarray(x, np.float64), float(src_fps), float(dst_fps)).astype(np.float64)
    if n_out is None or len(y) == n_out:
        return y
    if n_out < 1:
        raise ValueError(f"n_out must be at least 1, got {n_out}")
    return y[:n_out] if len(y) > n_out else np.concatenate([y, np.repeat(y[-1:], n_out - len(y), 0)])


def motion_to_rig(retargeter: Retargeter, joints: np.ndarray, model_fps: float, scene_fps: float, *,
                  in_place: bool = False, scale: float | None = None, n_out: int | None = None,
                  frames=None, contacts=None) -> RigPose:
    """A motion at model fps -> a :class:`RigPose` at scene fps.

    scale None (a new motion): scaled to the rig's leg length and placed on the rig (feet on
    its ground, frame-0 pelvis over its rest pelvis; the whole pelvis path if ``in_place``).
    scale given (an edit of a motion read with :func:`rig_to_motion`): the pure linear map
    back into the rig's space, no placement.  n_out: pad/trim to that many scene frames;
    frames: solve only these scene frames (an index or slice; edits write only their range).
    contacts: the motion's (T, 2) foot contacts at model fps (``Motion.contacts``) to lock the
    rig's feet during them (:func:`~bamm_core.rigs.rig_feet.plant_rig_feet`; None: no locking;
    a rig without recognisable feet is left unlocked, :func:`feet_message` says why).
    """
    x = to_fps(joints, model_fps, scene_fps, n_out)
    if scale is None:
        pose = retargeter.retarget(x if frames is None else x[frames], in_place=in_place)
    else:
        rig = retargeter.motion_to_rig(x, scale)
        pose = retargeter.solve(rig if frames is None else rig[frames])
    if contacts is None:
        return pose
    return lock_feet(retargeter, pose, contacts, model_fps, scene_fps, n_scene=len(x), frames=frames)


def lock_feet(retargeter: Retargeter, pose: RigPose, contacts, model_fps: float, scene_fps: float, *,
              n_scene: int | None = None, frames=None) -> RigPose:
    """``pose`` (scene fps; frames ``frames`` of ``n_scene`` when given) with the rig's feet
    locked during the motion's ``contacts`` (model fps); unchanged on a rig without
    recognisable feet (:func:`feet_message`) or without contacts (None)."""
    if contacts is None:
        return pose
    n = len(pose.rotations) if n_scene is None else int(n_scene)
    c = contacts_at(contacts, n, model_fps, scene_fps)
    return plant_rig_feet(retargeter, pose, c if frames is None else c[frames], scene_fps)[0]


def feet_message(retargeter: Retargeter) -> str | None:
    """None when foot locking works on this rig, else the message to show (it is skipped)."""
    problem = feet_problem(retargeter)
    return None if problem is None else f"Plant feet skipped: {problem}"


def rig_to_motion(retargeter: Retargeter, rig_joints: np.ndarray, scene_fps: float,
                  model_fps: float) -> tuple[np.ndarray, float]:
    """Joints read from the armature (armature space, scene fps) -> (float32 joints at model
    fps, scale); pass the scale to :func:`motion_to_rig` for the edited motion."""
    scale = retargeter.motion_scale()
    joints = to_fps(retargeter.rig_to_motion(rig_joints, scale), scene_fps, model_fps)
    return joints.astype(np.float32), scale


def scene_range_to_model(f0: int, f1: int, a0: int, scene_fps: float, model_fps: float,
                         n_model: int) -> tuple[int, int]:
    """Inclusive scene frames ``f0..f1`` of an action starting at scene frame ``a0`` -> the
    model frame range ``[start, end)`` (of ``n_model`` frames) that covers them."""
    if f1 < f0:
        raise ValueError(f"the range {f0}-{f1} is reversed: the start frame must come before the end frame")
    if f0 < a0:
        raise ValueError(f"the range {f0}-{f1} starts before the action's first frame {a0}")
    ratio = float(model_fps) / float(scene_fps)
    start = max(int(math.floor((f0 - a0) * ratio)), 0)
    end = min(int(math.ceil((f1 - a0) * ratio)) + 1, int(n_model))
    return start, end


def range_weights(n: int, blend: int) -> np.ndarray:
    """Weights of the ``n`` keys of an inclusive inpainted range (border frames included).

    ``blend`` = 0: a hard cut, every key is the new motion's.  ``blend`` >= 1: the border keys
    are where the new motion attaches, so they keep the existing pose, and the new motion
    fades in over ``blend`` frames from each border."""
    if blend <= 0 or n < 2:
        return edge_weights(n, 0)
    w = np.zeros(n)
    w[1:-1] = edge_weights(n - 2, blend - 1)
    return w


def scene_frames_for(n_model: int, model_fps: float, scene_fps: float) -> int:
    """Scene frames spanning ``n_model`` frames added at model fps (e.g. by an outpaint)."""
    return int(round(int(n_model) * float(scene_fps) / float(model_fps)))


__all__ = ["motion_to_rig", "lock_feet", "feet_message", "rig_to_motion", "scene_range_to_model", "scene_frames_for", "to_fps",
           "edge_weights", "range_weights"]
