"""Captions for labelled mocap takes, and HumanML3D text-file lines.

The Bandai Namco takes are named ``dataset-{1,2}_{content}_{style}_{id}`` and come with a
caption scheme (``captions.json``: content phrases, style phrases, templates, mirror rules).
:func:`captions_for_take` draws several *distinct* captions per take, deterministically from
an RNG seeded by the file name; mirrored takes (HumanML3D's ``M`` prefix) swap the sided
content labels and the words left/right.

HumanML3D stores one caption per line as ``caption#tok/POS tok/POS ...#start#end``; we tag the
words with a small rule-based tagger (:func:`pos_tag`) - no NLTK/spaCy downloads.
"""
from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class TakeName:
    dataset: str
    content: str
    style: str
    take_id: str
    mirrored: bool = False

    @property
    def stem(self) -> str:
        return ("M" if self.mirrored else "") + f"{self.dataset}_{self.content}_{self.style}_{self.take_id}"


_TAKE_RE = re.compile(r"^(M?)(dataset-\d+)_(.+)_([^_]+)_(\d+)$")


def parse_take_name(name: str) -> TakeName:
    """``"dataset-2_walk-turn-left_normal_006"`` -> TakeName(...).  Raises ValueError."""
    stem = Path(name).stem
    m = _TAKE_RE.match(stem)
    if not m:
        raise ValueError(f"take name {stem!r} is not of the form dataset-N_content_style_id")
    return TakeName(m.group(2), m.group(3), m.group(4), m.group(5), mirrored=bool(m.group(1)))


_VOWELS = set("aeiou")


def verb_forms(phrase: str) -> tuple[str, str]:
    """A third-person phrase in its base and -ing forms: ``"walks forward"`` -> (``"walk
    forward"``, ``"walking forward"``); a third-person verb right after "and" or "then" changes
    too (``"bows and rises"`` -> ``"bow and rise"``).  Only the verbs are changed."""
    words, base, ing = phrase.split(" "), [], []
    for i, w in enumerate(words):
        core, tail = (w[:-1], w[-1]) if w.endswith(",") else (w, "")
        if i == 0 or words[i - 1].rstrip(",") in ("and", "then") and core.endswith("s"):
            b = _base_form(core)
            base.append(b + tail)
            ing.append(_ing_form(b) + tail)
        else:
            base.append(w)
            ing.append(w)
    return " ".join(base), " ".join(ing)


def _base_form(verb: str) -> str:
    irregular = {"does": "do", "goes": "go", "has": "have", "is": "be"}
    if verb in irregular:
        return irregular[verb]
    if re.search(r"(ch|sh|ss|x|z)es$", verb):
        return verb[:-2]
    if verb.endswith("ies") and len(verb) > 4:
        return verb[:-3] + "y"
    return verb[:-1] if verb.endswith("s") else verb


def _ing_form(verb: str) -> str:
    if verb.endswith("ie"):
        return verb[:-2] + "ying"
    if verb.endswith("e") and not verb.endswith(("ee", "ye", "oe")) and verb != "be":
        return verb[:-1] + "ing"
    vowel_groups = re.findall(r"[aeiou]+", verb)
    if (len(vowel_groups) == 1 and len(vowel_groups[0]) == 1 and len(verb) >= 3
            and verb[-1] not in _VOWELS | set("wxy") and verb[-2] in _VOWELS):
        return verb + verb[-1] + "ing"  # run -> running, jog -> jogging
    return verb + "ing"


