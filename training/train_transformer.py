"""Train the BAMM masked transformer (``bamm_core.model.transformer.BAMMTransformer``; SPEC §3.4).

    python -m training.train_transformer --data DIR --vq runs/vq --config cpu_small --out runs/transformer

Before the first step, every training clip is encoded once with the trained VQ (eval mode) and
every caption once with the text encoder; both are cached in ``OUT`` (``tokens.pt``,
``text_cache.pt``).  Each step: a batch of clips (``DistributedSampler`` order), a random window
of at most ``max_len // frames_per_token`` layer-0 tokens of each clip, one random caption each;
the model's ``training_loss`` implements the hybrid masking (uni or bi mask with p = 0.5,
50–100 % of tokens outside U in bi batches, random-code corruption, text dropped with
``cond_drop_prob`` for CFG).  The trainer is :mod:`training.train_tokens`.
"""
from __future__ import annotations

import sys

from . import train_tokens


def main(argv: list[str] | None = None) -> dict:
    return train_tokens.main("transformer", argv, __doc__.splitlines()[0])


if __name__ == "__main__":
    main(sys.argv[1:])
