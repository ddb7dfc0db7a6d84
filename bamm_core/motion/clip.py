"""A motion clip: the one value the engine returns and the file formats read and write.

Joints always; features and tokens when a model made or tokenised the clip (``None`` for a
motion read from joints-only files); the prompt, the frame rate and how it was made.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class Motion:
    """A motion clip at the model's frame rate (``fps``, from the engine's timebase).

    Attributes:
        joints: (T, 22, 3) float32 joint positions (metres, Y up).  Generated motions
            start at the origin facing +Z; edited motions stay in their input's space.
        features: (T, 263) de-normalised HumanML3D features (row t describes frames
            t -> t+1; for motions read from joints the last row is repeated), or None.
        tokens: (ceil(T / frames_per_token), 6) int64 RVQ codes (-1 = no code), or None.
        text: the prompt (if any).
        fps: frames per second (``Engine.timebase.fps``).
        transform: for motions made by :meth:`Engine.motion_from_joints`, the
            ``bamm_core.motion.features.Transform`` from the input's space to the canonical one.
        info: how it was made (seed, sample index, options, edited range ...).
        raw_joints: (T, 22, 3) the joints as the model predicted them, before the engine
            planted the feet (for an edit: this call's output before planting), or None.
        contacts: (T, 2) bool foot contacts (left, right foot) the feet were planted with
            (``bamm_core.motion.contacts.motion_contacts``), or None.
    """

    joints: np.ndarray
    features: np.ndarray | None
    tokens: np.ndarray | None
    text: str | None
    fps: float
    transform: Any = None
    info: dict = field(default_factory=dict)
    raw_joints: np.ndarray | None = None
    contacts: np.ndarray | None = None

    @property
    def num_frames(self) -> int:
        return int(self.joints.shape[0])

    @property
    def seconds(self) -> float:
        return self.num_frames / float(self.fps)

    @property
    def seed(self) -> int | None:
        """The seed it was generated or edited with (``info["seed"]``), if any."""
        seed = self.info.get("seed")
        return None if seed is None else int(seed)

    def __repr__(self) -> str:
        tokens = "no" if self.tokens is None else self.tokens.shape[0]
        return (f"Motion({self.num_frames} frames @ {self.fps:g} fps, "
                f"{tokens} tokens, text={self.text!r})")


__all__ = ["Motion"]
