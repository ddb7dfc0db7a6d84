"""Sampling options: every knob of a generation or edit, with its default, in one value.

>>> opts = SamplingOptions(cfg=5.0)                  # defaults for everything else
>>> opts.replace(refine="none").refine
'none'

Front ends (add-on, CLI, jobs files, evaluation) build one :class:`SamplingOptions` from
their inputs and pass it on unchanged; a model folder's ``config.json`` may carry its own
defaults under ``"decoding"`` (:meth:`SamplingOptions.from_config`).  The refinement
strategies are the registry :data:`bamm_core.generation.refinement.STRATEGIES`.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from .refinement import STRATEGIES


@dataclass(frozen=True)
class SamplingOptions:
    """cfg: classifier-free guidance of the autoregressive round (and of inpaint/outpaint);
    refine_cfg: guidance of the refinement rounds; residual_cfg: guidance of the residual
    transformer; temperature: layer-0 sampling temperature (0 = argmax); top_k: keep the
    k most likely codes (None = all); refine / refine_rounds: refinement strategy (a key of
    ``STRATEGIES``) and its rounds; min_length: with a predicted length, at least this many
    frames (None = the model's timebase default, 2 s); prompt_snap: how far a prompt's text
    embedding is moved toward the nearest caption the model was trained on (0 = the prompt as
    typed, 1 = that caption; only for models with a caption index, see
    :mod:`~bamm_core.generation.understanding`)."""

    cfg: float = 4.0
    refine_cfg: float = 3.0
    residual_cfg: float = 5.0
    temperature: float = 1.0
    top_k: int | None = None
    refine: str = "every_other"
    refine_rounds: int = 1
    min_length: int | None = None
    prompt_snap: float = 0.0

    def __post_init__(self) -> None:
        for name in ("cfg", "refine_cfg", "residual_cfg", "temperature", "prompt_snap"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or v != v:
                raise ValueError(f"{name} must be a number, got {v!r}")
            object.__setattr__(self, name, float(v))
        if not 0.0 <= self.prompt_snap <= 1.0:
            raise ValueError(f"prompt_snap must be between 0 and 1, got {self.prompt_snap}")
        if self.temperature < 0:
            raise ValueError(f"temperature must be >= 0, got {self.temperature}")
        if self.top_k is not None and (isinstance(self.top_k, bool) or not isinstance(self.top_k, int)
                                       or self.top_k < 1):
            raise ValueError(f"top_k must be a positive integer or None, got {self.top_k!r}")
        if self.refine not in STRATEGIES:
            raise ValueError(f"unknown refine strategy {self.refine!r}; choose from "
                             f"{', '.join(STRATEGIES)}")
        if isinstance(self.refine_rounds, bool) or not isinstance(self.refine_rounds, int) \
                or self.refine_rounds < 0:
            raise ValueError(f"refine_rounds must be an integer >= 0, got {self.refine_rounds!r}")

    @classmethod
    def from_config(cls, config: dict) -> "SamplingOptions":
        """Defaults of a model config's ``"decoding"`` section (``cfg`` as [round 1,
        refinement], ``residual_cfg``, ``prompt_snap``), the class defaults elsewhere."""
        dec = (config or {}).get("decoding", {}) or {}
        kw = {}
        if "cfg" in dec:
            c = [float(x) for x in dec["cfg"]]
            kw["cfg"], kw["refine_cfg"] = c[0], c[1] if len(c) > 1 else c[0]
        if "residual_cfg" in dec:
            kw["residual_cfg"] = float(dec["residual_cfg"])
        if "prompt_snap" in dec:
            kw["prompt_snap"] = float(dec["prompt_snap"])
        return cls(**kw)

    def to_config(self) -> dict:
        """The ``"decoding"`` section of a model config (the inverse of :meth:`from_config`)."""
        out = {"cfg": [self.cfg, self.refine_cfg], "residual_cfg": self.residual_cfg}
        if self.prompt_snap:
            out["prompt_snap"] = self.prompt_snap
        return out

    def replace(self, **changes) -> "SamplingOptions":
        """A copy with ``changes`` (None values are ignored: "keep the default")."""
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)



#: The sampling options that apply to inpainting and outpainting (one bidirectional pass).
EDIT_FIELDS = ("cfg", "residual_cfg", "temperature", "top_k", "prompt_snap")


def resolve_options(base: SamplingOptions, options: SamplingOptions | None, overrides: dict,
                    allowed: tuple[str, ...] | None = None) -> SamplingOptions:
    """``options`` (default ``base``, the model's defaults) with ``overrides`` (field names
    of :class:`SamplingOptions`; None values keep the default).

    ``cfg=(a, b)`` (the older generate() form) sets ``cfg=a, refine_cfg=b``.  A name that
    is not a field, or not in ``allowed``, is a TypeError."""
    opts = base if options is None else options
    if not isinstance(opts, SamplingOptions):
        raise TypeError(f"options must be a SamplingOptions, got {type(opts).__name__}")
    names = tuple(f.name for f in dataclasses.fields(SamplingOptions)) if allowed is None \
        else allowed
    unknown = sorted(set(overrides) - set(names))
    if unknown:
        raise TypeError(f"unexpected argument(s) {', '.join(unknown)}; the sampling options "
                        f"here are {', '.join(names)}")
    changes = dict(overrides)
    cfg = changes.get("cfg")
    if isinstance(cfg, (tuple, list)) and "refine_cfg" in names:
        if len(cfg) != 2 or changes.get("refine_cfg") is not None:
            raise ValueError(f"cfg must be a number or (round 1, refinement), got {cfg!r}")
        changes["cfg"], changes["refine_cfg"] = cfg
    return opts.replace(**changes)


__all__ = ["SamplingOptions", "EDIT_FIELDS", "resolve_options"]
