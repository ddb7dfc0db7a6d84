"""Text–motion matching model for evaluation (our stand-in for the official GloVe evaluator).

The official evaluator (SPEC §7) embeds GloVe+POS tokens with a bi-GRU and motions with a
conv + bi-GRU encoder; its weights cannot be fetched here, so we train our own on the same data,
contrastively:

- text side: a cached 384-d sentence embedding (all-MiniLM-L6-v2) → 2-layer MLP → ``emb_dim``;
- motion side: normalised features without foot contacts (``dim_pose − 4``, 259 for HumanML3D)
  → two Conv1d(k4, s2) (4× down-sampling, as the official ``MovementConvEncoder``) → bi-GRU over
  ``length // 4`` steps (packed) → both final states → Linear → ``emb_dim``;
- both embeddings are L2-normalised, so distances lie in [0, 2] (numbers are *not* on the scale
  of the paper's evaluator);
- loss: symmetric InfoNCE over the batch with temperature τ; off-diagonal pairs that share the
  exact same caption are not treated as negatives.

``EvaluatorBundle`` loads a trained checkpoint (``train_evaluator`` run dir) with its own
normalisation statistics and text encoder, and embeds raw (de-normalised) features and captions.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .checkpoints import load_checkpoint

#: Frames per motion-encoder step: two stride-2 convolutions (the official ``MovementConvEncoder``).
FRAMES_PER_STEP = 4


class TextMotionEvaluator(nn.Module):
    """Two towers mapping (text embedding) and (motion, length) into one unit sphere."""

    def __init__(self, text_dim: int = 384, dim_pose: int = 263, emb_dim: int = 512,
                 text_hidden: int = 512, motion_hidden: int = 512, dropout: float = 0.1,
                 temperature: float = 0.07):
        super().__init__()
        self.dim_pose = dim_pose
        self.temperature = temperature
        self.text_mlp = nn.Sequential(
            nn.Linear(text_dim, text_hidden), nn.GELU(), nn.Dropout(dropout),
            nn.Linear(text_hidden, emb_dim))
        d_in = dim_pose - 4
        self.motion_conv = nn.Sequential(
            nn.Conv1d(d_in, motion_hidden, 4, 2, 1), nn.Dropout(dropout), nn.LeakyReLU(0.2),
            nn.Conv1d(motion_hidden, motion_hidden, 4, 2, 1), nn.Dropout(dropout), nn.LeakyReLU(0.2))
        self.motion_gru = nn.GRU(motion_hidden, motion_hidden, batch_first=True, bidirectional=True)
        self.motion_out = nn.Sequential(nn.LayerNorm(2 * motion_hidden), nn.Linear(2 * motion_hidden, emb_dim))

    def embed_text(self, text_emb: torch.Tensor) -> torch.Tensor:
        """(B, text_dim) sentence embeddings → (B, emb_dim) unit vectors."""
        return F.normalize(self.text_mlp(text_emb), dim=-1)

    def embed_motion(self, motion: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """``motion`` (B, T, dim_pose) normalised features (foot contacts are dropped here),
        ``lengths`` (B,) valid frames → (B, emb_dim) unit vectors."""
        x = motion[..., : self.dim_pose - 4].permute(0, 2, 1)
        h = self.motion_conv(x).permute(0, 2, 1)  # (B, T//4, H)
        steps = (torch.as_tensor(lengths).cpu() // FRAMES_PER_STEP).clamp(min=1, max=h.shape[1])
        packed = nn.utils.rnn.pack_padded_sequence(h, steps, batch_first=True, enforce_sorted=False)
        _, hn = self.motion_gru(packed)  # (2, B, H)
        z = torch.cat([hn[0], hn[1]], dim=-1)
        return F.normalize(self.motion_out(z), dim=-1)

    def training_loss(self, motion: torch.Tensor, lengths: torch.Tensor,
                      text_emb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Symmetric InfoNCE; returns (loss, top-1 text→motion retrieval accuracy in batch)."""
        t = self.embed_text(text_emb)
        m = self.embed_motion(motion, lengths)
        logits = t @ m.T / self.temperature
        same = (text_emb[:, None, :] == text_emb[None, :, :]).all(-1)
        eye = torch.eye(len(t), dtype=torch.bool, device=t.device)
        logits = logits.masked_fill(same & ~eye, float("-inf"))
        target = torch.arange(len(t), device=t.device)
        loss = 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target))
        acc = (logits.argmax(1) == target).float().mean()
        return loss, acc


def pad_batch(feats: Sequence[np.ndarray], max_len: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """List of (T_i, D) arrays → zero-padded (B, T_max, D) float tensor and (B,) lengths."""
    lens = [len(f) if max_len is None else min(len(f), max_len) for f in feats]
    T = max(lens)
    out = np.zeros((len(feats), T, feats[0].shape[-1]), dtype=np.float32)
    for i, (f, n) in enumerate(zip(feats, lens)):
        out[i, :n] = f[:n]
    return torch.from_numpy(out), torch.tensor(lens, dtype=torch.long)


class EvaluatorBundle:
    """A trained evaluator plus what it needs: normalisation stats and the text encoder.

    ``motion_embeddings(features_list)`` takes raw (de-normalised) (T, D) arrays;
    ``text_embeddings(captions)`` takes strings.  Both return float64 numpy (N, emb_dim).
    """

    def __init__(self, model: TextMotionEvaluator, mean: np.ndarray, std: np.ndarray,
                 text_encoder: str = "minilm", device: str = "cpu"):
        self.model = model.eval().to(device)
        self.mean = mean.astype(np.float32)
        self.std = std.astype(np.float32)
        self.text_encoder_name = text_encoder
        self.device = device
        self._enc = None

    @classmethod
    def load(cls, path: str | Path, device: str = "cpu") -> "EvaluatorBundle":
        """``path``: a ``train_evaluator`` run dir or its ``last.pt``."""
        p = Path(path)
        if p.is_dir():
            p = p / "last.pt"
        if not p.is_file():
            raise FileNotFoundError(f"no evaluator checkpoint at {p}")
        st = load_checkpoint(p)
        model = TextMotionEvaluator(**st["arch"])
        model.load_state_dict(st["model"])
        return cls(model, st["mean"].numpy(), st["std"].numpy(), st.get("text_encoder", "minilm"), device)

    def _text_encoder(self):
        if self._enc is None:
            from .text_cache import load_text_encoder

            self._enc = load_text_encoder(self.text_encoder_name)
        return self._enc

    @torch.no_grad()
    def text_embeddings(self, captions: Sequence[str] | None = None, sentence_emb: torch.Tensor | None = None,
                        batch: int = 256) -> np.ndarray:
        if sentence_emb is None:
            enc = self._text_encoder()
            sentence_emb = torch.cat([enc(list(captions[i:i + batch])) for i in range(0, len(captions), batch)])
        return self.model.embed_text(sentence_emb.float().to(self.device)).double().cpu().numpy()

    @torch.no_grad()
    def motion_embeddings(self, features: Sequence[np.ndarray], batch: int = 64) -> np.ndarray:
        out = []
        for i in range(0, len(features), batch):
            chunk = [(np.asarray(f, dtype=np.float32) - self.mean) / self.std for f in features[i:i + batch]]
            u = FRAMES_PER_STEP
            chunk = [f[: max(u, len(f) // u * u)] for f in chunk]
            x, lens = pad_batch(chunk)
            out.append(self.model.embed_motion(x.to(self.device), lens).double().cpu().numpy())
        return np.concatenate(out)
