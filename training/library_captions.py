"""Captions of a BVH library, whichever form the library has them in (for :mod:`.library`).

* a sidecar ``TAKE.txt`` beside ``TAKE.bvh``: one caption per line, or HumanML3D lines
  ``caption#tokens#start#end`` (start/end in seconds: a sub-clip; 0 0 = the whole take);
* a CSV/TSV with columns ``file,caption`` (a header row is optional; several rows per file =
  several captions; ``file`` is the take's path relative to SRC or its bare name, with or
  without ``.bvh``);
* a JSON ``{file: [captions]}`` (or ``{file: caption}``);
* the label scheme (``captions.json`` with ``templates``/``contents``/``styles``: takes named
  ``dataset-N_content_style_id``, captions drawn by :class:`.captions.CaptionScheme`).
"""
from __future__ import annotations

import csv
import json
import re
from dataclasses import dataclass
from pathlib import Path

from .captions import CaptionScheme, parse_text_line

CAPTION_FILES = ("captions.csv", "captions.tsv", "captions.json")


@dataclass(frozen=True)
class Caption:
    text: str
    start: float = 0.0
    end: float = 0.0


def parse_caption(line: str) -> Caption | None:
    """One caption line (plain text or a HumanML3D line); None for a blank line."""
    text, _, start, end = parse_text_line(line)
    text = " ".join(text.split())
    return Caption(text, start, end) if text else None


def swap_sides(text: str) -> str:
    """The caption of the mirrored motion: left <-> right, clockwise <-> counterclockwise."""
    pairs = {"left": "right", "right": "left", "clockwise": "counterclockwise",
             "counterclockwise": "clockwise", "counter-clockwise": "clockwise",
             "anticlockwise": "clockwise", "anti-clockwise": "clockwise"}
    pat = re.compile(r"\b(" + "|".join(sorted(map(re.escape, pairs), key=len, reverse=True)) + r")\b", re.I)

    def repl(m):
        w = pairs[m.group(1).lower()]
        return w.capitalize() if m.group(1)[0].isupper() else w
    return pat.sub(repl, text)


def sidecar_captions(bvh: Path) -> list[Caption]:
    """Captions of the ``TAKE.txt`` beside ``TAKE.bvh`` (empty if there is none)."""
    txt = bvh.with_suffix(".txt")
    if not txt.is_file():
        return []
    lines = txt.read_text(encoding="utf-8", errors="replace").splitlines()
    return [c for c in map(parse_caption, lines) if c is not None]


def is_label_scheme(data) -> bool:
    return isinstance(data, dict) and {"templates", "contents", "styles"} <= set(data)


class TakeIndex:
    """Resolves a caption file's ``file`` entries to take keys (relative paths without .bvh)."""

    def __init__(self, keys: list[str]):
        self.keys = set(keys)
        self.by_stem: dict[str, list[str]] = {}
        for k in keys:
            self.by_stem.setdefault(k.rsplit("/", 1)[-1].lower(), []).append(k)
        self.lower = {k.lower(): k for k in keys}

    def resolve(self, ref: str) -> str | None:
        ref = ref.strip().replace("\\", "/")
        while ref.startswith("./"):
            ref = ref[2:]
        if ref.lower().endswith(".bvh"):
            ref = ref[:-4]
        if ref.lower() in self.lower:
            return self.lower[ref.lower()]
        hits = self.by_stem.get(ref.rsplit("/", 1)[-1].lower(), [])
        if len(hits) == 1:
            return hits[0]
        matches = [k for k in hits if k.lower().endswith("/" + ref.lower())]
        return matches[0] if len(matches) == 1 else None


def _table_rows(path: Path) -> list[tuple[str, str]]:
    delim = "\t" if path.suffix.lower() in (".tsv", ".tab") else ","
    with path.open(newline="", encoding="utf-8-sig") as f:
        rows = [r for r in csv.reader(f, delimiter=delim) if r and any(c.strip() for c in r)]
    if not rows:
        return []
    head = [c.strip().lower() for c in rows[0]]
    fcol, ccol = 0, 1
    if any(h in ("file", "filename", "take", "path", "name") for h in head):
        fcol = next(i for i, h in enumerate(head) if h in ("file", "filename", "take", "path", "name"))
        ccol = next((i for i, h in enumerate(head) if h in ("caption", "text", "description", "label")),
                    1 if fcol == 0 else 0)
        rows = rows[1:]
    out = []
    for n, r in enumerate(rows, start=2):
        if len(r) <= max(fcol, ccol):
            raise ValueError(f"{path}: row {n} has no caption column (expected file{delim}caption)")
        out.append((r[fcol], r[ccol]))
    return out


def load_caption_file(path: Path, index: TakeIndex) -> dict[str, list[Caption]] | CaptionScheme:
    """``{take key: [Caption]}`` from a CSV/TSV/JSON file, or the :class:`CaptionScheme` of a
    label scheme.  ValueError when the file names takes the library does not have."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"caption file {path} not found")
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as e:
            raise ValueError(f"{path} is not valid JSON: {e}") from None
        if is_label_scheme(data):
            return CaptionScheme(data)
        if not isinstance(data, dict):
            raise ValueError(f"{path}: expected a JSON object {{file: [captions]}}")
        rows = [(k, c) for k, v in data.items() for c in ([v] if isinstance(v, str) else list(v))]
    elif path.suffix.lower() in (".csv", ".tsv", ".tab", ".txt"):
        rows = _table_rows(path)
    else:
        raise ValueError(f"caption file {path}: use .csv, .tsv or .json")
    out: dict[str, list[Caption]] = {}
    unknown: list[str] = []
    for ref, text in rows:
        key = index.resolve(str(ref))
        if key is None:
            unknown.append(str(ref))
            continue
        cap = parse_caption(str(text))
        if cap is not None:
            out.setdefault(key, []).append(cap)
    if unknown:
        shown = ", ".join(sorted(set(unknown))[:5]) + (" ..." if len(set(unknown)) > 5 else "")
        raise ValueError(f"{path} names {len(set(unknown))} take(s) that are not in the library: {shown}")
    return out


def find_caption_file(src: Path) -> Path | None:
    """``captions.csv|tsv|json`` in SRC (or beside an archive / in SRC's parent)."""
    base = src if src.is_dir() else src.parent
    for folder in (base, base.parent):
        for name in CAPTION_FILES:
            if (folder / name).is_file():
                return folder / name
    return None


__all__ = ["Caption", "parse_caption", "swap_sides", "sidecar_captions", "TakeIndex",
           "load_caption_file", "find_caption_file", "is_label_scheme", "CAPTION_FILES"]
