"""Text-to-motion metrics (the paper's protocol, SPEC §7) and physical plausibility.

Embedding metrics take evaluator embeddings as numpy arrays:

- ``r_precision_and_mm_dist(text, motion, batch_size=32)`` — per batch of 32 matched pairs, a
  32×32 Euclidean distance matrix; top-k hit when the matched motion is among the k nearest to its
  text. Hits are summed over batches and divided by the samples used (incomplete last batch
  dropped, as ``drop_last=True``). MM-Dist is the mean matched (diagonal) distance.
- ``fid(real, gen)`` — Fréchet distance between Gaussians fitted to the two embedding sets
  (``np.cov``, ``scipy.linalg.sqrtm``, ε=1e-6 diagonal fallback when the product is singular).
- ``diversity(emb, times)`` — mean L2 distance between two random index sets of size ``times``.
- ``multimodality(emb, times)`` — ``emb`` is (prompts, repeats, D); per prompt, mean distance
  between ``times`` random pairs of its repeats; averaged over prompts.
- ``mean_ci(values)`` — mean and 95 % half-width ``1.96·std/√n`` (population std, as official).

Physical plausibility takes joints ``(T, 22, 3)`` in metres, Y-up, floor at y = 0, 20 fps:

- ``foot_skating_ratio`` — fraction of consecutive frame pairs in which a foot (toe joints 10/11)
  is below 5 cm at both frames yet slides more than 2.5 cm horizontally;
- ``jitter`` — mean jerk magnitude (third finite difference × fps³, m/s³) over joints and frames;
- ``ground_penetration`` / ``ground_float`` — per frame, the lowest joint height h; mean of
  ``max(0, −h)`` (below the floor) and of ``max(0, h − 0.05)`` (hovering above the 5 cm contact band),
  in metres.
"""
from __future__ import annotations

import numpy as np
from scipy import linalg

from bamm_core.motion.skeleton import HUMANML3D as T2M_SKELETON
from bamm_core.motion.timebase import HUMANML3D

FOOT_JOINTS = (T2M_SKELETON.feet_left[1], T2M_SKELETON.feet_right[1])  # left_foot, right_foot (toes)


# --------------------------------------------------------------------------- embedding metrics
def euclidean_distance_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(N, D), (M, D) -> (N, M) Euclidean distances."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    d2 = (a * a).sum(1)[:, None] - 2.0 * a @ b.T + (b * b).sum(1)[None, :]
    return np.sqrt(np.maximum(d2, 0.0))


def r_precision_and_mm_dist(text: np.ndarray, motion: np.ndarray, batch_size: int = 32,
                            top_k: int = 3) -> tuple[np.ndarray, float]:
    """Return ``(R-precision top-1..top_k as an array, MM-Dist)``; row i of ``text`` matches
    row i of ``motion``."""
    n = len(text)
    if n != len(motion):
        raise ValueError(f"text ({n}) and motion ({len(motion)}) embeddings must pair up")
    if n < batch_size:
        raise ValueError(f"need at least one full batch of {batch_size} pairs, got {n}")
    hits = np.zeros(top_k)
    mm = 0.0
    used = 0
    for s in range(0, n - batch_size + 1, batch_size):
        d = euclidean_distance_matrix(text[s:s + batch_size], motion[s:s + batch_size])
        # rank of the matched motion among all motions for each text (0 = nearest)
        own = np.diag(d)
        rank = (d < own[:, None]).sum(1)
        for k in range(top_k):
            hits[k] += (rank <= k).sum()
        mm += own.sum()
        used += batch_size
    return hits / used, mm / used


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray,
                     eps: float = 1e-6) -> float:
    """‖μ1−μ2‖² + Tr(Σ1 + Σ2 − 2(Σ1Σ2)^½)."""
    mu1, mu2 = np.atleast_1d(mu1), np.atleast_1d(mu2)
    sigma1, sigma2 = np.atleast_2d(sigma1), np.atleast_2d(sigma2)
    diff = mu1 - mu2
    with np.errstate(all="ignore"):
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            covmean = linalg.sqrtm(sigma1.dot(sigma2))
    if not np.isfinite(covmean).all() or np.abs(covmean.imag if np.iscomplexobj(covmean) else 0).max() > 1e-3:
        offset = np.eye(sigma1.shape[0]) * eps
        covmean = linalg.sqrtm((sigma1 + offset).dot(sigma2 + offset))
    if np.iscomplexobj(covmean):
        covmean = covmean.real
    return float(diff.dot(diff) + np.trace(sigma1) + np.trace(sigma2) - 2.0 * np.trace(covmean))


