"""What a prompt was understood as: the nearest captions the model was trained on.

A model folder may ship ``captions.json`` (``{"captions": [...]}``, the distinct training
captions; ``training/caption_index.py`` writes it).  The engine embeds that list once, with
the model's own text encoder, and compares a prompt to it by cosine similarity:

>>> eng.understood("a person strolls forward", k=1)
[('a person walks forward.', 0.9094)]
>>> eng.prompt_report("a person sits down on a chair")
{'nearest': [...], 'known': False, 'threshold': 0.7}

``captions.npy`` beside it (float16 embeddings, one row per caption, written with the index)
saves embedding the list when the engine loads; without it the list is embedded on the first
prompt.  A model without ``captions.json`` has no index: :meth:`Understanding.understood` returns
``[]`` and :meth:`Understanding.prompt_report` says ``known: None`` (unknown).

Sentence embeddings hardly tell "left" from "right" or one hand from both ("walk diagonally to
the front right" lies nearest to a caption about the front *left*), yet a prompt's meaning hangs
on them.  So a prompt that names a side or a number of hands (:func:`wording_marks`) is only
matched to captions that do not name the other (:func:`compatible`), when the index has any.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np

#: File names of the caption index in a model folder (the embeddings are optional).
CAPTIONS_FILE = "captions.json"
EMBEDDINGS_FILE = "captions.npy"

#: Cosine similarity (model's own text embeddings) from which a prompt counts as known.
#: Measured with MiniLM on the bundled model's index (benchmarks/bench_understanding.py):
#: seen captions score 1.0, close paraphrases ("a person strolls forward", "someone bows
#: politely", "a man runs") 0.74-0.95, prompts about motions it never saw ("a person sits down
#: on a chair", "sit down", "a person jumps", "a person swims", "a person squats") 0.34-0.58.
KNOWN_THRESHOLD = 0.7

_SIDES = {"left": re.compile(r"\bleft(?:wards?)?\b"), "right": re.compile(r"\bright(?:wards?)?\b")}
_NOT_A_SIDE = re.compile(r"\ball right\b|\bright (?:away|now|after|before|then|there|here|on)\b")
_BOTH_HANDS = re.compile(r"\b(?:both|two) (?:of (?:the|his|her|their) )?(?:hands|arms)\b"
                         r"|\b(?:two|both)-handed\b")
_ONE_HAND = re.compile(r"\b(?:one|a single|single) (?:hand|arm)\b|\b(?:one|single)-handed\b")


def wording_marks(text: str) -> tuple[str | None, str | None]:
    """``(side, hands)`` a text names: side ``"left"`` / ``"right"`` when it names exactly one
    ("right-handed wave", "veering left"; not "all right" / "right away"), hands ``"both"``
    ("both arms", "two-handed") or ``"one"`` ("one hand", "single-handed"); None where it names
    neither (or, for the side, both)."""
    t = _NOT_A_SIDE.sub(" ", text.lower())
    sides = [side for side, rx in _SIDES.items() if rx.search(t)]
    hands = "both" if _BOTH_HANDS.search(t) else "one" if _ONE_HAND.search(t) else None
    return (sides[0] if len(sides) == 1 else None), hands


def compatible(prompt: tuple[str | None, str | None], caption: tuple[str | None, str | None]) -> bool:
    """Whether a caption with :func:`wording_marks` ``caption`` may stand for a prompt with
    ``prompt``: not the other side, not both hands for one, not one (or one named side
    alone) for both."""
    (p_side, p_hands), (c_side, c_hands) = prompt, caption
    if p_side and c_side and p_side != c_side:
        return False
    if p_hands == "one":
        return c_hands != "both"
    if p_hands == "both":
        return c_hands == "both" or (c_hands is None and c_side is None)
    return True


def read_caption_index(model_dir: str | Path) -> tuple[list[str] | None, list[str] | None]:
    """``(captions, motions)`` of a model folder's ``captions.json`` (``motions``: one phrase
    per trained action, for listings), or ``(None, None)`` when it has none.  A malformed
    file raises ValueError naming it."""
    f = Path(model_dir) / CAPTIONS_FILE
    if not f.is_file():
        return None, None
    try:
        data = json.loads(f.read_text(encoding="utf-8"))
        caps, motions = data["captions"], data.get("motions", [])
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        raise ValueError(f"{f}: not a caption index ({{\"captions\": [...]}}): {e}") from e
    for name, v in (("captions", caps), ("motions", motions)):
        if not isinstance(v, list) or not all(isinstance(c, str) for c in v):
            raise ValueError(f"{f}: '{name}' must be a list of strings")
    return [c for c in dict.fromkeys(caps) if c.strip()], list(motions)


def read_caption_embeddings(model_dir: str | Path, count: int, dim: int) -> np.ndarray | None:
    """Unit-norm rows of the folder's ``captions.npy`` when it matches ``count`` captions of
    ``dim``-d embeddings; None otherwise (then they are computed on first use)."""
    f = Path(model_dir) / EMBEDDINGS_FILE
    if not f.is_file():
        return None
    emb = np.load(f, allow_pickle=False)
    if emb.shape != (count, dim) or not np.isfinite(emb).all():
        return None
    return normalized_rows(emb)


def write_caption_index(model_dir: str | Path, captions: list[str], motions: list[str] = (),
                        encode=None) -> Path:
    """Write ``captions.json`` (and, with ``encode(list[str]) -> (N, D)``, the model's text
    encoder, ``captions.npy``) into a model folder; returns the JSON's path."""
    out = Path(model_dir) / CAPTIONS_FILE
    caps = [c for c in dict.fromkeys(captions) if c.strip()]
    out.write_text(json.dumps({"motions": list(motions), "captions": caps}, indent=0) + "\n",
                   encoding="utf-8")
    if encode is not None:
        rows = [np.asarray(encode(caps[i:i + 256]), np.float32) for i in range(0, len(caps), 256)]
        np.save(Path(model_dir) / EMBEDDINGS_FILE, np.concatenate(rows, 0).astype(np.float16))
    return out


