"""The judge's motion classifier: a small 1-D conv net over :mod:`.joint_features`.

Saved as a ``state_dict`` (float16) plus its metadata (classes, width, input size, feature
version, feature mean/std) in one ``torch.save`` file, loaded with ``weights_only=True`` (no
pickled code runs).  :meth:`Judge.embed` gives the pooled penultimate features, the space
the judge's FID (:mod:`.frechet`) is measured in.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from .joint_features import DIM, FRAMES, VERSION, fit_length, joint_features


class MotionClassifier(nn.Module):
    """(B, T, DIM) normalised features -> (B, classes) logits.

    Two branches: 1-D convolutions pooled over time (mean and max), and with ``summary`` a
    layer over the window's per-feature mean, std, max and min (the clip's overall posture,
    how much and how far each part moves: what tells a few-take class apart, e.g. a guiding
    arm's reach from a waving one)."""

    def __init__(self, num_classes: int, width: int = 96, dim: int = DIM, summary: bool = True,
                 num_groups: int = 0):
        super().__init__()
        self.num_classes, self.width, self.dim, self.summary = num_classes, width, dim, summary
        self.net = nn.Sequential(
            nn.Conv1d(dim, width, 5, padding=2), nn.GELU(),
            nn.Conv1d(width, width, 5, padding=2, stride=2), nn.GELU(),
            nn.Conv1d(width, width, 5, padding=2, stride=2), nn.GELU(),
            nn.Dropout(0.2))
        self.stats = nn.Sequential(nn.Linear(4 * dim, width), nn.GELU(), nn.Dropout(0.2)) \
            if summary else None
        self.embed_size = (3 if summary else 2) * width
        self.head = nn.Linear(self.embed_size, num_classes)
        self.group_head = nn.Linear(self.embed_size, num_groups) if num_groups else None

    def pooled(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T, dim) -> (B, embed_size): the conv layers' mean and max over time (and the
        summary branch)."""
        h = self.net(x.transpose(1, 2))
        parts = [h.mean(-1), h.amax(-1)]
        if self.stats is not None:
            parts.append(self.stats(torch.cat([x.mean(1), x.std(1), x.amax(1), x.amin(1)], 1)))
        return torch.cat(parts, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.pooled(x))

    def scores(self, x: torch.Tensor, class_groups: torch.Tensor | None) -> torch.Tensor:
        """(B, classes) log-probabilities; with a group head, each class's also adds the log
        of the probability that the window comes from a group (source recording set) the
        class was recorded in (``class_groups`` (classes, groups) bool)."""
        p = self.pooled(x)
        out = torch.log_softmax(self.head(p), -1)
        if self.group_head is None or class_groups is None:
            return out
        lg = torch.log_softmax(self.group_head(p), -1)[:, None, :]
        allowed = torch.where(class_groups, 0.0, float("-inf"))[None]
        return out + torch.logsumexp(lg + allowed, -1)


class Judge:
    """A trained classifier with its classes and feature statistics."""

    def __init__(self, model: MotionClassifier, classes: list[str], mean: np.ndarray,
                 std: np.ndarray, fps: float = 20.0, groups: list[str] | None = None,
                 class_groups: np.ndarray | None = None):
        self.model, self.classes = model.eval(), list(classes)
        self.mean, self.std, self.fps = mean.astype(np.float32), std.astype(np.float32), fps
        self.groups = list(groups or [])
        self.class_groups = (None if class_groups is None
                             else torch.as_tensor(class_groups, dtype=torch.bool))

    def inputs(self, joints) -> torch.Tensor:
        """(WINDOWS, FRAMES, DIM) normalised windows of one clip: its start, centre and end."""
        f = joint_features(joints, self.fps)
        last = max(len(f) - FRAMES, 0)
        x = np.stack([fit_length(f, FRAMES, s) for s in (0, last // 2, last)])
        return torch.from_numpy((x - self.mean) / self.std)

    @torch.no_grad()
    def _per_clip(self, fn, joints_list, size: int) -> torch.Tensor:
        """``fn`` of every window, averaged over each clip's windows: (N, size)."""
        out = []
        for s in range(0, len(joints_list), 64):
            x = torch.stack([self.inputs(j) for j in joints_list[s:s + 64]])  # (B, W, T, D)
            out.append(fn(x.flatten(0, 1)).view(x.shape[0], x.shape[1], -1).mean(1))
        return torch.cat(out) if out else torch.zeros(0, size)

    def logits(self, joints_list) -> torch.Tensor:
        """(N, classes) class scores (log-probabilities, :meth:`MotionClassifier.scores`) of
        ``(T, 22, 3)`` clips, averaged over each clip's windows."""
        return self._per_clip(lambda x: self.model.scores(x, self.class_groups), joints_list,
                              len(self.classes))

    def predict(self, joints_list) -> list[str]:
        """Class name of each ``(T, 22, 3)`` clip (logits averaged over its windows)."""
        return [self.classes[i] for i in self.logits(joints_list).argmax(1).tolist()]

    def embed(self, joints_list) -> np.ndarray:
        """(N, embed_size) pooled penultimate features of each clip, averaged over its windows."""
        e = self._per_clip(self.model.pooled, joints_list, self.model.embed_size)
        return e.numpy().astype(np.float64)

    def save(self, path: str | Path) -> None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        state = {k: v.half() for k, v in self.model.state_dict().items()}
        torch.save({"state": state, "classes": self.classes, "width": self.model.width,
                    "dim": self.model.dim, "summary": self.model.summary, "features": VERSION,
                    "mean": torch.from_numpy(self.mean), "std": torch.from_numpy(self.std),
                    "fps": float(self.fps), "groups": self.groups,
                    "class_groups": (torch.zeros(0, dtype=torch.bool) if self.class_groups is None
                                     else self.class_groups)}, path)

    @classmethod
    def load(cls, path: str | Path) -> "Judge":
        blob = torch.load(Path(path), map_location="cpu", weights_only=True)
        version = int(blob.get("features", 1))
        if version != VERSION:
            raise ValueError(f"{path}: classifier made for joint features v{version}, "
                             f"this code computes v{VERSION}: retrain it (train_classifier)")
        groups = list(blob.get("groups", []))
        model = MotionClassifier(len(blob["classes"]), int(blob["width"]), int(blob["dim"]),
                                 bool(blob.get("summary", False)), len(groups))
        model.load_state_dict({k: v.float() for k, v in blob["state"].items()})
        class_groups = blob["class_groups"] if groups else None
        return cls(model, blob["classes"], blob["mean"].numpy(), blob["std"].numpy(),
                   float(blob["fps"]), groups, class_groups)


__all__ = ["MotionClassifier", "Judge"]