class CaptionScheme:
    """Wraps ``captions.json`` (see its ``render_rules``)."""

    def __init__(self, data: dict):
        self.data = data
        self.templates: list[str] = data["templates"]
        self.contents: dict[str, list[str]] = data["contents"]
        self.styles: dict[str, dict[str, list[str]]] = data["styles"]
        self.aliases: dict[str, str] = data.get("label_aliases", {})
        mirror = data.get("mirror", {})
        self.swap_contents: dict[str, str] = mirror.get("swap_contents", {})
        self.swap_words: list[list[str]] = mirror.get("swap_words", [["left", "right"]])

    @classmethod
    def load(cls, path: str | Path) -> "CaptionScheme":
        return cls(json.loads(Path(path).read_text()))

    def canonical(self, label: str) -> str:
        return self.aliases.get(label, label)

    def has(self, content: str, style: str) -> bool:
        return self.canonical(content) in self.contents and self.canonical(style) in self.styles

    # -- rendering ----------------------------------------------------------------------------
    @staticmethod
    def _tidy(text: str) -> str:
        text = re.sub(r"\s+", " ", text).strip()
        return re.sub(r"\s+([.,])", r"\1", text)

    def render(self, template: str, content: str, style_phrase: str) -> str:
        """One caption: ``template`` filled with a content phrase (and its verb forms) and a
        style phrase (the adverbial or the subject, whichever slot the template has)."""
        base, ing = verb_forms(content)
        return self._tidy(template.format(content=content, content_base=base, content_ing=ing,
                                          adverbial=style_phrase, subject=style_phrase))

    def combinations(self, content: str, style: str) -> list[str]:
        """Every distinct caption the scheme can make for (content, style), in a fixed order."""
        content, style = self.canonical(content), self.canonical(style)
        if content not in self.contents:
            raise KeyError(f"content label {content!r} not in the caption scheme")
        if style not in self.styles:
            raise KeyError(f"style label {style!r} not in the caption scheme")
        out: list[str] = []
        for tpl in self.templates:
            for c in self.contents[content]:
                slot = "subject" if "{subject}" in tpl else "adverbial"
                for s in self.styles[style][slot]:
                    cap = self.render(tpl, c, s)
                    if cap not in out:
                        out.append(cap)
        return out

    def swap_sides(self, text: str) -> str:
        for a, b in self.swap_words:
            text = re.sub(rf"\b({a}|{b})\b", lambda m: b if m.group(1) == a else a, text)
        return text

    def captions(self, content: str, style: str, key: str, n: int = 3,
                 mirrored: bool = False) -> list[str]:
        """``n`` distinct captions, drawn with an RNG seeded by ``key`` (e.g. the file name).

        Mirrored: sided contents (walk-left, wave-right-hand, ...) take their mirror label; the
        one-sided contents without a mirror label (bye, guide, respond, kick) get left/right
        swapped in the rendered text.
        """
        content = self.canonical(content)
        word_swap = False
        if mirrored:
            if content in self.swap_contents:
                content = self.swap_contents[content]
            else:
                word_swap = True
        pool = self.combinations(content, style)
        seed = int.from_bytes(hashlib.sha1(key.encode("utf-8")).digest()[:8], "little")
        rng = np.random.default_rng(seed)
        picks = rng.choice(len(pool), size=min(n, len(pool)), replace=False)
        caps = [pool[i] for i in sorted(picks)]
        if word_swap:
            caps = [self.swap_sides(c) for c in caps]
        return caps


# --- rule-based part-of-speech tags (Universal tagset, as in HumanML3D's texts) ------------------

_DET = {"a", "an", "the", "his", "her", "their", "its", "this", "that", "these", "those", "some",
        "each", "every", "both", "another", "all", "any", "several", "few"}
_PRON = {"someone", "somebody", "he", "she", "it", "they", "them", "him", "himself", "herself",
         "themselves", "something", "one", "person's"}
_ADP = {"with", "to", "at", "in", "of", "on", "toward", "towards", "without", "from", "as", "like",
        "beside", "above", "into", "onto", "over", "under", "by", "for", "about", "through",
        "across", "along", "behind", "around", "while", "near", "after", "before", "until"}
_CCONJ = {"and", "or", "but", "nor"}
_ADV = {"forward", "forwards", "backward", "backwards", "ahead", "up", "down", "again", "then",
        "very", "straight", "high", "around", "away", "far", "back", "out", "loudly", "not",
        "diagonally", "energetically", "twice", "once", "slowly", "quickly", "together", "apart",
        "sideways", "here", "there", "briskly", "normally"}
_ADJ = {"left", "right", "happy", "sad", "angry", "proud", "confident", "timid", "insecure",
        "masculine", "manly", "tough", "tough-looking", "feminine", "childish", "old", "elderly",
        "tired", "exhausted", "active", "youthful", "musical", "giant", "full", "quick", "high",
        "long", "short", "ordinary", "joyful", "good", "dejected", "drooping", "furious",
        "imaginary", "fighting", "little", "swaggering", "thuggish", "energetic", "cheerful", "straight", "graceful", "elegant",
        "lively", "young", "heavy", "small", "big", "large", "slow", "fast", "both", "first",
        "several", "weary", "boisterous", "rough", "delicate", "playful", "puffed", "far"}
_NOUN_S = {"hands", "arms", "legs", "steps", "feet", "punches", "slashes", "shoulders", "hips",
           "knees", "times", "fingers", "bows", "sides", "waves", "turns", "kicks", "jumps",
           "airs", "circles", "toes", "elbows", "wrists", "heels"}
