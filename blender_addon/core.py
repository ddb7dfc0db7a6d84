"""Access to the bundled engine package (``bamm_core``).

In the built extension ``bamm_core`` is vendored inside the add-on (``<addon>/bamm_core``) and
imported relatively, so the add-on works under its ``bl_ext.<repo>.<id>`` module name.  In a
development checkout (add-on enabled from the repository) the top-level ``bamm_core`` package
is used instead.
"""
from __future__ import annotations

import importlib
import sys
from pathlib import Path


def _load():
    try:
        return importlib.import_module(f"{__package__}.bamm_core")
    except ImportError as e:
        if "bamm_core" not in str(e):
            raise
    try:
        return importlib.import_module("bamm_core")
    except ImportError:
        repo = Path(__file__).resolve().parents[1]
        if (repo / "bamm_core" / "__init__.py").is_file():
            sys.path.append(str(repo))
            return importlib.import_module("bamm_core")
        raise


bamm_core = _load()


def submodule(name: str):
    """``bamm_core.<name>`` (imported on first use: retargeting needs scipy, the engine torch)."""
    return importlib.import_module(f"{bamm_core.__name__}.{name}")
