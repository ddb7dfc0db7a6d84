"""The model the user chose (``--model``, ``--device``, ``--clip-weights``): its timebase
before anything is loaded, and loading it.

Every length limit of the command line comes from the model's
:class:`~bamm_core.motion.timebase.Timebase`; it is read from the model folder's config
first (cheap), so bad lengths and ranges are refused before the networks load.  The
loaded engine carries the same timebase and its sampling defaults
(``Engine.timebase``, ``Engine.default_options``).
"""
from __future__ import annotations

import os
from pathlib import Path

from bamm_core.motion.timebase import Timebase

from .errors import UserError, one_line
from .progress import slow_note


def _model_error(model: str | None, error: BaseException) -> UserError:
    msg = one_line(error)
    if model is None:
        hint = "" if "model folder" in msg else "; pass --model DIR"
        return UserError(f"cannot load the bundled default model: {msg}{hint}")
    return UserError(f"cannot load model {model!r}: {msg}")


def resolve_model(model: str | None) -> str | None:
    """``--model official`` -> the installed paper's model (an existing folder of that name
    wins); any other value unchanged."""
    from bamm_core.model import downloads

    try:
        return downloads.resolve_model(model)
    except ValueError as e:
        raise UserError(str(e)) from None


def _check_model_path(model: str | None) -> None:
    if model is not None and not Path(model).exists():
        raise UserError(f"model folder {model!r} not found")


def model_timebase(model: str | None) -> Timebase:
    """The timebase of ``model`` (None: the bundled default) without loading its networks."""
    model = resolve_model(model)
    _check_model_path(model)
    from bamm_core.model import checkpoints as ckpt

    try:
        return ckpt.read_timebase(model)
    except (ckpt.CheckpointError, OSError, ValueError) as e:
        raise _model_error(model, e) from None


def load_engine(model: str | None, device: str, quiet: bool, clip_weights: str | None = None):
    """``Engine.from_pretrained`` with the user's mistakes turned into :class:`UserError`;
    a downloaded paper's model brings its own CLIP weights (unless ``clip_weights`` is given)."""
    model = resolve_model(model)
    _check_model_path(model)
    if clip_weights is None and model is not None and Path(model).is_dir():
        from bamm_core.model.downloads import official_clip

        found = official_clip(model)
        clip_weights = str(found) if found else None
    if clip_weights is not None:
        if not Path(clip_weights).is_file():
            raise UserError(f"CLIP weights file {clip_weights!r} not found")
        os.environ["BAMM_CLIP_WEIGHTS"] = str(Path(clip_weights).resolve())
    from bamm_core.generation.engine import Engine
    from bamm_core.model.checkpoints import CheckpointError
    from bamm_core.model.devices import resolve_device

    try:
        device = resolve_device(device)
    except ValueError as e:
        raise UserError(f"--device: {one_line(e)}") from None
    # say what is going on only when loading is slow (so a bad model stays a one-line error)
    with slow_note(quiet, f"loading model {model or '(bundled default)'}..."):
        try:
            return Engine.from_pretrained(model, device=device)
        except (CheckpointError, FileNotFoundError, ValueError) as e:  # not a model, missing files
            raise _model_error(model, e) from None


__all__ = ["model_timebase", "load_engine", "resolve_model"]
