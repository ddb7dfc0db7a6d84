"""Synthetic SMPL / SMPL-H / SMPL-X model files in the real layout (array names, shapes,
dtypes; ``.pkl`` with a SciPy sparse J_regressor, ``.npz`` with SMPL-X's extra arrays and an
object array) with a capsule body around a T-pose skeleton and random shape/pose bases.

The licensed model files are never needed: these have a few hundred vertices instead of
6890 / 10475 but are read the same way.
"""
from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

from bamm_core.rigs.rest_pose import PARENTS, smpl_rest_joints

RING = 8


def model_parents(kind: str) -> np.ndarray:
    """SMPL's kintree: 22 body joints, then hands (SMPL), fingers (SMPL-H), jaw/eyes + fingers (SMPL-X)."""
    extra: list[int] = [20, 21] if kind == "smpl" else [15, 15, 15] if kind == "smplx" else []
    if kind != "smpl":
        for wrist in (20, 21):
            for _finger in range(5):
                first = 22 + len(extra)
                extra += [wrist, first, first + 1]
    return np.concatenate([PARENTS, np.array(extra, dtype=np.int64)])


def model_joints(parents: np.ndarray, seed: int = 0) -> np.ndarray:
    """A T-pose unlike the armature's: 0.93 the size, arms 12 degrees down, pelvis at the origin."""
    x = smpl_rest_joints("A", arm_angle=12.0) * 0.93
    x -= x[0]
    rng = np.random.default_rng(seed)
    out = np.zeros((len(parents), 3))
    out[:22] = x + rng.normal(0, 0.005, x.shape)
    for k in range(22, len(parents)):
        p = parents[k]
        d = out[p] - out[parents[p]] if parents[p] >= 0 else np.array([0, 1.0, 0])
        out[k] = out[p] + d / np.linalg.norm(d) * 0.03 + rng.normal(0, 0.004, 3)
    return out


def _ring(a: np.ndarray, b: np.ndarray, t: float, radius: float, ring: int = RING) -> np.ndarray:
    d = (b - a) / np.linalg.norm(b - a)
    u = np.cross(d, [0.0, 0.0, 1.0] if abs(d[2]) < 0.9 else [1.0, 0.0, 0.0])
    u /= np.linalg.norm(u)
    w = np.cross(d, u)
    ang = np.linspace(0, 2 * np.pi, ring, endpoint=False)
    return a + (b - a) * t + radius * (np.cos(ang)[:, None] * u + np.sin(ang)[:, None] * w)


def model_arrays(kind: str = "smpl", seed: int = 0, num_betas: int = 10, ring: int = RING) -> dict:
    """The model's arrays: v_template, shapedirs, posedirs, J_regressor, weights, kintree_table, f
    (``ring`` vertices around each end of a bone's capsule: 96 for SMPL-X's vertex count)."""
    parents = model_parents(kind)
    k = len(parents)
    joints = model_joints(parents, seed)
    verts, weights, faces, jreg = [], [], [], np.zeros((k, 0))
    rows: list[tuple[int, int]] = []
    for j in range(k):  # two vertices per joint, the joint is their mean
        off = np.array([0.01, 0.0, 0.0])
        rows.append((j, len(verts)))
        verts += [joints[j] + off, joints[j] - off]
        weights += [np.eye(k)[j], np.eye(k)[j]]
    for j in range(1, k):  # a capsule per bone: two rings, the segment belongs to the parent joint
        p, gp = parents[j], parents[parents[j]]
        radius = 0.05 if j < 22 else 0.008
        start = len(verts)
        for t, wp, wo in ((0.15, 0.8, gp), (0.85, 0.6, j)):
            w = np.zeros(k)
            w[p] += wp
            w[wo if wo >= 0 else p] += 1 - wp
            for v in _ring(joints[p], joints[j], t, radius, ring):
                verts.append(v)
                weights.append(w)
        for i in range(ring):
            a, b = start + i, start + (i + 1) % ring
            faces += [(a, b, b + ring), (a, b + ring, a + ring)]
        faces += [(start, start + i + 1, start + i) for i in range(1, ring - 1)]  # closed, consistently wound
        faces += [(start + ring, start + ring + i, start + ring + i + 1) for i in range(1, ring - 1)]
    v = np.array(verts)
    jreg = np.zeros((k, len(v)))
    for j, i in rows:
        jreg[j, i] = jreg[j, i + 1] = 0.5
    rng = np.random.default_rng(seed + 1)
    kintree = np.stack([parents, np.arange(k)]).astype(np.int64)
    kintree[0, 0] = 4294967295  # as in the released files
    return dict(v_template=v, shapedirs=rng.normal(0, 0.01, (len(v), 3, num_betas)),
                posedirs=rng.normal(0, 0.001, (len(v), 3, 9 * (k - 1))), J_regressor=jreg,
                weights=np.array(weights), kintree_table=kintree, f=np.array(faces, dtype=np.uint32))


def write_model(folder: Path, kind: str = "smpl", ext: str = "npz", gender: str = "neutral", **kw) -> Path:
    """Write a synthetic model file named like the released ones (SMPL_NEUTRAL.pkl, SMPLX_MALE.npz)."""
    d = model_arrays(kind, num_betas=20 if kind == "smplx" else 10, **kw)
    Path(folder).mkdir(parents=True, exist_ok=True)
    path = Path(folder) / f"{kind.upper()}_{gender.upper()}.{ext}"
    if kind == "smplx":
        d.update(hands_componentsl=np.eye(45), hands_componentsr=np.eye(45), hands_meanl=np.zeros(45),
                 hands_meanr=np.zeros(45), lmk_faces_idx=np.zeros(51, np.int64),
                 lmk_bary_coords=np.full((51, 3), 1 / 3), part2num=np.array({"body": 0}, dtype=object))
    if ext == "npz":
        np.savez(path, **d)
    else:
        import scipy.sparse

        d["J_regressor"] = scipy.sparse.csc_matrix(d["J_regressor"])
        with open(path, "wb") as f:
            pickle.dump(d, f, protocol=2)
    return path
