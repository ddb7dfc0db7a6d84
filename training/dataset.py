"""torch Datasets over a HumanML3D-layout directory (ours from prepare_bvh, or real HumanML3D/KIT).

Layout::

    root/new_joint_vecs/<name>.npy   (T, 263) features (KIT: 251)
    root/new_joints/<name>.npy       (T, 22, 3) joints (optional here)
    root/texts/<name>.txt            lines ``caption#tok/POS ...#start#end`` (seconds; 0 0 = whole clip)
    root/{train,val,test,all}.txt    names, one per line
    root/Mean.npy, root/Std.npy

* :class:`MotionTextDataset` - (caption, motion, length) items like the official text-to-motion
  loaders: motions shorter than ``min_len`` or not shorter than ``max_len + unit_length`` (200
  frames for HumanML3D) are dropped, captions with start/end tags become their own sub-clip items, a random
  caption per item, the length cut to a multiple of ``unit_length`` (sometimes one unit less, as
  the official loader does), a random crop of that length, normalised, zero-padded to ``max_len``.
* :class:`MotionWindowDataset` - random ``window``-frame crops for tokenizer (VQ) training.

Both normalise with the directory's ``Mean.npy``/``Std.npy`` unless a :class:`Normalizer` is given.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from bamm_core.motion.features import Normalizer
from bamm_core.motion.timebase import HUMANML3D, KIT_ML, Timebase

from .captions import parse_text_line


def _kind(kind: str, dim: int, joints_num: int, tb: Timebase) -> dict:
    return {"kind": kind, "dim": dim, "joints_num": joints_num, "fps": tb.fps,
            "min_len": tb.default_min_frames, "max_len": tb.max_frames}


@dataclass
class Caption:
    text: str
    tokens: list[str]
    start: float = 0.0
    end: float = 0.0


def dataset_kind(root: str | Path) -> dict:
    """Guess the dataset constants from the feature size of the first motion."""
    root = Path(root)
    vec_dir = root / "new_joint_vecs"
    first = next(iter(sorted(vec_dir.glob("*.npy"))), None)
    if first is None:
        raise FileNotFoundError(f"{vec_dir} has no .npy motions")
    dim = np.load(first, mmap_mode="r").shape[-1]
    if dim == 263:
        return _kind("t2m", 263, 22, HUMANML3D)
    if dim == 251:
        return _kind("kit", 251, 21, KIT_ML)
    raise ValueError(f"{first}: feature size {dim} is neither HumanML3D's 263 nor KIT's 251")


class HumanML3DDir:
    """Reader of a HumanML3D-layout directory (names, features, joints, captions, statistics)."""

    def __init__(self, root: str | Path, fps: float | None = None):
        self.root = Path(root)
        if not (self.root / "new_joint_vecs").is_dir():
            raise FileNotFoundError(f"{self.root} is not a HumanML3D-layout folder (no new_joint_vecs/)")
        self.info = dataset_kind(self.root)
        self.fps = float(fps if fps is not None else self.info["fps"])

    @property
    def mean(self) -> np.ndarray:
        """``Mean.npy`` as float32 (D,)."""
        return np.load(self.root / "Mean.npy").astype(np.float32)

    @property
    def std(self) -> np.ndarray:
        """``Std.npy`` as float32 (D,) (the dataset's, before any model-side re-weighting)."""
        return np.load(self.root / "Std.npy").astype(np.float32)

    def names(self, split: str = "train") -> list[str]:
        f = self.root / f"{split}.txt"
        if not f.is_file():
            raise FileNotFoundError(f"no split file {f}")
        return [ln.strip() for ln in f.read_text().splitlines() if ln.strip()]

    def features(self, name: str) -> np.ndarray:
        return np.load(self.root / "new_joint_vecs" / f"{name}.npy").astype(np.float32)

    def joints(self, name: str) -> np.ndarray:
        return np.load(self.root / "new_joints" / f"{name}.npy").astype(np.float32)

    def captions(self, name: str) -> list[Caption]:
        f = self.root / "texts" / f"{name}.txt"
        if not f.is_file():
            return []
        out = []
        for line in f.read_text(encoding="utf-8", errors="replace").splitlines():
            if not line.strip():
                continue
            text, tokens, s, e = parse_text_line(line)
            out.append(Caption(text, tokens, s, e))
        return out

    def normalizer(self) -> Normalizer:
        return Normalizer.from_dir(self.root)

    def items(self, split: str, min_len: int | None = None, max_len: int | None = None) -> list[dict]:
        """One dict per (clip, caption group) of ``split``, raw (un-normalised) features.

        Keys: ``name``, ``features`` (T, D) float32 and ``captions`` (list of str).  Untagged
        captions share the whole clip; a caption with a start/end tag (seconds) becomes its own
        item on that sub-clip (``name#i``), as in HumanML3D.  Clips shorter than ``min_len``
        frames are skipped, longer ones cut to ``max_len`` (defaults: the data set's).
        """
        min_len = self.info["min_len"] if min_len is None else min_len
        max_len = self.info["max_len"] if max_len is None else max_len
        out: list[dict] = []
        for name in self.names(split):
            if not (self.root / "new_joint_vecs" / f"{name}.npy").is_file():
                continue
            feats = self.features(name)
            caps = self.captions(name)
            whole = [c.text for c in caps if c.start == 0.0 and c.end == 0.0]
            groups = [(name, feats, whole)] if whole else []
            tagged = [c for c in caps if not (c.start == 0.0 and c.end == 0.0)]
            for i, c in enumerate(tagged):
                groups.append((f"{name}#{i}", feats[int(c.start * self.fps): int(c.end * self.fps)], [c.text]))
            out.extend({"name": key, "features": f[:max_len], "captions": texts}
                       for key, f, texts in groups if len(f) >= min_len)
        return out


class _Seeded:
    """Per-process RNG: DataLoader workers each reseed from torch's per-worker seed."""

    seed: int = 0
    _rng_owner: object = None
    _rng_state: np.random.Generator | None = None

    @property
    def rng(self) -> np.random.Generator:
        info = torch.utils.data.get_worker_info()
        owner = None if info is None else (info.id, info.seed)
        if self._rng_state is None or owner != self._rng_owner:
            seed = self.seed if info is None else (self.seed * 1_000_003 + info.seed) % (2 ** 63)
            self._rng_state = np.random.default_rng(seed)
            self._rng_owner = owner
        return self._rng_state


class MotionTextDataset(_Seeded, Dataset):
    """(caption, normalised motion, length) items of one split.

    ``__getitem__`` returns a dict: ``caption`` (str), ``tokens`` (list[str]), ``motion``
    ``(max_len, D)`` float32 (zero-padded), ``length`` (int, frames), ``name`` (str).
    Randomness (caption choice, length rounding, crop) uses ``rng`` (seeded by ``seed``).
    """

    def __init__(self, root: str | Path, split: str = "train", max_len: int | None = None,
                 min_len: int | None = None, unit_length: int = HUMANML3D.frames_per_token, normalizer: Normalizer | None = None,
                 seed: int = 0, random_crop: bool = True):
        self.dir = HumanML3DDir(root)
        info = self.dir.info
        self.max_len = max_len or info["max_len"]
        self.min_len = min_len or info["min_len"]
        self.unit_length = unit_length
        self.fps = info["fps"]
        self.norm = normalizer or self.dir.normalizer()
        self.random_crop = random_crop
        self.seed = seed
        self.items: list[tuple[str, np.ndarray, list[Caption]]] = []
        self.dropped: dict[str, str] = {}
        upper = self.max_len + unit_length  # official: keep 40 <= T < 200
        for name in self.dir.names(split):
            path = self.dir.root / "new_joint_vecs" / f"{name}.npy"
            if not path.is_file():
                self.dropped[name] = "no features file"
                continue
            motion = self.dir.features(name)
            caps = self.dir.captions(name)
            whole = [c for c in caps if c.start == 0.0 and c.end == 0.0]
            for k, c in enumerate(c for c in caps if not (c.start == 0.0 and c.end == 0.0)):
                sub = motion[int(c.start * self.fps):int(c.end * self.fps)]
                if self.min_len <= len(sub) < upper:
                    self.items.append((f"{name}#{k}", sub, [c]))
            if not whole:
                if not caps:
                    self.dropped[name] = "no captions"
                continue
            if not (self.min_len <= len(motion) < upper):
                self.dropped[name] = f"length {len(motion)} outside [{self.min_len}, {upper})"
                continue
            self.items.append((name, motion, whole))
        if not self.items:
            raise ValueError(f"split {split!r} of {self.dir.root} has no usable motions "
                             f"({len(self.dropped)} dropped, e.g. {next(iter(self.dropped.items()), None)})")

    def __len__(self) -> int:
        return len(self.items)

    def lengths(self) -> np.ndarray:
        return np.array([len(m) for _, m, _ in self.items])

    def __getitem__(self, idx: int) -> dict:
        name, motion, caps = self.items[idx]
        cap = caps[int(self.rng.integers(len(caps)))] if self.random_crop else caps[0]
        T = min(len(motion), self.max_len)
        u = self.unit_length
        if self.random_crop and u < 10 and self.rng.random() < 1 / 3 and T // u > 1:
            T = (T // u - 1) * u
        else:
            T = (T // u) * u
        start = int(self.rng.integers(0, len(motion) - T + 1)) if self.random_crop else 0
        m = self.norm.normalize(motion[start:start + T]).astype(np.float32)
        padded = np.zeros((self.max_len, m.shape[1]), dtype=np.float32)
        padded[:T] = m
        return {"caption": cap.text, "tokens": cap.tokens, "motion": torch.from_numpy(padded),
                "length": T, "name": name}


def collate_motion_text(batch: list[dict]) -> dict:
    """Stack a list of :class:`MotionTextDataset` items (lengths as a LongTensor)."""
    return {
        "caption": [b["caption"] for b in batch],
        "tokens": [b["tokens"] for b in batch],
        "motion": torch.stack([b["motion"] for b in batch]),
        "length": torch.tensor([b["length"] for b in batch], dtype=torch.long),
        "name": [b["name"] for b in batch],
    }


class MotionWindowDataset(_Seeded, Dataset):
    """Random ``window``-frame crops of every motion at least ``window`` frames long (VQ training).

    One item per motion; ``__getitem__`` returns a normalised ``(window, D)`` float32 tensor.
    """

    def __init__(self, root: str | Path, split: str = "train", window: int = 64,
                 normalizer: Normalizer | None = None, seed: int = 0):
        self.dir = HumanML3DDir(root)
        self.window = window
        self.norm = normalizer or self.dir.normalizer()
        self.seed = seed
        self.motions = []
        self.names = []
        for name in self.dir.names(split):
            path = self.dir.root / "new_joint_vecs" / f"{name}.npy"
            if path.is_file():
                m = self.dir.features(name)
                if len(m) >= window:
                    self.motions.append(m)
                    self.names.append(name)
        if not self.motions:
            raise ValueError(f"no motion of split {split!r} in {self.dir.root} has {window} frames")

    def __len__(self) -> int:
        return len(self.motions)

    def __getitem__(self, idx: int) -> torch.Tensor:
        m = self.motions[idx]
        s = int(self.rng.integers(0, len(m) - self.window + 1))
        return torch.from_numpy(self.norm.normalize(m[s:s + self.window]).astype(np.float32))


__all__ = ["HumanML3DDir", "MotionTextDataset", "MotionWindowDataset", "collate_motion_text",
           "dataset_kind", "Caption"]
