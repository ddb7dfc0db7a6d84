"""The public engine: text -> motion, inpainting, outpainting.

>>> eng = Engine.from_pretrained(path)              # our model folder or an official tree
>>> m = eng.generate("a person walks forward", length=None, seed=0)
>>> m.joints.shape                                   # (T, 22, 3) float32, metres, Y up, 20 fps
>>> m2 = eng.inpaint(m, start=40, end=80, text="a person jumps", seed=0)
>>> m3 = eng.outpaint(m, extend_after=40, text="then sits down", seed=0)

All randomness flows from ``seed`` through a local ``torch.Generator`` (the same call twice
gives bit-identical results; global RNG state is neither used nor changed).  Text encoders
load lazily: ``text_embedding=`` works without any text-encoder weights.  ``progress``
callbacks receive ``(done, total)``; returning ``False`` cancels with
:class:`GenerationCancelled`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch
from torch import Tensor

from ..model import checkpoints as ckpt
from .decoding import MAX_TOKENS, REFINE_STRATEGIES, generate_ids
from .editing import UNIT, ceil_div, choose_window, edit_tokens, frames_to_tokens, splice_joints
from ..model.text_encoders import TextEncoder, build_text_encoder

ProgressFn = Callable[[int, int], "bool | None"]
MAX_FRAMES = MAX_TOKENS * UNIT  # 196
# Shortest predicted length by default: HumanML3D-style data sets drop clips under 40 frames
# (2 s), so an [END] before that is outside what the model was trained on.
DEFAULT_MIN_FRAMES = 40


def _check_frames(value, name: str, alternative: str = "") -> None:
    """``value`` must be an int number of frames in UNIT..MAX_FRAMES (else ValueError)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) \
            or not UNIT <= int(value) <= MAX_FRAMES:
        raise ValueError(f"{name} must be an integer number of frames in "
                         f"{UNIT}..{MAX_FRAMES} (20 fps){alternative}, got {value!r}")


class GenerationCancelled(RuntimeError):
    """Raised when a ``progress`` callback returns False."""


@dataclass
class Motion:
    """A motion clip at 20 fps.

    Attributes:
        joints: (T, 22, 3) float32 joint positions (metres, Y up).  Generated motions
            start at the origin facing +Z; edited motions stay in their input's space.
        features: (T, 263) de-normalised HumanML3D features (row t describes frames
            t -> t+1; for motions read from joints the last row is repeated).
        tokens: (ceil(T / 4), 6) int64 RVQ codes (-1 = no code), 4 frames per token.
        text: the prompt (if any).
        transform: for motions made by :meth:`Engine.motion_from_joints`, the
            ``bamm_core.features.Transform`` from the input's space to the canonical one.
    """

    joints: np.ndarray
    features: np.ndarray
    tokens: np.ndarray
    text: str | None = None
    fps: int = 20
    transform: Any = None
    info: dict = field(default_factory=dict)

    @property
    def num_frames(self) -> int:
        return int(self.joints.shape[0])

    def __repr__(self) -> str:
        return (f"Motion({self.num_frames} frames @ {self.fps} fps, "
                f"{self.tokens.shape[0]} tokens, text={self.text!r})")


def _wrap_progress(progress: ProgressFn | None) -> Callable[[int, int], None] | None:
    if progress is None:
        return None

    def call(done: int, total: int) -> None:
        if progress(done, total) is False:
            raise GenerationCancelled(f"cancelled by the progress callback at {done}/{total}")

    return call


