"""What the model understood a prompt as, on stderr; the motions a model knows, for ``bamm info``.

    understood as: "a person walks forward." (0.91)
    warning: "a person sits down" is far from every motion this model was trained on
      (best 0.47 < 0.70); see `bamm info` for what it knows
"""
from __future__ import annotations

import sys

from .progress import say


def understood_lines(report: dict, prompt: str) -> tuple[str | None, str | None]:
    """(the "understood as" line or None, the warning line or None) of a prompt report."""
    if not report.get("nearest"):
        return None, None
    caption, sim = report["nearest"][0]
    line = f'understood as: "{caption}" ({sim:.2f})'
    if report.get("known") is False:
        return line, (f'warning: "{prompt}" is far from every motion this model was trained on '
                      f"(best {sim:.2f} < {report['threshold']:.2f}); see `bamm info` for what it knows")
    return line, None


def report_prompts(eng, prompts: list[str], quiet: bool) -> None:
    """For each prompt: the "understood as" line (unless ``quiet``), and a warning (always)
    when the prompt is far from everything the model knows."""
    for prompt in prompts:
        line, warning = understood_lines(eng.prompt_report(prompt), prompt)
        if line is not None:
            say(quiet, line if len(prompts) == 1 else f'"{prompt}" {line}')
        if warning is not None:
            print(warning, file=sys.stderr)


def known_motions(eng) -> dict:
    """For ``bamm info``: the motions the model was trained on (from its caption index)."""
    if not eng.known_captions:
        return {"known_motions": "unknown (the model folder has no captions.json)"}
    return {"known_motions": ", ".join(eng.known_motions or []) or "(not listed)",
            "training_captions": len(eng.known_captions)}


__all__ = ["understood_lines", "report_prompts", "known_motions"]
