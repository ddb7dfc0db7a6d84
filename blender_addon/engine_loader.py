"""The one engine loader: which model the add-on uses, its timebase, the cached engine.

Everything that needs the engine -- the operators, ``scripts/bake.py`` -- goes through
:func:`engine_loader` / :func:`preload`, which read the add-on preferences (model choice:
bundled, the paper's model in the model cache, or a folder; device, CLIP weights) here and
nowhere else.  :func:`configure` sets those preferences for a
script (``bake.py --model DIR --device cpu``).  The engine is loaded once per setting and kept
(one model in memory at a time).
"""
from __future__ import annotations

import os
from dataclasses import dataclass

from .core import submodule
from .rig import UserError

_engine_cache: dict = {}
_engine_override = None  # see set_engine_override
DEVICES = ("AUTO", "CPU", "CUDA", "MPS")  # the preference's choices (resolve_device names)


def set_engine_override(engine) -> None:
    """TEST HOOK: make the operators use ``engine`` (any object with the Engine API) instead
    of loading the model from the preferences.  ``None`` restores normal loading."""
    global _engine_override
    _engine_override = engine


@dataclass(frozen=True)
class ModelSettings:
    """Absolute model folder ("" = the bundled model), device name, CLIP weights file, and
    the choice it came from (BUNDLED, OFFICIAL, FOLDER)."""

    folder: str = ""
    device: str = "AUTO"
    clip_weights: str = ""
    source: str = "FOLDER"


def prefs(context):
    addon = context.preferences.addons.get(__package__)
    return addon.preferences if addon else None


def model_settings(context) -> ModelSettings:
    """The add-on preferences' model settings (paths made absolute; *Official* is the
    download's folder in the model cache, with its CLIP weights unless others are set)."""
    import bpy

    p = prefs(context)
    if p is None:
        return ModelSettings()
    clip = bpy.path.abspath(p.clip_weights) if p.clip_weights else ""
    if p.model_source == "OFFICIAL":
        downloads = submodule("model.downloads")
        cached = downloads.official_clip()
        return ModelSettings(str(downloads.official_dir()), p.device,
                             clip or (str(cached) if cached else ""), "OFFICIAL")
    folder = bpy.path.abspath(p.model_folder) if p.model_folder and p.model_source == "FOLDER" else ""
    return ModelSettings(folder, p.device, clip, p.model_source)


def _require_download(s: ModelSettings) -> None:
    if s.source == "OFFICIAL" and not submodule("model.downloads").is_installed(s.folder):
        raise UserError("The paper's model is not downloaded yet: Preferences › Add-ons › BAMM Motion › "
                        "Download the paper's model (or choose another model there)")


def configure(context, model: str | None = None, device: str | None = None,
              clip_weights: str | None = None) -> None:
    """Set the preferences a script asks for (None: keep the current value); ValueError
    for an unknown device name or when the add-on has no preferences."""
    p = prefs(context)
    if p is None:
        if model is device is clip_weights is None:
            return
        raise ValueError("the add-on has no preferences to take a model, device or CLIP weights")
    if device is not None:
        match = [d for d in DEVICES if d.lower() == str(device).strip().lower()]
        if not match:
            raise ValueError(f"device must be one of {', '.join(d.lower() for d in DEVICES)}, "
                             f"got {device!r}")
        p.device = match[0]
    if model is not None and model == "official" and not os.path.exists(model):
        p.model_source = "OFFICIAL"  # the paper's model (bake.py --model official)
    elif model is not None:
        p.model_folder = os.path.abspath(model)
        p.model_source = "FOLDER"
    if clip_weights is not None:
        p.clip_weights = os.path.abspath(clip_weights)


def load_engine(model_folder: str = "", device: str = "AUTO", clip_weights: str = ""):
    """The engine for these settings (loaded once, then cached)."""
    if _engine_override is not None:
        return _engine_override
    if clip_weights:
        os.environ["BAMM_CLIP_WEIGHTS"] = clip_weights
    dev = submodule("model.devices").resolve_device(device)
    key = (model_folder, dev, clip_weights)
    if key not in _engine_cache:
        engine_mod = submodule("generation.engine")
        _engine_cache.clear()  # one model in memory at a time
        _engine_cache[key] = engine_mod.Engine.from_pretrained(path=model_folder or None, device=dev)
    return _engine_cache[key]


def engine_loader(context):
    """A callable returning the engine (called in the worker thread); the settings are read
    now, on the main thread.  UserError if the engine's dependencies are missing."""
    from . import dependencies

    if _engine_override is None:
        ready, msg = dependencies.status()
        if not ready:
            raise UserError(msg)
    s = model_settings(context)
    _require_download(s)
    return lambda: load_engine(s.folder, s.device, s.clip_weights)


def preload(context):
    """Load the engine (and its lazily loaded text encoder) now, e.g. before a batch.
    A model that cannot load raises here."""
    engine = engine_loader(context)()
    if hasattr(engine, "encode_text"):
        engine.encode_text(["a person walks forward"])
    return engine


def model_timebase(context):
    """The configured model's :class:`Timebase` (from its config, no weights loaded);
    UserError when the model's settings cannot be read."""
    if _engine_override is not None:
        return getattr(_engine_override, "timebase", None) or ui_timebase()
    ck = submodule("model.checkpoints")
    s = model_settings(context)
    _require_download(s)
    folder = s.folder
    try:
        return ck.read_timebase(folder or None)
    except (ck.CheckpointError, OSError, ValueError) as e:
        raise UserError(f"cannot read the model's settings ({folder or 'bundled model'}): {e}") from None


def ui_timebase():
    """The timebase the properties' soft limits show (the released models'; needs no torch)."""
    return submodule("motion.timebase").HUMANML3D