def nearest(query: np.ndarray, index: np.ndarray, captions: list[str], k: int,
            allowed: np.ndarray | None = None) -> list[tuple[str, float]]:
    """The ``k`` captions whose embeddings (rows of ``index``) are most cosine-similar to
    ``query`` (one vector), best first; only rows where ``allowed`` (bool (N,)) is true."""
    q = np.asarray(query, dtype=np.float32).reshape(-1)
    q = q / max(float(np.linalg.norm(q)), 1e-12)
    sims = index @ q
    order = np.argsort(-sims, kind="stable")
    if allowed is not None:
        order = order[np.asarray(allowed, dtype=bool)[order]]
    return [(captions[i], round(float(sims[i]), 4)) for i in order[: max(0, int(k))]]


def normalized_rows(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def snap_toward(vec: np.ndarray, index: np.ndarray, weight: float,
                allowed: np.ndarray | None = None) -> np.ndarray:
    """``vec`` (D,) moved ``weight`` of the way toward its nearest row of the unit-norm
    ``index`` (N, D) (among the ``allowed`` rows), keeping its length:
    ``|v| * unit((1 - w) v/|v| + w n)``."""
    v = np.asarray(vec, dtype=np.float32)
    norm = float(np.linalg.norm(v))
    if weight <= 0 or norm == 0:
        return v
    u = v / norm
    sims = index @ u
    if allowed is not None:
        sims = np.where(np.asarray(allowed, dtype=bool), sims, -np.inf)
    mixed = (1.0 - weight) * u + weight * index[int(np.argmax(sims))]
    return (mixed / max(float(np.linalg.norm(mixed)), 1e-12) * norm).astype(np.float32)


class Understanding:
    """Mixin for the engine: ``known_captions`` (set when loading a model folder) and the
    queries against it.  Needs ``encode_text`` from the engine."""

    known_captions: list[str] | None = None
    known_motions: list[str] | None = None
    known_threshold: float = KNOWN_THRESHOLD
    _caption_index: np.ndarray | None = None
    _caption_marks: list | None = None

    def caption_index(self) -> np.ndarray | None:
        """Unit-norm embeddings of ``known_captions`` (computed on first use, then kept)."""
        if not self.known_captions:
            return None
        if self._caption_index is None:
            rows = [self.encode_text(self.known_captions[i:i + 256])
                    for i in range(0, len(self.known_captions), 256)]
            self._caption_index = normalized_rows(np.concatenate(rows, 0))
        return self._caption_index

    def allowed_captions(self, text: str | None) -> np.ndarray | None:
        """Bool (N,) over ``known_captions``: those :func:`compatible` with the side and hands
        ``text`` names; None (all) when it names neither or no caption is compatible."""
        marks = wording_marks(text) if text else (None, None)
        if marks == (None, None) or not self.known_captions:
            return None
        if self._caption_marks is None:
            self._caption_marks = [wording_marks(c) for c in self.known_captions]
        ok = np.array([compatible(marks, m) for m in self._caption_marks], dtype=bool)
        return ok if ok.any() else None

    def understood(self, text: str, k: int = 3) -> list[tuple[str, float]]:
        """The ``k`` nearest training captions to ``text`` (that do not name the other side or
        number of hands) with their cosine similarity, best first; ``[]`` when the model has
        no caption index."""
        index = self.caption_index()
        if index is None:
            return []
        return nearest(self.encode_text([text])[0], index, self.known_captions, k,
                       self.allowed_captions(text))

    def prompt_embeddings(self, texts, snap: float = 0.0) -> np.ndarray:
        """(B, D) text conditions of ``texts``: their embeddings, each moved ``snap`` of the
        way toward its nearest training caption (``SamplingOptions.prompt_snap``; no change
        for a model without a caption index)."""
        texts = list(texts)
        return self.snap_embeddings(self.encode_text(texts), snap, texts)

    def snap_embeddings(self, embeddings: np.ndarray, snap: float,
                        texts: list[str] | None = None) -> np.ndarray:
        """(B, D) prompt embeddings, each moved ``snap`` toward its nearest training caption
        (the nearest :meth:`allowed_captions` of its text, when ``texts`` are given);
        unchanged for a model without a caption index or with ``snap`` 0."""
        index = self.caption_index() if snap > 0 else None
        if index is None:
            return embeddings
        texts = list(texts) if texts is not None else [None] * len(embeddings)
        return np.stack([snap_toward(e, index, snap, self.allowed_captions(t))
                         for e, t in zip(embeddings, texts)])

    def prompt_report(self, text: str, k: int = 3) -> dict:
        """``{"nearest": [(caption, similarity), ...], "known": bool | None, "threshold"}``;
        ``known`` is None (unknown) for a model without a caption index."""
        near = self.understood(text, k)
        known = None if not near else bool(near[0][1] >= self.known_threshold)
        return {"nearest": near, "known": known, "threshold": self.known_threshold}

    def understood_record(self, text: str | None, embedding=None) -> list | None:
        """``[caption, similarity]`` of the nearest caption to ``text`` (or to its already
        computed ``embedding``), for ``Motion.info``; None without text or index."""
        if not text and embedding is None:
            return None
        index = self.caption_index()
        if index is None:
            return None
        vec = self.encode_text([text])[0] if embedding is None else np.asarray(embedding)
        caption, sim = nearest(vec, index, self.known_captions, 1, self.allowed_captions(text))[0]
        return [caption, sim]


__all__ = ["CAPTIONS_FILE", "EMBEDDINGS_FILE", "KNOWN_THRESHOLD", "Understanding", "read_caption_index",
           "read_caption_embeddings", "write_caption_index", "nearest", "normalized_rows", "snap_toward",
           "wording_marks", "compatible"]
