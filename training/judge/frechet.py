"""Fréchet distance between two sets of embeddings (the judge's FID, on :meth:`Judge.embed`).

``d² = |mu_a - mu_b|² + tr(S_a + S_b - 2 (S_a S_b)^½)`` for the sets' means ``mu`` and
covariances ``S``.  With fewer clips than embedding dimensions the covariances are singular,
so the matrix square root is taken through symmetric eigendecompositions instead of a general
``sqrtm``: ``tr (S_a S_b)^½ = tr (A S_b A)^½`` with ``A = S_a^½`` (both symmetric positive
semi-definite, negative rounding-error eigenvalues clipped to 0).  The result is never negative
and is 0 for identical sets.  Small sets bias the distance upwards, so compare a row only with
a real-vs-real floor measured on as many clips.
"""
from __future__ import annotations

import numpy as np


def _psd_sqrt(s: np.ndarray) -> np.ndarray:
    """Square root of a symmetric positive semi-definite matrix."""
    w, v = np.linalg.eigh((s + s.T) / 2)
    return (v * np.sqrt(np.clip(w, 0, None))) @ v.T


def statistics(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean ``(E,)`` and covariance ``(E, E)`` of ``(N, E)`` embeddings (N >= 2)."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or len(x) < 2:
        raise ValueError(f"need (N >= 2, E) embeddings, got {x.shape}")
    return x.mean(0), np.cov(x, rowvar=False)


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Fréchet distance (squared, as FID is reported) between embedding sets ``a`` and ``b``
    (``(N, E)`` and ``(M, E)``)."""
    mu_a, s_a = statistics(a)
    mu_b, s_b = statistics(b)
    root_a = _psd_sqrt(s_a)
    cross = np.linalg.eigvalsh(root_a @ s_b @ root_a)
    trace_cross = np.sqrt(np.clip(cross, 0, None)).sum()
    d = float(((mu_a - mu_b) ** 2).sum() + np.trace(s_a) + np.trace(s_b) - 2 * trace_cross)
    return max(d, 0.0)


__all__ = ["frechet_distance", "statistics"]
