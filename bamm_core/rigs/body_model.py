"""SMPL / SMPL-H / SMPL-X body model files, read through the ``smplx`` package (optional).

The model files are licensed by their authors (https://smpl.is.tue.mpg.de,
https://smpl-x.is.tue.mpg.de) and never bundled: the user points at their own ``.npz`` or
``.pkl`` (a file, or a folder holding one file per gender).  Files are read without running
code from them (``.npz`` with ``allow_pickle=False``, ``.pkl`` through an unpickler that only
builds NumPy/SciPy arrays; SMPL 1.0's chumpy arrays are read as their values), checked
(array names, shapes, the 22 body joints' hierarchy) and handed to ``smplx``'s model class,
which shapes the body from the betas.

:func:`load_body_model` -> :class:`BodyModel` (the shaped rest mesh in the model's own space:
Y up, facing +Z, metres; all of the model's joints and skinning weights).
"""
from __future__ import annotations

import contextlib
import io
import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .rest_pose import PARENTS

#: joint counts of the supported models
MODEL_KINDS = {24: "SMPL", 52: "SMPL-H", 55: "SMPL-X"}
GENDERS = ("neutral", "male", "female")
EXTENSIONS = (".npz", ".pkl")
REQUIRED_KEYS = ("v_template", "shapedirs", "posedirs", "J_regressor", "weights", "kintree_table", "f")
WHERE_TO_GET = ("SMPL: https://smpl.is.tue.mpg.de, SMPL-X: https://smpl-x.is.tue.mpg.de "
                "(free registration; the files' licenses are their authors')")
INSTALL_HINT = "pip install 'bamm-motion[smplx]' (or: pip install smplx)"


class BodyModelError(ValueError):
    """A body model file cannot be used; the message says which file and why."""


@dataclass
class BodyModel:
    """A shaped body in the model's space: vertices (V, 3), faces (F, 3), joints (K, 3),
    parents (K,) (-1 for the root), weights (V, K); kind "SMPL" | "SMPL-H" | "SMPL-X"."""

    vertices: np.ndarray
    faces: np.ndarray
    joints: np.ndarray
    parents: np.ndarray
    weights: np.ndarray
    kind: str
    gender: str
    path: str


def require_smplx():
    """The ``smplx`` module, or BodyModelError naming the extra to install."""
    try:
        import smplx  # noqa: PLC0415 - optional dependency
    except ImportError as e:
        raise BodyModelError(f"bodies need the optional smplx package ({e}); install it: {INSTALL_HINT}") from None
    return smplx


def _gender_of(name: str) -> str | None:
    n = name.lower()
    if "female" in n or n.startswith("basicmodel_f_"):
        return "female"
    if "neutral" in n:
        return "neutral"
    if "male" in n or n.startswith("basicmodel_m_"):
        return "male"
    return None


def find_model_file(path: str | Path, gender: str = "neutral") -> Path:
    """``path`` itself if it is a file; in a folder (and its sub-folders, e.g. ``smplx/``) the
    model file for ``gender`` (``SMPLX_NEUTRAL.npz``, ``SMPL_MALE.pkl``, ``basicmodel_f_...``)."""
    if gender not in GENDERS:
        raise BodyModelError(f"gender must be one of {', '.join(GENDERS)}, not {gender!r}")
    p = Path(str(path)).expanduser()
    if not str(path):
        raise BodyModelError(f"no body model file given; download SMPL or SMPL-X ({WHERE_TO_GET}) "
                             "and set its path")
    if p.is_file():
        return p
    if not p.is_dir():
        raise BodyModelError(f"body model file not found: {str(p)!r}")
    found = sorted(f for f in p.rglob("*") if f.suffix.lower() in EXTENSIONS and _gender_of(f.name) == gender)
    if not found:
        raise BodyModelError(f"no {gender} SMPL/SMPL-X model file (.npz/.pkl) in {str(p)!r}")
    return sorted(found, key=lambda f: ("smplx" not in f.name.lower(), len(f.parts), f.name))[0]


_SAFE_GLOBALS = {("builtins", "object"), ("builtins", "slice"), ("builtins", "set"), ("builtins", "frozenset"),
                 ("_codecs", "encode"), ("copyreg", "_reconstructor"), ("copy_reg", "_reconstructor")}


class _ArrayUnpickler(pickle.Unpickler):
    """Builds only NumPy arrays, SciPy sparse matrices and chumpy arrays (as their values)."""

    def find_class(self, module: str, name: str):
        if module.split(".")[0] == "chumpy":
            return _ChumpyValue
        if module.split(".")[0] == "numpy" or (module.startswith("scipy.sparse") and name.endswith("_matrix")):
            return super().find_class(module, name)
        if (module, name) in _SAFE_GLOBALS:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name} (not an array)")


class _ChumpyValue:
    """Stand-in for chumpy's arrays (SMPL 1.0 ``.pkl``): keeps the value ``x`` of a Ch."""

    def __init__(self, *args, **kwargs) -> None:
        self.state = {}

    def __setstate__(self, state) -> None:
        self.state = state if isinstance(state, dict) else {}

    def value(self) -> np.ndarray:
        if "x" not in self.state:
            raise BodyModelError("the .pkl stores a computed chumpy expression; re-save the model as .npz "
                                 "(e.g. with the smplx repository's tools) or use the SMPL 1.1 / SMPL-X files")
        return np.asarray(self.state["x"])


