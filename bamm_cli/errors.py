"""User errors: problems the user can fix, shown as ONE line without a traceback.

The engine and the file-format layer report bad input with ``ValueError`` (and
:class:`~bamm_core.formats.motion_file.MotionFileError`, one of them) or a text-encoder
setup error; :func:`user_errors` turns those into :class:`UserError` around the calls
that receive the user's input, so that anything else (a bug) keeps its traceback.
"""
from __future__ import annotations

import contextlib
from typing import Iterator


class UserError(Exception):
    """A problem with the user's input; ``bamm`` prints it as one line and exits with 1."""


def one_line(error: BaseException | str) -> str:
    """An error message on one line (engine messages may span several)."""
    return " ".join(str(error).split())


@contextlib.contextmanager
def user_errors(prefix: str = "") -> Iterator[None]:
    """Inside the block, the engine's ValueErrors and text-encoder errors are the user's."""
    from bamm_core.model.text_encoders import TextEncoderError

    try:
        yield
    except (ValueError, TextEncoderError) as e:
        raise UserError(prefix + one_line(e)) from None


def training_module(name: str, command: str):
    """``training.<name>`` for the ``bamm <command>`` that needs it (the training package of
    a source checkout), or a UserError saying so."""
    import importlib

    try:
        return importlib.import_module(f"training.{name}")
    except ImportError as e:
        raise UserError(f"bamm {command} needs the training package of a source checkout ({e})") from None


__all__ = ["training_module", "UserError", "one_line", "user_errors"]
