"""The judge's class of a prepared take: its content label from the take name.

Mirrored takes (``M<name>``) swap sided labels (walk-left <-> walk-right, ...) and the two
dance lengths are one class.  One-sided gestures (bye, guide, respond, kick) keep their label
on a mirror (the scheme's own rule), so their side is not part of the class.
"""
from __future__ import annotations

from ..captions import parse_take_name

SWAP = {"walk-left": "walk-right", "walk-turn-left": "walk-turn-right",
        "wave-left-hand": "wave-right-hand", "raise-up-left-hand": "raise-up-right-hand"}
SWAP.update({v: k for k, v in list(SWAP.items())})
MERGE = {"dance-short": "dance", "dance-long": "dance"}

#: The classes, in a fixed order (index = classifier output).
CLASSES: tuple[str, ...] = (
    "walk", "run", "dash", "walk-back", "walk-left", "walk-right", "walk-turn-left",
    "walk-turn-right", "bow", "bye", "byebye", "guide", "respond", "call", "punch", "kick",
    "slash", "dance", "wave-both-hands", "wave-left-hand", "wave-right-hand",
    "raise-up-both-hands", "raise-up-left-hand", "raise-up-right-hand")


def class_of(name: str) -> str:
    """Class of a prepared motion name (``[M]dataset-N_content_style_id``)."""
    take = parse_take_name(name)
    content = MERGE.get(take.content, take.content)
    if take.mirrored:
        content = SWAP.get(content, content)
    if content not in CLASSES:
        raise ValueError(f"{name}: content {content!r} is not a judge class")
    return content


__all__ = ["CLASSES", "class_of"]
