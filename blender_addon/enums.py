"""Enum items and property limits built from the engine's registries and timebase.

The refinement enum lists :data:`bamm_core.generation.refinement.STRATEGIES`, the rig-preset
enum the rig preset registry (between *Auto-detect* and *Custom JSON map*), so a strategy or
preset added to the engine shows up here.  The enums are dynamic (``items=`` callbacks):
registering the add-on imports no torch or scipy (the registries import neither).

Each list keeps the engine's default as enum value 0 (a dynamic enum's default), whatever
its position in the menu.
"""
from __future__ import annotations

from .core import submodule
from .engine_loader import ui_timebase

AUTO, CUSTOM = "AUTO", "CUSTOM"
_cache: dict[str, list] = {}  # Blender needs the returned strings kept alive


def _numbered(entries, default: str) -> list[tuple[str, str, str, int]]:
    """(identifier, label, description) -> enum items whose ``default`` has value 0."""
    out, n = [], 1
    for ident, label, desc in entries:
        if ident == default:
            out.append((ident, label, desc, 0))
        else:
            out.append((ident, label, desc, n))
            n += 1
    return out


def refine_entries() -> list[tuple[str, str, str]]:
    """(name, label, description) of every refinement strategy."""
    reg = submodule("generation.refinement").STRATEGIES
    return [(s.name, s.label, s.description) for s in reg.values()]


def default_options():
    """The engine's default SamplingOptions (torch-free to import)."""
    return submodule("generation.options").SamplingOptions()


def default_refine() -> str:
    return default_options().refine


def default_guidance() -> tuple[float, float]:
    """(first pass, refinement pass) guidance defaults for the Guidance properties."""
    o = default_options()
    return o.cfg, o.refine_cfg


def preset_entries() -> list[tuple[str, str, str]]:
    """(name, label, description) of every built-in rig preset, in detection order."""
    presets = submodule("rigs.presets").registry()
    return [(p.name, p.label, p.description or p.label) for p in presets.values()]


def refine_items(self=None, context=None) -> list:
    if "refine" not in _cache:  # the registry imports no torch: listed before Install Dependencies
        _cache["refine"] = _numbered(refine_entries(), default_refine())
    return _cache["refine"]


def preset_items(self=None, context=None) -> list:
    if "preset" not in _cache:
        try:
            entries = preset_entries()
        except ImportError:
            return _numbered([_AUTO_ITEM, _CUSTOM_ITEM], AUTO)
        _cache["preset"] = _numbered([_AUTO_ITEM, *entries, _CUSTOM_ITEM], AUTO)
    return _cache["preset"]


_AUTO_ITEM = (AUTO, "Auto-detect", "Pick the preset that matches most bone names")
_CUSTOM_ITEM = (CUSTOM, "Custom JSON map", "A bone map loaded from a JSON file")


def identifiers(items) -> list[str]:
    return [it[0] for it in items]


# ---------------------------------------------------------------------- property limits
def limits() -> dict[str, float]:
    """Soft limits (seconds) for the length and extend properties, from the UI timebase;
    the operators check values against the configured model's own timebase."""
    tb = ui_timebase()
    return {"min_seconds": tb.frames_to_seconds(tb.frames_per_token), "max_seconds": tb.max_seconds,
            "max_extend_seconds": tb.frames_to_seconds(tb.max_extend_frames)}
