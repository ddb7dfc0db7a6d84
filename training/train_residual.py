"""Train the residual transformer (``bamm_core.model.residual_transformer.ResidualTransformer``; SPEC §4).

    python -m training.train_residual --data DIR --vq runs/vq --config cpu_small --out runs/residual

Shares the token and caption caches of ``train_transformer`` (same ``OUT`` layout: ``tokens.pt``,
``text_cache.pt``).  Each step: a batch of clips, a random window of at most
``max_len // frames_per_token`` tokens with all Q quantizer layers, one random caption each; the
model's ``training_loss`` draws the active layer ``q`` per sample (cosine schedule favouring low
layers), sums the ground-truth embeddings of layers < q and predicts layer q (text dropped with
``cond_drop_prob`` for CFG).  The trainer is :mod:`training.train_tokens`.
"""
from __future__ import annotations

import sys

from . import train_tokens


def main(argv: list[str] | None = None) -> dict:
    return train_tokens.main("residual", argv, __doc__.splitlines()[0])


if __name__ == "__main__":
    main(sys.argv[1:])
