"""BAMM Motion engine: text-to-motion with Bidirectional Autoregressive Motion Models.

Pure Python + torch + numpy; never imports bpy.  The public entry point is
:class:`bamm_core.generation.engine.Engine` (re-exported here lazily so that importing the
motion-representation helpers does not pay for torch).
"""

__version__ = "0.1.0"

__all__ = ["Engine", "Motion", "__version__"]


def __getattr__(name):  # lazy re-export: `from bamm_core import Engine`
    if name in ("Engine", "Motion"):
        from .generation import engine

        return getattr(engine, name)
    raise AttributeError(f"module 'bamm_core' has no attribute {name!r}")