def _read_arrays(path: Path) -> dict:
    ext = path.suffix.lower()
    if ext not in EXTENSIONS:
        raise BodyModelError(f"{path.name!r} is not an SMPL/SMPL-X model file (.npz or .pkl)")
    try:
        if ext == ".npz":
            with np.load(path, allow_pickle=False) as z:
                return {k: z[k] for k in REQUIRED_KEYS if k in z.files}
        with open(path, "rb") as f:
            data = _ArrayUnpickler(f, encoding="latin1").load()
    except BodyModelError:
        raise
    except Exception as e:  # noqa: BLE001 - any reading failure is a corrupt/foreign file
        raise BodyModelError(f"cannot read {path.name!r} as an SMPL/SMPL-X model: {type(e).__name__}: {e}") from None
    if not isinstance(data, dict):
        raise BodyModelError(f"{path.name!r} is not an SMPL/SMPL-X model (holds a {type(data).__name__})")
    return {k: (v.value() if isinstance(v, _ChumpyValue) else v) for k, v in data.items() if k in REQUIRED_KEYS}


def _dense(a) -> np.ndarray:
    return np.asarray(a.toarray() if hasattr(a, "toarray") else a)


def check_arrays(data: dict, name: str) -> dict:
    """The model's arrays (dense) if names and shapes fit together, else BodyModelError."""
    missing = [k for k in REQUIRED_KEYS if k not in data]
    if missing:
        raise BodyModelError(f"{name!r} is not an SMPL/SMPL-X model: it lacks {', '.join(missing)}")
    d = {k: _dense(data[k]) for k in REQUIRED_KEYS}
    v, w, jr, kt = d["v_template"], d["weights"], d["J_regressor"], d["kintree_table"]
    if v.ndim != 2 or v.shape[1] != 3 or len(v) < 3:
        raise BodyModelError(f"{name!r}: v_template must be (V, 3), got {v.shape}")
    k = w.shape[1] if w.ndim == 2 else -1
    if k not in MODEL_KINDS:
        raise BodyModelError(f"{name!r}: {k} joints; SMPL has 24, SMPL-H 52, SMPL-X 55 (weights {w.shape})")
    shapes = {"weights": (w.shape, (len(v), k)), "J_regressor": (jr.shape, (k, len(v))),
              "kintree_table": (kt.shape, (2, k)),
              "shapedirs": (d["shapedirs"].shape[:2], (len(v), 3)), "posedirs": (d["posedirs"].shape[:2], (len(v), 3))}
    for key, (got, want) in shapes.items():
        if tuple(got) != want:
            raise BodyModelError(f"{name!r}: {key} has shape {tuple(got)}, expected {want} for {len(v)} vertices "
                                 f"and {k} joints")
    if d["shapedirs"].ndim != 3 or d["posedirs"].ndim != 3:
        raise BodyModelError(f"{name!r}: shapedirs and posedirs must be (V, 3, N)")
    f = d["f"]
    if f.ndim != 2 or f.shape[1] != 3 or f.size == 0 or f.min() < 0 or f.max() >= len(v):
        raise BodyModelError(f"{name!r}: faces f must be (F, 3) vertex indices below {len(v)}")
    parents = kt[0].astype(np.int64)
    parents[0] = -1
    if not np.array_equal(parents[:22], PARENTS) or np.any(parents[22:] >= np.arange(22, k)):
        raise BodyModelError(f"{name!r}: the joint hierarchy (kintree_table) is not SMPL's body hierarchy")
    if not np.all(np.isfinite(v)) or not np.all(np.isfinite(w)):
        raise BodyModelError(f"{name!r}: vertices or weights hold NaN/inf")
    d["kintree_table"] = np.stack([parents, np.arange(k)])
    return d


def load_body_model(path: str | Path, gender: str = "neutral", betas=None) -> BodyModel:
    """Read ``path`` (file or folder, see :func:`find_model_file`) and shape it from ``betas``
    (the first shape coefficients; the rest zero) with ``smplx``.  Raises BodyModelError."""
    file = find_model_file(path, gender)
    smplx = require_smplx()
    import torch  # noqa: PLC0415 - smplx is torch-based

    d = check_arrays(_read_arrays(file), file.name)
    betas = np.zeros(0) if betas is None else np.asarray(betas, np.float32).ravel()
    num_betas = max(1, min(len(betas), d["shapedirs"].shape[2]))
    with contextlib.redirect_stdout(io.StringIO()):  # smplx prints warnings about shape spaces
        model = smplx.SMPL("", data_struct=smplx.utils.Struct(**d), num_betas=num_betas, gender=gender,
                           create_global_orient=False, create_body_pose=False, create_transl=False)
    b = torch.zeros(1, model.num_betas)
    n = min(len(betas), model.num_betas)
    b[0, :n] = torch.as_tensor(betas[:n])
    with torch.no_grad():
        vertices = model.forward_shape(betas=b).v_shaped
        joints = smplx.lbs.vertices2joints(model.J_regressor, vertices)
    return BodyModel(vertices=vertices[0].double().numpy(), faces=np.asarray(d["f"], np.int64),
                     joints=joints[0].double().numpy(), parents=model.parents.numpy().astype(np.int64),
                     weights=model.lbs_weights.double().numpy(), kind=MODEL_KINDS[len(d["weights"][0])],
                     gender=gender, path=str(file))


__all__ = ["BodyModel", "BodyModelError", "GENDERS", "MODEL_KINDS", "WHERE_TO_GET", "INSTALL_HINT",
           "find_model_file", "check_arrays", "load_body_model", "require_smplx"]
