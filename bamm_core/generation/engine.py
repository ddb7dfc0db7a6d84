"""The public engine: text -> motion, inpainting, outpainting, prompt timelines.

>>> eng = Engine.from_pretrained(path)              # our model folder or an official tree
>>> m = eng.generate("a person walks forward", length=None, seed=0)
>>> m.joints.shape                                   # (T, 22, 3) float32, metres, Y up
>>> m2 = eng.inpaint(m, start=40, end=80, text="a person waves", seed=0)
>>> m3 = eng.outpaint(m, extend_after=40, text="a person bows", seed=0)
>>> take = eng.compose([("a person walks forward", 80), ("a person bows", None)], seed=0)
>>> take2 = eng.recompose(take, 1, "a person waves both hands", seed=3)

Delivered joints lie on a rigid skeleton with planted feet (``plant_feet=False`` turns the
planting off); ``Motion.raw_joints`` keeps the network's per-joint prediction.

Lengths and frame indices are frames at the model's frame rate; ``Engine.timebase`` (from
the model's config and its tokenizer) gives the frame rate, frames per token and the
limits.  Sampling knobs are one :class:`~bamm_core.generation.options.SamplingOptions`
(``options=``, default ``Engine.default_options`` from the model's config) or its field
names as keyword overrides (``cfg=5.0``, ``refine="none"`` ...).

All randomness flows from ``seed`` through a local ``torch.Generator`` (the same call twice
gives bit-identical results; global RNG state is neither used nor changed).  Text encoders
load lazily: ``text_embedding=`` works without any text-encoder weights.  ``progress``
callbacks receive ``(done, total)``; returning ``False`` cancels with
:class:`GenerationCancelled`.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
import torch
from torch import Tensor

from ..model import checkpoints as ckpt
from ..model.text_encoders import TextEncoder, build_text_encoder
from ..motion.clip import Motion
from ..motion.delivery import deliver
from ..motion.timebase import Timebase
from .decoding import generate_ids
from .compose import ComposeAPI, Segment
from .edit_api import EditAPI
from .options import SamplingOptions, resolve_options
from .progress import GenerationCancelled, ProgressFn, batch_progress
from .prompt import check_prompt
from .understanding import Understanding, read_caption_embeddings, read_caption_index

#: Samples generated together by generate()/generate_iter() (memory bounded by this).
DEFAULT_BATCH_SIZE = 16


def batch_seed(seed: int, batch: int) -> int:
    """The generator seed of batch ``batch`` of a many-sample run: ``seed`` itself for the
    first batch (so up to one batch of samples is exactly a single run), a seed derived
    from (seed, batch) after it."""
    if batch == 0:
        return int(seed)
    ss = np.random.SeedSequence([int(seed) & 0xFFFFFFFFFFFFFFFF, int(batch)])
    return int(ss.generate_state(1, dtype=np.uint64)[0] >> np.uint64(1))


class Engine(ComposeAPI, EditAPI, Understanding):
    """BAMM text-to-motion engine (networks + normalisation + text encoder).

    ``timebase``: the model's frame rate, frames per token and length limits;
    ``default_options``: the model's default :class:`SamplingOptions`."""

    def __init__(self, model: ckpt.LoadedModel, device: str = "cpu",
                 text_encoder: TextEncoder | None = None):
        self.device = torch.device(device)
        self.vq = model.vq.to(self.device).eval()
        self.transformer = model.transformer.to(self.device).eval()
        self.residual = model.residual.to(self.device).eval()
        self.config = dict(model.config)
        self.mean = torch.as_tensor(model.mean, dtype=torch.float32, device=self.device)
        self.std = torch.as_tensor(model.std, dtype=torch.float32, device=self.device)
        self.joints_num = int(self.config.get("joints_num", 22))
        if self.config.get("dataset", "t2m") != "t2m":
            raise ckpt.CheckpointError("only HumanML3D-format (t2m, 22 joints) models are supported "
                                       "by the engine")
        self._text_encoder = text_encoder
        self.timebase = Timebase.from_config(self.config, frames_per_token=self.vq.downsample)
        self.default_options = SamplingOptions.from_config(self.config)

    @property
    def fps(self) -> float:
        return self.timebase.fps

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_pretrained(cls, path: str | Path | None = None, device: str = "cpu") -> "Engine":
        """Load our model folder, an official ``checkpoints/`` tree, or (``None``) the
        bundled default model ``bamm_core/models/default/``."""
        if path is None:
            path = ckpt.DEFAULT_MODEL_DIR
            if ckpt.read_config(path) is None:
                raise ckpt.CheckpointError(
                    f"no bundled default model at {path} yet; pass a model folder "
                    "(see bamm_core.model.checkpoints.save_model_dir) or an official "
                    "checkpoints/ tree")
        path = Path(path)
        if not path.exists():
            raise ckpt.CheckpointError(f"model path not found: {path}")
        if path.is_dir() and ckpt.read_config(path) is not None:  # unreadable: says so
            engine = cls(ckpt.load_model_dir(path, device), device)
            # what "understood as" compares to (None, None: the model has no caption index)
            engine.known_captions, engine.known_motions = read_caption_index(path)
            if engine.known_captions:
                engine._caption_index = read_caption_embeddings(
                    path, len(engine.known_captions), engine.transformer.clip_dim)
            return engine
        if path.is_dir():
            try:  # a release tree may hold HumanML3D and KIT runs: take HumanML3D's
                runs = ckpt.find_official_runs(path, dataset="t2m")
            except ckpt.CheckpointError:
                runs = ckpt.find_official_runs(path)
            return cls(ckpt.load_official(runs["transformer"], runs["vq"], runs["residual"],
                                          device), device)
        raise ckpt.CheckpointError(f"{path} is neither a model folder nor an official "
                                   "checkpoints/ tree")

    @classmethod
    def from_official(cls, transformer_dir: str | Path, vq_dir: str | Path,
                      residual_dir: str | Path, device: str = "cpu") -> "Engine":
        """Load the three official run folders (each with opt.txt and model/*.tar)."""
        return cls(ckpt.load_official(transformer_dir, vq_dir, residual_dir, device), device)

    # ------------------------------------------------------------------ info / text
    @property
    def text_encoder(self) -> TextEncoder:
        if self._text_encoder is None:
            te = self.config.get("text_encoder", {"name": "clip"})
            self._text_encoder = build_text_encoder(te.get("name", "clip"),
                                                    int(te.get("dim", self.transformer.clip_dim)),
                                                    te.get("path"), str(self.device))
        return self._text_encoder

    def info(self) -> dict:
        """Model name, license, text encoder, timebase, sizes and parameter counts."""
        te = self.config.get("text_encoder", {})
        tb, opts = self.timebase, self.default_options
        count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
        return {
            "name": self.config.get("name"), "license": self.config.get("license"),
            "dataset": self.config.get("dataset", "t2m"), "fps": tb.fps,
            "frames_per_token": tb.frames_per_token, "max_frames": tb.max_frames,
            "max_seconds": tb.max_seconds, "text_encoder": te.get("name"),
            "text_dim": self.transformer.clip_dim,
            "sizes": {"tokenizer": self.vq.hparams, "transformer": self.transformer.hparams,
                      "residual": self.residual.hparams},
            "parameters": {"tokenizer": count(self.vq), "transformer": count(self.transformer),
                           "residual": count(self.residual)},
            "device": str(self.device),
            "decoding": {"cfg": [opts.cfg, opts.refine_cfg], "residual_cfg": opts.residual_cfg},
        }

    def encode_text(self, texts: str | Sequence[str]) -> np.ndarray:
        """(B, D) float32 text embeddings (for blending and ``text_embedding=``)."""
        if isinstance(texts, str):
            texts = [texts]
        return self.text_encoder(list(texts)).numpy()

    def _condition_rows(self, text: str | None, text_embedding, count: int, snap: float = 0.0) -> Tensor:
        """(1, D) (one condition for every sample) or (count, D) text conditions; a ``text``
        is moved ``snap`` toward its nearest training caption (:meth:`prompt_embeddings`)."""
        d = self.transformer.clip_dim
        if text is not None and text_embedding is not None:
            raise ValueError("give either text or text_embedding, not both")
        if text_embedding is not None:
            e = torch.as_tensor(np.asarray(text_embedding, dtype=np.float32))
            if e.dim() == 1:
                e = e[None]
            if e.dim() != 2 or e.shape[1] != d:
                raise ValueError(f"text_embedding must have shape ({d},) or (N, {d}), "
                                 f"got {tuple(e.shape)}")
            if not torch.isfinite(e).all():
                raise ValueError("text_embedding contains NaN or inf")
            if e.shape[0] not in (1, count):
                raise ValueError(f"text_embedding has {e.shape[0]} rows for {count} samples")
            return e.to(self.device)
        if text is None:
            return torch.zeros(1, d, device=self.device)  # unconditional
        check_prompt(text)  # (no text at all: unconditional)
        e = torch.from_numpy(self.prompt_embeddings([text], snap)).to(self.device)
        if e.shape[1] != d:
            raise ValueError(f"text encoder gives {e.shape[1]}-d vectors, model expects {d}")
        return e

    @staticmethod
    def _batch_condition(rows: Tensor, i0: int, i1: int) -> Tensor:
        if rows.shape[0] == 1:
            return rows.expand(i1 - i0, rows.shape[1]).contiguous()
        return rows[i0:i1].contiguous()

    def _condition(self, text: str | None, text_embedding, batch: int, snap: float = 0.0) -> Tensor:
        return self._batch_condition(self._condition_rows(text, text_embedding, batch, snap), 0, batch)

    # ------------------------------------------------------------------ decoding
    @torch.inference_mode()
    def decode_tokens(self, ids: Tensor, frames: Sequence[int]) -> list[tuple[np.ndarray, np.ndarray]]:
        """ids (B, n, Q) (-1 = none) -> [(features (T, 263), joints (T, 22, 3))] per sample.

        Always decodes ``timebase.max_tokens + 1`` slots (padding = zero codes), like the
        official pipeline, then crops each sample to its frame count.
        """
        from ..motion.features import recover_from_ric

        b, n, q = ids.shape
        slots = self.timebase.max_tokens + 1
        if n < slots:
            ids = torch.cat([ids, torch.full((b, slots - n, q), -1, dtype=ids.dtype,
                                             device=ids.device)], 1)
        feats = self.vq.forward_decoder(ids.to(self.device)) * self.std + self.mean
        out = []
        for i, t in enumerate(frames):
            f = feats[i, :t]
            j = recover_from_ric(f, self.joints_num)
            out.append((f.float().cpu().numpy().copy(), j.float().cpu().numpy().copy()))
        return out

    # ------------------------------------------------------------------ generate
    def generate(self, text: str | None = None, length: int | None = None, seed: int = 0, *,
                 options: SamplingOptions | None = None, text_embedding=None,
                 num_samples: int = 1, use_cache: bool = True,
                 progress: ProgressFn | None = None, plant_feet: bool = True,
                 **overrides) -> Motion | list[Motion]:
        """Text -> motion (a list of ``num_samples`` motions when it is > 1).

        Args:
            text: prompt (or ``text_embedding``: (D,) / (N, D) precomputed vector(s)).
                Neither -> unconditional.  An empty prompt is an error.
            length: frames (``timebase.frames_per_token`` .. ``timebase.max_frames``;
                HumanML3D 4..196 at 20 fps), or None to let the model predict it.
                Frame counts that are not whole tokens are generated with one more
                token and cropped.
            seed: all randomness derives from it.
            options: :class:`SamplingOptions` (default ``self.default_options``).
            **overrides: its fields by name: ``cfg`` (round 1; ``cfg=(a, b)`` also sets
                ``refine_cfg``), ``refine_cfg``, ``residual_cfg``, ``temperature`` (0 =
                argmax), ``top_k``, ``refine`` (a strategy of
                :data:`~bamm_core.generation.refinement.STRATEGIES`), ``refine_rounds``,
                ``min_length`` (with a predicted length, at least this many frames;
                default ``timebase.default_min_frames`` = 2 s, the shortest training
                clip; ``frames_per_token`` = as the official code, which only forbids
                [END] as the first token; ``refine="official"`` keeps the official rule).
            num_samples: variations, generated in batches of 16 (see :meth:`generate_iter`).
            use_cache: key/value cache for the autoregressive round.
            progress: ``progress(done, total)`` over all samples; return False to cancel.
            plant_feet: plant the feet during their contacts.  ``Motion.joints`` are the
                prediction on a rigid skeleton (fixed bone lengths) with, by default, the
                feet planted; the prediction as decoded stays in ``Motion.raw_joints``, the
                contacts in ``Motion.contacts`` (see :mod:`bamm_core.motion.delivery`).
        """
        motions = list(self.generate_iter(text, length, seed, num_samples=num_samples,
                                          options=options, text_embedding=text_embedding,
                                          use_cache=use_cache, progress=progress,
                                          plant_feet=plant_feet, **overrides))
        return motions if num_samples > 1 else motions[0]

    def generate_iter(self, text: str | None = None, length: int | None = None, seed: int = 0,
                      *, num_samples: int, batch_size: int = DEFAULT_BATCH_SIZE,
                      options: SamplingOptions | None = None, text_embedding=None,
                      use_cache: bool = True, progress: ProgressFn | None = None,
                      plant_feet: bool = True, **overrides) -> Iterator[Motion]:
        """Like :meth:`generate`, yielding the ``num_samples`` motions one by one, made in
        batches of at most ``batch_size`` (memory stays bounded whatever ``num_samples``).

        Batch ``k`` draws from :func:`batch_seed` ``(seed, k)`` (batch 0 from ``seed``), so
        sample ``i`` depends on ``seed`` and ``batch_size`` only: ``generate`` gives the
        same samples (it uses the default batch size).  Arguments are checked before the
        first motion is made; ``progress`` counts over all samples."""
        opts = resolve_options(self.default_options, options, overrides)
        for name, v in (("num_samples", num_samples), ("batch_size", batch_size)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be a positive integer, got {v!r}")
        tb = self.timebase
        if length is not None:
            length = tb.check_frames(length, "length")
        min_length = tb.default_min_frames if opts.min_length is None else opts.min_length
        min_tokens = tb.tokens_for(tb.check_frames(min_length, "min_length"))
        rows = self._condition_rows(text, text_embedding, num_samples, opts.prompt_snap)
        return self._generate_batches(rows, text, length, int(seed), num_samples, batch_size,
                                      opts, min_tokens, use_cache, progress, bool(plant_feet))

    def _generate_batches(self, rows: Tensor, text, length, seed: int, num_samples: int,
                          batch_size: int, opts: SamplingOptions, min_tokens: int,
                          use_cache: bool, progress, plant_feet: bool = True) -> Iterator[Motion]:
        tb = self.timebase
        n_batches = -(-num_samples // batch_size)
        for_batch = batch_progress(progress, n_batches)
        info = {"seed": seed, "refine": opts.refine, "cfg": [opts.cfg, opts.refine_cfg],
                "residual_cfg": opts.residual_cfg}
        if isinstance(text, str) and (understood := self.understood_record(text)) is not None:
            info["understood"] = understood  # [nearest training caption, similarity]
        for k in range(n_batches):
            i0, i1 = k * batch_size, min(num_samples, (k + 1) * batch_size)
            cond = self._batch_condition(rows, i0, i1)
            lengths = None if length is None else \
                torch.full((i1 - i0,), tb.tokens_for(length), dtype=torch.long)
            gen = torch.Generator(device=self.device).manual_seed(batch_seed(seed, k))
            res = generate_ids(self.transformer, self.residual, cond, lengths, opts, gen,
                               max_tokens=tb.max_tokens, use_cache=use_cache,
                               progress=for_batch(k), min_tokens=min_tokens)
            tok_lens = res.lengths.tolist()
            frames = [length if length is not None else tb.frames_per_token * n
                      for n in tok_lens]
            for j, (f, joints) in enumerate(self.decode_tokens(res.ids, frames)):
                yield deliver(Motion(joints.astype(np.float32), f.astype(np.float32),
                                     res.ids[j, : tok_lens[j]].cpu().numpy().astype(np.int64),
                                     text, tb.fps, None, dict(info, sample=i0 + j)),
                              plant_feet=plant_feet)

    # ------------------------------------------------------------------ joints -> motion
    @torch.inference_mode()
    def motion_from_joints(self, joints: np.ndarray, text: str | None = None) -> Motion:
        """Tokenise arbitrary scene joints ``(T, 22, 3)`` (metres, Y up, at ``self.fps``).

        Features come from ``bamm_core.motion.features.joints_to_features`` (bone lengths
        normalised, canonical frame); ``joints`` are kept as given, so edits of the
        returned motion come back in the input's space.
        """
        from ..motion.features import canonicalize, joints_to_features

        x = np.asarray(joints)
        if x.ndim != 3 or x.shape[1:] != (self.joints_num, 3):
            raise ValueError(f"joints must have shape (T, {self.joints_num}, 3), got {x.shape}")
        if x.shape[0] < self.timebase.min_frames:
            raise ValueError(f"need at least {self.timebase.min_frames} frames, got {x.shape[0]}")
        if not np.isfinite(x).all():
            raise ValueError("joints contain NaN or inf")
        x = x.astype(np.float32)
        _, transform = canonicalize(x)
        feats = joints_to_features(x)  # (T-1, 263)
        feats = np.concatenate([feats, feats[-1:]], 0)  # (T, 263)
        f = torch.as_tensor(feats, device=self.device)
        ids, _ = self.vq.encode(((f - self.mean) / self.std)[None])
        return deliver(Motion(x.copy(), feats.astype(np.float32),
                              ids[0].cpu().numpy().astype(np.int64), text, self.fps, transform,
                              {"source": "joints"}), plant_feet=False, rigid=False)


__all__ = ["Engine", "Motion", "Segment", "GenerationCancelled", "DEFAULT_BATCH_SIZE", "batch_seed"]