_VERB_IRREGULAR = {"does": "do", "goes": "go", "has": "have", "is": "be", "puts": "put",
                   "takes": "take", "makes": "make", "raises": "raise", "waves": "wave",
                   "bows": "bow", "dances": "dance", "lifts": "lift", "lowers": "lower",
                   "throws": "throw", "swings": "swing", "performs": "perform", "feels": "feel",
                   "lacks": "lack", "extends": "extend", "gestures": "gesture", "points": "point",
                   "calls": "call", "leans": "lean", "shouts": "shout", "boxes": "box",
                   "punches": "punch", "slashes": "slash", "kicks": "kick", "bends": "bend",
                   "stands": "stand", "walks": "walk", "runs": "run", "jogs": "jog",
                   "sprints": "sprint", "dashes": "dash", "turns": "turn", "steps": "step",
                   "jumps": "jump", "sits": "sit", "says": "say", "brings": "bring",
                   "holds": "hold", "uses": "use", "spins": "spin", "moves": "move"}
_BASE_VERBS = {"say", "guide", "answer", "respond", "get", "show", "walk", "run", "wave", "jump",
               "turn", "raise", "kick", "bow", "dance", "lift", "stand", "sit", "drifting",
               "turning", "spinning", "swinging", "answering", "held", "raised", "puffed", "brought"}


def pos_tag(word: str, prev: str | None = None, prev_tag: str | None = None) -> tuple[str, str]:
    """(lemma, Universal POS tag) of one lower-case word, by small lexicons and suffix rules."""
    w = word.lower()
    if prev_tag in ("DET", "ADJ") and (w in _VERB_IRREGULAR or w in _BASE_VERBS) and not w.endswith("ing"):
        lemma = _VERB_IRREGULAR.get(w, w)
        return lemma, "NOUN"
    if re.fullmatch(r"\d+(\.\d+)?", w):
        return w, "NUM"
    if w in _DET and not (w == "both" and prev in (None,)):
        return w, "DET"
    if w in _PRON:
        return w, "PRON"
    if w in _CCONJ:
        return w, "CCONJ"
    if w in _ADP:
        return w, "ADP"
    if w in _VERB_IRREGULAR and w not in _NOUN_S:
        return _VERB_IRREGULAR[w], "VERB"
    if w in _VERB_IRREGULAR and prev in ("person", "someone", "man", "woman", "who", "and", "then"):
        return _VERB_IRREGULAR[w], "VERB"
    if w in _NOUN_S:
        lemma = "foot" if w == "feet" else re.sub(r"(ch|sh|x)es$", r"\1", w) if re.search(r"(ch|sh|x)es$", w) else w[:-1]
        return lemma, "NOUN"
    if w in _ADV:
        return w, "ADV"
    if w in _ADJ:
        return w, "ADJ"
    if w in _BASE_VERBS or w.endswith("ing") and len(w) > 4:
        return w, "VERB"
    if w.endswith("ly") and len(w) > 4:
        return w, "ADV"
    if prev in ("person", "someone", "man", "woman", "who") and w.endswith("s") and len(w) > 3:
        return (w[:-2] if re.search(r"(ch|sh|x|ss)es$", w) else w[:-1]), "VERB"
    if w.endswith(("ful", "ous", "ive", "ish", "ed")) and len(w) > 4:
        return w, "ADJ"
    return w, "NOUN"


def tag_caption(caption: str) -> str:
    """``"a person walks forward."`` -> ``"a/DET person/NOUN walk/VERB forward/ADV"``."""
    words = re.findall(r"[A-Za-z0-9]+(?:[-'][A-Za-z0-9]+)*", caption.lower())
    out, prev, prev_tag = [], None, None
    for w in words:
        lemma, tag = pos_tag(w, prev, prev_tag)
        out.append(f"{lemma}/{tag}")
        prev, prev_tag = w, tag
    return " ".join(out)


def text_line(caption: str, start: float = 0.0, end: float = 0.0) -> str:
    """One HumanML3D ``texts/*.txt`` line: ``caption#tok/POS ...#start#end``."""
    caption = caption.replace("#", " ").replace("\n", " ").strip()
    return f"{caption}#{tag_caption(caption)}#{start:.1f}#{end:.1f}"


def parse_text_line(line: str) -> tuple[str, list[str], float, float]:
    """Inverse of :func:`text_line` (also reads real HumanML3D/KIT lines)."""
    parts = line.rstrip("\n").split("#")
    caption = parts[0].strip()
    tokens = parts[1].split(" ") if len(parts) > 1 and parts[1] else []
    try:
        start = float(parts[2]) if len(parts) > 2 and parts[2] else 0.0
        end = float(parts[3]) if len(parts) > 3 and parts[3] else 0.0
    except ValueError:
        start = end = 0.0
    if start != start:  # NaN in some KIT files
        start = 0.0
    if end != end:
        end = 0.0
    return caption, tokens, start, end


__all__ = ["TakeName", "parse_take_name", "verb_forms", "CaptionScheme", "pos_tag", "tag_caption", "text_line",
           "parse_text_line"]