class Engine:
    """BAMM text-to-motion engine (networks + normalisation + text encoder)."""

    fps = 20

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
        dec = self.config.get("decoding", {})
        self.default_cfg = tuple(float(c) for c in dec.get("cfg", (4.0, 3.0)))
        self.default_residual_cfg = float(dec.get("residual_cfg", 5.0))

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_pretrained(cls, path: str | Path | None = None, device: str = "cpu") -> "Engine":
        """Load our model folder, an official ``checkpoints/`` tree, or (``None``) the
        bundled default model ``bamm_core/models/default/``."""
        if path is None:
            path = ckpt.DEFAULT_MODEL_DIR
            if not ckpt.is_model_dir(path):
                raise ckpt.CheckpointError(
                    f"no bundled default model at {path} yet; pass a model folder "
                    "(see bamm_core.checkpoints.save_model_dir) or an official checkpoints/ tree")
        path = Path(path)
        if not path.exists():
            raise ckpt.CheckpointError(f"model path not found: {path}")
        if ckpt.is_model_dir(path):
            return cls(ckpt.load_model_dir(path, device), device)
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
        """Model name, license, text encoder, sizes and parameter counts."""
        te = self.config.get("text_encoder", {})
        count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
        return {
            "name": self.config.get("name"), "license": self.config.get("license"),
            "dataset": self.config.get("dataset", "t2m"), "fps": self.fps,
            "max_frames": MAX_FRAMES, "text_encoder": te.get("name"),
            "text_dim": self.transformer.clip_dim,
            "sizes": {"tokenizer": self.vq.hparams, "transformer": self.transformer.hparams,
                      "residual": self.residual.hparams},
            "parameters": {"tokenizer": count(self.vq), "transformer": count(self.transformer),
                           "residual": count(self.residual)},
            "device": str(self.device),
            "decoding": {"cfg": list(self.default_cfg), "residual_cfg": self.default_residual_cfg},
        }

    def encode_text(self, texts: str | Sequence[str]) -> np.ndarray:
        """(B, D) float32 text embeddings (for blending and ``text_embedding=``)."""
        if isinstance(texts, str):
            texts = [texts]
        return self.text_encoder(list(texts)).numpy()

    def _condition(self, text: str | None, text_embedding, batch: int) -> Tensor:
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
            if e.shape[0] == 1:
                e = e.expand(batch, d)
            elif e.shape[0] != batch:
                raise ValueError(f"text_embedding has {e.shape[0]} rows for {batch} samples")
            return e.to(self.device).contiguous()
        if text is None:
            return torch.zeros(batch, d, device=self.device)  # unconditional
        if not isinstance(text, str):
            raise TypeError(f"text must be a string, got {type(text).__name__}")
        e = self.text_encoder([text]).to(self.device)
        if e.shape[1] != d:
            raise ValueError(f"text encoder gives {e.shape[1]}-d vectors, model expects {d}")
        return e.expand(batch, d).contiguous()

    # ------------------------------------------------------------------ decoding
    @torch.inference_mode()
    def decode_tokens(self, ids: Tensor, frames: Sequence[int]) -> list[tuple[np.ndarray, np.ndarray]]:
        """ids (B, n, Q) (-1 = none) -> [(features (T, 263), joints (T, 22, 3))] per sample.

        Always decodes ``MAX_TOKENS + 1`` slots (padding = zero codes), like the official
        pipeline, then crops each sample to its frame count.
        """
        from ..motion.features import recover_from_ric

        b, n, q = ids.shape
        slots = MAX_TOKENS + 1
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
                 text_embedding=None, cfg: tuple[float, float] | None = None,
                 residual_cfg: float | None = None, refine: str = "every_other",
                 refine_rounds: int = 1, temperature: float = 1.0, top_k: int | None = None,
                 num_samples: int = 1, use_cache: bool = True,
                 progress: ProgressFn | None = None,
                 min_length: int = DEFAULT_MIN_FRAMES) -> Motion | list[Motion]:
        """Text -> motion.

        Args:
            text: prompt (or ``text_embedding``: (D,) / (N, D) precomputed vector(s)).
                Neither -> unconditional.
            length: frames at 20 fps (4..196), or None to let the model predict it.
                Frame counts that are not multiples of 4 are generated with one more
                token and cropped.
            seed: all randomness derives from it.
            cfg: classifier-free guidance scales (round 1, refinement); default (4, 3).
            residual_cfg: guidance of the residual transformer (default 5).
            refine: refinement strategy, see :mod:`bamm_core.decoding`.
            refine_rounds: number of refinement rounds.
            temperature: sampling temperature (0 = argmax); top_k: keep k best codes.
            num_samples: batched variations (returns a list when > 1).
            use_cache: key/value cache for the autoregressive round.
            progress: ``progress(done, total)``; return False to cancel.
            min_length: with a predicted length, at least this many frames (4..196;
                default 40 = 2 s, the shortest training clip; 4 = as the official code,
                which only forbids [END] as the first token).  ``refine="official"``
                keeps the official rule.
        """
        if refine not in REFINE_STRATEGIES:
            raise ValueError(f"unknown refine {refine!r}; choose from {REFINE_STRATEGIES}")
        if not isinstance(num_samples, int) or num_samples < 1:
            raise ValueError(f"num_samples must be a positive integer, got {num_samples!r}")
        if temperature < 0:
            raise ValueError(f"temperature must be >= 0, got {temperature}")
        if top_k is not None and (not isinstance(top_k, int) or top_k < 1):
            raise ValueError(f"top_k must be a positive integer or None, got {top_k!r}")
        if not isinstance(refine_rounds, int) or refine_rounds < 0:
            raise ValueError(f"refine_rounds must be an integer >= 0, got {refine_rounds!r}")
        cfg = tuple(float(c) for c in (cfg if cfg is not None else self.default_cfg))
        if len(cfg) != 2:
            raise ValueError(f"cfg must be (round1, refinement), got {cfg}")
        rcfg = self.default_residual_cfg if residual_cfg is None else float(residual_cfg)
        lengths = None
        if length is not None:
            _check_frames(length, "length", " or None")
            lengths = torch.full((num_samples,), ceil_div(int(length), UNIT), dtype=torch.long)
        _check_frames(min_length, "min_length")
        cond = self._condition(text, text_embedding, num_samples)
        gen = torch.Generator(device=self.device).manual_seed(int(seed))
        res = generate_ids(self.transformer, self.residual, cond, lengths, cfg, rcfg, refine,
                           refine_rounds, temperature, top_k, gen, use_cache,
                           _wrap_progress(progress), ceil_div(int(min_length), UNIT))
        tok_lens = res.lengths.tolist()
        frames = [int(length) if length is not None else UNIT * L for L in tok_lens]
        decoded = self.decode_tokens(res.ids, frames)
        motions = []
        for i, (f, j) in enumerate(decoded):
            motions.append(Motion(j.astype(np.float32), f.astype(np.float32),
                                  res.ids[i, : tok_lens[i]].cpu().numpy().astype(np.int64),
                                  text, self.fps, None,
                                  {"seed": int(seed), "sample": i, "refine": refine,
                                   "cfg": list(cfg), "residual_cfg": rcfg}))
        return motions if num_samples > 1 else motions[0]

    # ------------------------------------------------------------------ joints -> motion
    @torch.inference_mode()
    def motion_from_joints(self, joints: np.ndarray, text: str | None = None) -> Motion:
        """Tokenise arbitrary scene joints ``(T, 22, 3)`` (metres, Y up, 20 fps).

        Features come from ``bamm_core.features.joints_to_features`` (bone lengths
        normalised, canonical frame); ``joints`` are kept as given, so edits of the
        returned motion come back in the input's space.
        """
        from ..motion.features import canonicalize, joints_to_features

        x = np.asarray(joints)
        if x.ndim != 3 or x.shape[1:] != (self.joints_num, 3):
            raise ValueError(f"joints must have shape (T, {self.joints_num}, 3), got {x.shape}")
        if x.shape[0] < 2 * UNIT:
            raise ValueError(f"need at least {2 * UNIT} frames, got {x.shape[0]}")
        if not np.isfinite(x).all():
            raise ValueError("joints contain NaN or inf")
        x = x.astype(np.float32)
        _, transform = canonicalize(x)
        feats = joints_to_features(x)  # (T-1, 263)
        feats = np.concatenate([feats, feats[-1:]], 0)  # (T, 263)
        f = torch.as_tensor(feats, device=self.device)
        ids, _ = self.vq.encode(((f - self.mean) / self.std)[None])
        return Motion(x.copy(), feats.astype(np.float32), ids[0].cpu().numpy().astype(np.int64),
                      text, self.fps, transform, {"source": "joints"})

    # ------------------------------------------------------------------ editing
    def _edit(self, motion: Motion, tl_tokens: np.ndarray, keep: np.ndarray, shift: int,
              base: np.ndarray, known: np.ndarray, start: int, end: int, base_feats: np.ndarray,
              text, text_embedding, seed, cfg, residual_cfg, temperature, top_k, blend,
              progress) -> Motion:
        """Shared inpaint/outpaint driver on an output timeline of ``base.shape[0]`` frames.

        ``tl_tokens``/``keep``: token timeline (timeline frame = output frame + shift).
        """
        t_out = base.shape[0]
        n_tl = tl_tokens.shape[0]
        lo = (start - 1 + shift) // UNIT if start > 0 else (start + shift) // UNIT
        hi = (end + shift) // UNIT + 1 if end < t_out else ceil_div(end + shift, UNIT)
        hi = min(hi, n_tl)
        w0, w1 = choose_window(n_tl, lo, hi)
        cond = self._condition(text if text is not None or text_embedding is not None
                               else motion.text, text_embedding, 1)
        gen = torch.Generator(device=self.device).manual_seed(int(seed))
        n_regen = int((~keep[w0:w1]).sum())
        total = n_regen + self.residual.num_quantizers
        cb = _wrap_progress(progress)
        done = [0]

        def tick() -> None:
            done[0] += 1
            if cb is not None:
                cb(min(done[0], total), total)

        tokens = torch.as_tensor(tl_tokens[w0:w1], device=self.device)
        new = edit_tokens(self.transformer, self.residual, tokens,
                          torch.as_tensor(keep[w0:w1], device=self.device), cond,
                          cfg, residual_cfg, temperature, top_k, gen, tick)
        (feats_w, joints_w), = self.decode_tokens(new[None], [(w1 - w0) * UNIT])
        f0 = w0 * UNIT - shift  # output frame of the window's first decoded frame
        gen_j = base.copy()
        gen_f = base_feats.copy()
        lo_f, hi_f = max(0, f0), min(t_out, f0 + joints_w.shape[0])
        gen_j[lo_f:hi_f] = joints_w[lo_f - f0:hi_f - f0]
        gen_f[lo_f:hi_f] = feats_w[lo_f - f0:hi_f - f0]
        joints = splice_joints(base, known, gen_j, start, end, blend)
        feats = base_feats.copy()
        feats[start:end] = gen_f[start:end]
        out_tokens = tl_tokens.copy()
        out_tokens[w0:w1] = new.cpu().numpy()
        if cb is not None:
            cb(total, total)
        return Motion(joints.astype(np.float32), feats.astype(np.float32), out_tokens,
                      text if text is not None else motion.text, self.fps, motion.transform,
                      {"edited": [int(start), int(end)], "seed": int(seed),
                       "window_tokens": [int(w0), int(w1)]})

    def _check_motion(self, motion: Motion) -> None:
        if not isinstance(motion, Motion):
            raise TypeError(f"expected a Motion (see Engine.motion_from_joints), got "
                            f"{type(motion).__name__}")
        if motion.joints.ndim != 3 or motion.joints.shape[1:] != (self.joints_num, 3):
            raise ValueError(f"motion joints must be (T, {self.joints_num}, 3)")
        if motion.tokens.ndim != 2 or motion.tokens.shape[1] != self.vq.num_quantizers:
            raise ValueError(f"motion tokens must be (n, {self.vq.num_quantizers})")
        if int(motion.tokens[:, 0].max(initial=0)) >= self.vq.nb_code:
            raise ValueError("motion tokens do not belong to this model's codebook; "
                             "rebuild the motion with motion_from_joints")

    def _token_timeline(self, motion: Motion, n_tl: int) -> tuple[np.ndarray, np.ndarray]:
        """Motion tokens padded to ``n_tl`` slots; ``known`` marks slots with codes."""
        tok = np.zeros((n_tl, motion.tokens.shape[1]), dtype=np.int64)
        n = min(n_tl, motion.tokens.shape[0])
        tok[:n] = motion.tokens[:n]
        known = np.zeros(n_tl, dtype=bool)
        known[:n] = motion.tokens[:n, 0] >= 0
        return tok, known

    def inpaint(self, motion: Motion, start: int, end: int, text: str | None = None,
                seed: int = 0, *, text_embedding=None, cfg: float | None = None,
                residual_cfg: float | None = None, temperature: float = 1.0,
                top_k: int | None = None, blend: int = 4,
                progress: ProgressFn | None = None) -> Motion:
        """Regenerate frames [start, end) (20 fps) conditioned on the motion around them.

        Frames outside the range are returned unchanged (bit-identical); the new frames
        are aligned to the original at both boundaries (see :mod:`bamm_core.editing`).
        ``text=None`` reuses the motion's own prompt (unconditional if it has none).
        """
        self._check_motion(motion)
        t = motion.num_frames
        for name, v in (("start", start), ("end", end)):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
                raise TypeError(f"{name} must be an integer frame index, got {v!r}")
        start, end = int(start), int(end)
        if not 0 <= start < end <= t:
            raise ValueError(f"need 0 <= start < end <= {t} (frames), got start={start}, end={end}")
        if start == 0 and end == t:
            raise ValueError("the range covers the whole motion; use generate() instead")
        n_tl = ceil_div(t, UNIT)
        tok, known_tok = self._token_timeline(motion, n_tl)
        ts, te = frames_to_tokens(start, end)
        keep = known_tok.copy()
        keep[ts:te] = False
        cfg_s = float(cfg) if cfg is not None else self.default_cfg[0]
        rcfg = self.default_residual_cfg if residual_cfg is None else float(residual_cfg)
        return self._edit(motion, tok, keep, 0, motion.joints.astype(np.float32),
                          np.ones(t, dtype=bool), start, end, motion.features, text,
                          text_embedding, seed, cfg_s, rcfg, temperature, top_k, blend, progress)

    def outpaint(self, motion: Motion, extend_before: int = 0, extend_after: int = 0,
                 text: str | None = None, seed: int = 0, *, text_embedding=None,
                 cfg: float | None = None, residual_cfg: float | None = None,
                 temperature: float = 1.0, top_k: int | None = None, blend: int = 4,
                 progress: ProgressFn | None = None) -> Motion:
        """Extend the motion by ``extend_before`` / ``extend_after`` frames (20 fps).

        Original frames are kept exactly (shifted by ``extend_before``); the new frames
        continue from the adjacent original frame.  With both, the end is extended first.
        """
        self._check_motion(motion)
        for name, v in (("extend_before", extend_before), ("extend_after", extend_after)):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 0:
                raise ValueError(f"{name} must be an integer >= 0, got {v!r}")
        if extend_before == 0 and extend_after == 0:
            raise ValueError("nothing to do: extend_before and extend_after are both 0")
        for v in (extend_before, extend_after):
            if v > (MAX_TOKENS - 1) * UNIT:
                raise ValueError(f"can extend by at most {(MAX_TOKENS - 1) * UNIT} frames at once, "
                                 f"got {v}")
        cfg_s = float(cfg) if cfg is not None else self.default_cfg[0]
        rcfg = self.default_residual_cfg if residual_cfg is None else float(residual_cfg)
        t = motion.num_frames
        if extend_after:
            ext = int(extend_after)
            t_out = t + ext
            n_tl = ceil_div(t_out, UNIT)
            tok, known_tok = self._token_timeline(motion, n_tl)
            keep = known_tok & (np.arange(n_tl) < t // UNIT)
            base = np.concatenate([motion.joints, np.zeros((ext, *motion.joints.shape[1:]),
                                                           np.float32)])
            feats = np.concatenate([motion.features, np.zeros((ext, motion.features.shape[1]),
                                                              np.float32)])
            known = np.arange(t_out) < t
            motion = self._edit(motion, tok, keep, 0, base, known, t, t_out, feats, text,
                                text_embedding, seed, cfg_s, rcfg, temperature, top_k, blend,
                                progress)
            t = t_out
            if not extend_before:
                return motion
        ext = int(extend_before)
        m = ceil_div(ext, UNIT)
        shift = m * UNIT - ext
        n_orig = ceil_div(t, UNIT)
        tok0, known0 = self._token_timeline(motion, n_orig)
        tok = np.concatenate([np.zeros((m, tok0.shape[1]), np.int64), tok0])
        keep = np.concatenate([np.zeros(m, bool), known0])
        base = np.concatenate([np.zeros((ext, *motion.joints.shape[1:]), np.float32),
                               motion.joints])
        feats = np.concatenate([np.zeros((ext, motion.features.shape[1]), np.float32),
                                motion.features])
        known = np.arange(ext + t) >= ext
        out = self._edit(motion, tok, keep, shift, base, known, 0, ext, feats, text,
                         text_embedding, seed, cfg_s, rcfg, temperature, top_k, blend, progress)
        out.info["token_frame_offset"] = -shift  # tokens start `shift` frames before frame 0
        return out
