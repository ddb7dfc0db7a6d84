"""Caption embeddings: the engine's text encoders by name, and a cache computed once per caption.

The transformer stages and the evaluator see every caption many times; :class:`CaptionCache`
encodes each distinct caption once and keeps ``{"captions", "emb", "encoder"}`` in a file of
the run directory (``OUT/text_cache.pt``).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable, Sequence

import torch

from .checkpoints import load_checkpoint, save_checkpoint


def encoder_alias(name: str) -> str:
    """Engine encoder name for a config name (``all-MiniLM-L6-v2`` -> ``minilm``)."""
    aliases = {"all-minilm-l6-v2": "minilm", "sentence-transformers/all-minilm-l6-v2": "minilm",
               "vit-b/32": "clip"}
    return aliases.get(name.lower(), name)


def load_text_encoder(name: str = "minilm", device: str = "cpu"):
    """The engine's text encoder by name (``minilm`` = all-MiniLM-L6-v2, 384-d; ``clip``;
    ``hash``), via ``bamm_core.model.text_encoders.build_text_encoder``.  Returns a callable
    ``list[str] -> (N, D) float32 tensor``."""
    from bamm_core.model.text_encoders import build_text_encoder

    enc = build_text_encoder(encoder_alias(name), device=device)
    return lambda texts: enc.encode(list(texts)).float().cpu()


class CaptionCache:
    """Sentence embeddings, one per distinct caption, computed once and stored in
    ``path`` (a ``{"captions": [...], "emb": (N, D) tensor}`` file)."""

    def __init__(self, path: str | os.PathLike, encoder_name: str = "minilm"):
        self.path = Path(path)
        self.encoder_name = encoder_name
        self.index: dict[str, int] = {}
        self.emb = torch.zeros(0, 0)
        if self.path.is_file():
            d = load_checkpoint(self.path)
            if d.get("encoder") == encoder_name:
                self.index = {c: i for i, c in enumerate(d["captions"])}
                self.emb = d["emb"]

    def ensure(self, captions: Iterable[str], batch: int = 256) -> None:
        missing = sorted({c for c in captions if c not in self.index})
        if not missing:
            return
        enc = load_text_encoder(self.encoder_name)
        new = [enc(missing[i:i + batch]) for i in range(0, len(missing), batch)]
        new_emb = torch.cat(new).float()
        self.emb = new_emb if self.emb.numel() == 0 else torch.cat([self.emb, new_emb])
        for c in missing:
            self.index[c] = len(self.index)
        caps = sorted(self.index, key=self.index.get)
        save_checkpoint(self.path, {"encoder": self.encoder_name, "captions": caps, "emb": self.emb})

    def __call__(self, captions: Sequence[str]) -> torch.Tensor:
        return self.emb[[self.index[c] for c in captions]]


__all__ = ["encoder_alias", "load_text_encoder", "CaptionCache"]
