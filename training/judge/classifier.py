"""The judge's motion classifier: a small 1-D conv net over :mod:`.joint_features`.

Saved as a ``state_dict`` plus its metadata (classes, feature mean/std) in one ``torch.save``
file, loaded with ``weights_only=True`` (no pickled code runs).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from .joint_features import DIM, FRAMES, fit_length, joint_features


class MotionClassifier(nn.Module):
    """(B, T, DIM) normalised features -> (B, classes) logits."""

    def __init__(self, num_classes: int, width: int = 96, dim: int = DIM):
        super().__init__()
        self.num_classes, self.width, self.dim = num_classes, width, dim
        self.net = nn.Sequential(
            nn.Conv1d(dim, width, 5, padding=2), nn.GELU(),
            nn.Conv1d(width, width, 5, padding=2, stride=2), nn.GELU(),
            nn.Conv1d(width, width, 5, padding=2, stride=2), nn.GELU(),
            nn.Dropout(0.2))
        self.head = nn.Linear(2 * width, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.net(x.transpose(1, 2))
        return self.head(torch.cat([h.mean(-1), h.amax(-1)], 1))


class Judge:
    """A trained classifier with its classes and feature statistics."""

    def __init__(self, model: MotionClassifier, classes: list[str], mean: np.ndarray,
                 std: np.ndarray, fps: float = 20.0):
        self.model, self.classes = model.eval(), list(classes)
        self.mean, self.std, self.fps = mean.astype(np.float32), std.astype(np.float32), fps

    def inputs(self, joints) -> torch.Tensor:
        """(WINDOWS, FRAMES, DIM) normalised windows of one clip: its start, centre and end."""
        f = joint_features(joints, self.fps)
        last = max(len(f) - FRAMES, 0)
        x = np.stack([fit_length(f, FRAMES, s) for s in (0, last // 2, last)])
        return torch.from_numpy((x - self.mean) / self.std)

    @torch.no_grad()
    def predict(self, joints_list) -> list[str]:
        """Class name of each ``(T, 22, 3)`` clip (logits averaged over its windows)."""
        if not len(joints_list):
            return []
        x = torch.stack([self.inputs(j) for j in joints_list])  # (B, W, T, D)
        logits = self.model(x.flatten(0, 1)).view(x.shape[0], x.shape[1], -1).mean(1)
        return [self.classes[i] for i in logits.argmax(1).tolist()]

    def save(self, path: str | Path) -> None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        state = {k: v.half() for k, v in self.model.state_dict().items()}
        torch.save({"state": state, "classes": self.classes, "width": self.model.width,
                    "mean": torch.from_numpy(self.mean), "std": torch.from_numpy(self.std),
                    "fps": float(self.fps)}, path)

    @classmethod
    def load(cls, path: str | Path) -> "Judge":
        blob = torch.load(Path(path), map_location="cpu", weights_only=True)
        model = MotionClassifier(len(blob["classes"]), int(blob["width"]))
        model.load_state_dict({k: v.float() for k, v in blob["state"].items()})
        return cls(model, blob["classes"], blob["mean"].numpy(), blob["std"].numpy(),
                   float(blob["fps"]))


__all__ = ["MotionClassifier", "Judge"]
