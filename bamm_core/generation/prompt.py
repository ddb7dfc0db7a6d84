"""The prompt check every front end shares (the engine makes the same check)."""
from __future__ import annotations


def check_prompt(text) -> str:
    """``text`` stripped; TypeError if it is not a string, ValueError if it is empty."""
    if not isinstance(text, str):
        raise TypeError(f"the prompt must be a string, got {type(text).__name__}")
    text = text.strip()
    if not text:
        raise ValueError('the prompt is empty: describe the motion, e.g. "a person walks forward"')
    return text


__all__ = ["check_prompt"]
