"""Physical metrics of one clip ``(T, 22, 3)`` (metres, Y up), for the judge's tables.

* ``jerk`` - mean jerk magnitude, m/s^3 (:func:`training.metrics.jitter`);
* ``skating`` - share of foot-contact steps in which the foot slides faster than 0.3 m/s
  (:func:`bamm_core.motion.contacts.skating_share`; contact rule: an ankle or toe within 5 cm
  of the clip's own floor level and slower than 0.6 m/s, debounced);
* ``penetration`` / ``floating`` - mean depth of the lowest joint below y = 0 and mean height
  above the 5 cm contact band (:mod:`training.metrics`);
* ``bone_var`` - bone-length variation: per bone, the std over frames divided by the mean
  length, averaged over the 21 bones (0 on a rigid skeleton).

:func:`per_class_ratio` compares a metric with real clips class by class (a row of runs and
a row of bows are each compared with real runs and real bows), so rows with different class
mixes compare fairly.
"""
from __future__ import annotations

import numpy as np

from bamm_core.motion.contacts import skating_share
from bamm_core.motion.skeleton import bone_lengths

from ..metrics import ground_float, ground_penetration, jitter

NAMES = ("jerk", "skating", "penetration", "floating", "bone_var")


def bone_variation(joints: np.ndarray) -> float:
    """Mean over bones of std/mean of the bone's length across frames."""
    lengths = bone_lengths(np.asarray(joints, dtype=np.float64))[:, 1:]  # root has no bone
    return float((lengths.std(0) / np.maximum(lengths.mean(0), 1e-6)).mean())


def physical(joints: np.ndarray, fps: float = 20.0) -> dict[str, float]:
    """The :data:`NAMES` metrics of one clip."""
    j = np.asarray(joints, dtype=np.float64)
    return {"jerk": jitter(j, fps), "skating": skating_share(j, fps),
            "penetration": ground_penetration(j), "floating": ground_float(j),
            "bone_var": bone_variation(j)}


def class_means(values, classes) -> dict[str, float]:
    """``{class: mean of its values}`` (NaN values left out)."""
    groups: dict[str, list[float]] = {}
    for v, c in zip(values, classes):
        if np.isfinite(v):
            groups.setdefault(c, []).append(float(v))
    return {c: float(np.mean(v)) for c, v in groups.items()}


def per_class_ratio(values, classes, ref_values, ref_classes, floor: float = 0.0) -> float:
    """Class-balanced ratio of ``values`` to ``ref_values``: over the classes both sets have (and
    whose reference mean is above ``floor``), ``sum_c mean(values of c) / sum_c mean(ref_values
    of c)`` - every class weighs the same whatever its clip count, and a class whose real value
    is near zero (a gentle wave's jerk) cannot blow the figure up; NaN when no class qualifies."""
    mine, ref = class_means(values, classes), class_means(ref_values, ref_classes)
    shared = [c for c in mine if c in ref and ref[c] > floor]
    if not shared:
        return float("nan")
    return float(sum(mine[c] for c in shared) / sum(ref[c] for c in shared))


__all__ = ["NAMES", "physical", "bone_variation", "class_means", "per_class_ratio"]
