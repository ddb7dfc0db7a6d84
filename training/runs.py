"""The trained stages of a runs folder (``RUNS/{vq,transformer,residual}/last.pt``), loaded once
for export (:mod:`training.export_model`) and evaluation (:mod:`training.evaluate`)."""
from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from torch import nn

from bamm_core.motion.timebase import Timebase

from .config import run_timebase
from .train_tokens import load_token_model
from .train_vq import codes_step, load_vq

STAGES = ("vq", "transformer", "residual")


@dataclass
class TrainedRuns:
    """The three networks in eval mode and their checkpoints (``arch``, ``step``, ...)."""

    vq: nn.Module
    transformer: nn.Module
    residual: nn.Module
    vq_state: dict
    transformer_state: dict
    residual_state: dict

    @property
    def dataset(self) -> dict:
        """The preset's ``dataset`` section the VQ was trained with."""
        return self.vq_state.get("dataset", {})

    @property
    def timebase(self) -> Timebase:
        return run_timebase(self.dataset, self.vq_state["arch"])


def load_runs(runs: str | Path, device="cpu") -> TrainedRuns:
    """Load ``RUNS/{vq,transformer,residual}/last.pt``; FileNotFoundError naming a missing one,
    a warning when a transformer was trained on tokens of another VQ step."""
    runs = Path(runs)
    for sub in STAGES:
        if not (runs / sub / "last.pt").is_file():
            raise FileNotFoundError(f"missing {runs / sub / 'last.pt'} (run training.train_{sub} first)")
    vq, vst = load_vq(runs / "vq", device)
    models = {}
    for sub in STAGES[1:]:
        models[sub] = load_token_model(runs / sub / "last.pt", sub, device)
        st = models[sub][1]
        if int(st.get("vq_step", -1)) != codes_step(vst):
            print(f"warning: {sub} was trained on tokens of VQ step {st.get('vq_step')}, "
                  f"the VQ checkpoint's codes are those of step {codes_step(vst)}", file=sys.stderr)
    (mt, tst), (rt, rst) = models["transformer"], models["residual"]
    return TrainedRuns(vq, mt, rt, vst, tst, rst)


__all__ = ["TrainedRuns", "load_runs", "STAGES"]