def activation_statistics(emb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    emb = np.asarray(emb, dtype=np.float64)
    return emb.mean(0), np.cov(emb, rowvar=False)


def fid(real: np.ndarray, gen: np.ndarray) -> float:
    return frechet_distance(*activation_statistics(real), *activation_statistics(gen))


def diversity(emb: np.ndarray, times: int = 300, rng: np.random.Generator | None = None) -> float:
    """Mean L2 distance between ``times`` random pairs (two index sets drawn without
    replacement)."""
    emb = np.asarray(emb, dtype=np.float64)
    if len(emb) < times:
        raise ValueError(f"diversity needs at least {times} samples, got {len(emb)}")
    rng = rng or np.random.default_rng(0)
    i = rng.choice(len(emb), times, replace=False)
    j = rng.choice(len(emb), times, replace=False)
    return float(np.linalg.norm(emb[i] - emb[j], axis=1).mean())


def multimodality(emb: np.ndarray, times: int = 10, rng: np.random.Generator | None = None) -> float:
    """``emb``: (prompts, repeats, D). Mean distance between ``times`` random pairs of repeats of
    the same prompt, averaged over prompts."""
    emb = np.asarray(emb, dtype=np.float64)
    if emb.ndim != 3:
        raise ValueError(f"multimodality expects (prompts, repeats, D), got shape {emb.shape}")
    if emb.shape[1] < times:
        raise ValueError(f"multimodality needs at least {times} repeats per prompt, got {emb.shape[1]}")
    rng = rng or np.random.default_rng(0)
    i = rng.choice(emb.shape[1], times, replace=False)
    j = rng.choice(emb.shape[1], times, replace=False)
    return float(np.linalg.norm(emb[:, i] - emb[:, j], axis=-1).mean())


def mean_ci(values) -> tuple[float, float]:
    """(mean, 1.96·std/√n) with the population std (``np.std``), as the official code."""
    v = np.asarray(values, dtype=np.float64)
    if v.size == 0:
        raise ValueError("mean_ci of no values")
    return float(v.mean()), float(1.96 * v.std() / np.sqrt(v.size))


# --------------------------------------------------------------------------- physical plausibility
def _check_joints(joints: np.ndarray) -> np.ndarray:
    j = np.asarray(joints, dtype=np.float64)
    if j.ndim != 3 or j.shape[-1] != 3:
        raise ValueError(f"joints must be (T, J, 3), got {j.shape}")
    return j


def foot_skating_ratio(joints: np.ndarray, fps: float = HUMANML3D.fps, height: float = 0.05,
                       slide: float = 0.025, feet=FOOT_JOINTS) -> float:
    """Fraction of frame pairs where a foot below ``height`` m (at both frames) moves more than
    ``slide`` m horizontally (distances are per HumanML3D frame, 20 fps; other fps are rescaled)."""
    j = _check_joints(joints)
    if len(j) < 2:
        return 0.0
    f = j[:, list(feet)]  # (T, F, 3)
    low = (f[1:, :, 1] < height) & (f[:-1, :, 1] < height)
    step = np.linalg.norm(f[1:, :, [0, 2]] - f[:-1, :, [0, 2]], axis=-1) * (fps / HUMANML3D.fps)
    skate = (low & (step > slide)).any(axis=1)
    return float(skate.mean())


def jitter(joints: np.ndarray, fps: float = HUMANML3D.fps) -> float:
    """Mean jerk magnitude in m/s³: ‖x[t+3] − 3x[t+2] + 3x[t+1] − x[t]‖·fps³, averaged."""
    j = _check_joints(joints)
    if len(j) < 4:
        return 0.0
    jerk = j[3:] - 3 * j[2:-1] + 3 * j[1:-2] - j[:-3]
    return float(np.linalg.norm(jerk, axis=-1).mean() * fps ** 3)


def ground_penetration(joints: np.ndarray) -> float:
    """Mean depth (m) of the lowest joint below the floor y = 0 (0 for frames above it)."""
    low = _check_joints(joints)[:, :, 1].min(axis=1)
    return float(np.maximum(0.0, -low).mean())


def ground_float(joints: np.ndarray, contact: float = 0.05) -> float:
    """Mean height (m) of the lowest joint above the ``contact`` band (0 for frames in it)."""
    low = _check_joints(joints)[:, :, 1].min(axis=1)
    return float(np.maximum(0.0, low - contact).mean())


def physical_metrics(joints_list, fps: float = HUMANML3D.fps) -> dict[str, float]:
    """Averages of the four plausibility metrics over a list of (T, 22, 3) clips."""
    rows = [(foot_skating_ratio(j, fps), jitter(j, fps), ground_penetration(j), ground_float(j))
            for j in joints_list]
    a = np.asarray(rows, dtype=np.float64).mean(0)
    return {"skating": float(a[0]), "jitter": float(a[1]), "penetration": float(a[2]), "float": float(a[3])}
