"""BAMM Motion engine: text-to-motion with Bidirectional Autoregressive Motion Models.

Pure Python + torch + numpy; never imports bpy.  The public entry point is
:class:`bamm_core.generation.engine.Engine` (re-exported here lazily, with
:class:`~bamm_core.motion.clip.Motion`, the sampling options and the timebase, so that
importing the motion-representation helpers does not pay for torch).
"""

__version__ = "0.1.0"

__all__ = ["Engine", "Motion", "SamplingOptions", "Segment", "Timebase", "__version__"]

_LAZY = {"Engine": "generation.engine", "Motion": "motion.clip",
         "SamplingOptions": "generation.options", "Segment": "generation.compose",
         "Timebase": "motion.timebase"}


def __getattr__(name):  # lazy re-export: `from bamm_core import Engine`
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'bamm_core' has no attribute {name!r}")
