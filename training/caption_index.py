"""Write a model folder's caption index (``captions.json``): the distinct training captions.

    python -m training.caption_index --captions ../shared/data/bandai-namco/captions.json \\
        --src ../shared/data/bandai-namco --out bamm_core/models/default/captions.json

The (content, style) labels come from the take names found in ``--src`` (a folder of ``.bvh``
takes, an archive, or a folder of archives: only the member names are read, nothing is
unpacked); for each label pair every caption the scheme can render
(:meth:`~training.captions.CaptionScheme.combinations`) is listed, and for the mirrored copies
(as :mod:`training.prepare_bvh` makes them) the mirrored captions too.  ``--paraphrases`` (a
scheme the token models were also trained on, :mod:`training.paraphrases`) adds each of its
content phrases once, without styles.  Without ``--src`` every
(content, style) combination of the scheme is listed.  ``--templates`` keeps some of the
scheme's templates (default: the first, "a person {content} {adverbial}."): the others only
swap the subject ("someone", "the person", "a happy person"), which the text encoder maps
close to it.  The list is embedded here with the model's own text encoder into
``captions.npy`` (``--no-embeddings``: the engine embeds it at its first prompt), which the
engine compares prompts to, to report what a prompt was understood as
(:mod:`bamm_core.generation.understanding`).
"""
from __future__ import annotations

import argparse
import tarfile
import zipfile
from pathlib import Path

from bamm_core.generation.understanding import CAPTIONS_FILE, write_caption_index

from .captions import CaptionScheme, parse_take_name
from .prepare_bvh import ARCHIVE_SUFFIXES


def take_names(src: Path) -> list[str]:
    """The ``.bvh`` member/file names under ``src`` (folder, archive, or folder of archives)."""
    def from_archive(a: Path) -> list[str]:
        if a.name.lower().endswith(".zip"):
            with zipfile.ZipFile(a) as z:
                return z.namelist()
        with tarfile.open(a) as t:
            return t.getnames()

    is_archive = lambda p: p.is_file() and p.name.lower().endswith(ARCHIVE_SUFFIXES)  # noqa: E731
    if is_archive(src):
        names = from_archive(src)
    elif src.is_dir():
        names = [str(p) for p in src.rglob("*.bvh")]
        for a in sorted(p for p in src.iterdir() if is_archive(p)):
            names += from_archive(a)
    else:
        raise ValueError(f"--src {src} is neither a folder nor an archive ({', '.join(ARCHIVE_SUFFIXES)})")
    return sorted({Path(n).stem for n in names if n.lower().endswith(".bvh")})


def label_pairs(scheme: CaptionScheme, names: list[str] | None) -> list[tuple[str, str]]:
    """Distinct canonical (content, style) pairs of the takes the scheme knows (all pairs
    when ``names`` is None)."""
    if names is None:
        return [(c, s) for c in scheme.contents for s in scheme.styles]
    pairs = set()
    for n in names:
        try:
            take = parse_take_name(n)
        except ValueError:
            continue
        if scheme.has(take.content, take.style):
            pairs.add((scheme.canonical(take.content), scheme.canonical(take.style)))
    return sorted(pairs)


def caption_list(scheme: CaptionScheme, pairs: list[tuple[str, str]], mirror: bool = True) -> list[str]:
    """Every distinct caption of ``pairs`` (and of their mirrored takes), in a fixed order."""
    out: dict[str, None] = {}
    for content, style in pairs:
        for cap in scheme.combinations(content, style):
            out[cap] = None
        if mirror:
            if content in scheme.swap_contents:
                caps = scheme.combinations(scheme.swap_contents[content], style)
            else:
                caps = [scheme.swap_sides(c) for c in scheme.combinations(content, style)]
            for cap in caps:
                out[cap] = None
    return list(out)


def phrase_list(scheme: CaptionScheme, contents: list[str]) -> list[str]:
    """Every phrase the scheme has for ``contents``, each once, in its first template with no
    style ("a person backs up."): the wordings a paraphrase scheme taught the model."""
    out: dict[str, None] = {}
    for content in contents:
        for phrase in scheme.contents.get(scheme.canonical(content), []):
            out[scheme.render(scheme.templates[0], phrase, "")] = None
    return list(out)


def motion_list(scheme: CaptionScheme, pairs: list[tuple[str, str]], mirror: bool = True) -> list[str]:
    """One phrase per content label of ``pairs`` (and their mirrors): "walks forward", ..."""
    contents = dict.fromkeys(c for c, _ in pairs)
    if mirror:
        contents.update(dict.fromkeys(scheme.swap_contents.get(c, c) for c in list(contents)))
    return [scheme.contents[c][0] for c in contents]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m training.caption_index", description=__doc__.split("\n")[0])
    p.add_argument("--captions", required=True, type=Path, help="the caption scheme (captions.json)")
    p.add_argument("--src", type=Path, help="takes (folder/archive/folder of archives) whose labels to use; "
                   "default: every (content, style) pair of the scheme")
    p.add_argument("--templates", default="0",
                   help="comma-separated indices of the scheme's templates to use, or 'all' (default 0)")
    p.add_argument("--paraphrases", type=Path, default=None,
                   help="also list every content phrase of this scheme (e.g. training/paraphrases.json) once")
    p.add_argument("--no-mirror", action="store_true", help="the model was trained without mirrored takes")
    p.add_argument("--out", required=True, type=Path, help="output captions.json (in the model folder)")
    p.add_argument("--no-embeddings", action="store_true",
                   help="do not write captions.npy (the engine then embeds the list on first use)")
    a = p.parse_args(argv)
    if a.out.name != CAPTIONS_FILE:
        p.error(f"--out must name the model folder's {CAPTIONS_FILE}, got {a.out}")
    scheme = CaptionScheme.load(a.captions)
    if a.templates != "all":
        scheme.templates = [scheme.templates[int(i)] for i in a.templates.split(",")]
    pairs = label_pairs(scheme, take_names(a.src) if a.src else None)
    caps = caption_list(scheme, pairs, mirror=not a.no_mirror)
    motions = motion_list(scheme, pairs, mirror=not a.no_mirror)
    if a.paraphrases is not None:
        contents = list(dict.fromkeys(c for c, _ in pairs))
        if not a.no_mirror:
            contents += [scheme.swap_contents[c] for c in contents if c in scheme.swap_contents]
        known = set(caps)
        caps += [c for c in phrase_list(CaptionScheme.load(a.paraphrases), contents) if c not in known]
    encode = None
    if not a.no_embeddings:  # the model's own text encoder, as the engine would embed them
        from bamm_core.generation.engine import Engine

        encode = Engine.from_pretrained(a.out.parent).encode_text
    write_caption_index(a.out.parent, caps, motions, encode)
    print(f"{len(caps)} captions from {len(pairs)} (content, style) pairs -> {a.out} "
          f"({a.out.stat().st_size / 1024:.0f} KiB)" + ("" if encode is None else " + captions.npy"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
