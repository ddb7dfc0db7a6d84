"""Running engine work off Blender's main thread, and the engine cache.

A :class:`Job` runs ``work(progress)`` in a worker thread; ``progress(done, total)`` returns
False once :meth:`Job.cancel` was called, which makes the engine stop early
(``GenerationCancelled``).  The worker never touches ``bpy``: the operator polls the job from
a modal timer and applies the result on the main thread, or drops it when cancelled.
"""
from __future__ import annotations

import os
import threading
import time

from .core import submodule

_engine_cache: dict = {}
_engine_override = None  # see set_engine_override


def set_engine_override(engine) -> None:
    """TEST HOOK: make the operators use ``engine`` (any object with the Engine API) instead
    of loading the model from the preferences.  ``None`` restores normal loading."""
    global _engine_override
    _engine_override = engine


def load_engine(model_folder: str = "", device: str = "AUTO", clip_weights: str = ""):
    """The engine for these preferences (loaded once, then cached)."""
    if _engine_override is not None:
        return _engine_override
    if clip_weights:
        os.environ["BAMM_CLIP_WEIGHTS"] = clip_weights
    dev = resolve_device(device)
    key = (model_folder, dev, clip_weights)
    if key not in _engine_cache:
        engine_mod = submodule("generation.engine")
        _engine_cache.clear()  # one model in memory at a time
        _engine_cache[key] = engine_mod.Engine.from_pretrained(path=model_folder or None, device=dev)
    return _engine_cache[key]


def resolve_device(device: str) -> str:
    device = device.upper()
    if device == "CPU":
        return "cpu"
    import torch

    if device == "CUDA":
        if not torch.cuda.is_available():
            raise RuntimeError("device CUDA chosen but no CUDA GPU is available to torch")
        return "cuda"
    if device == "MPS":
        if not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
            raise RuntimeError("device MPS chosen but Metal (MPS) is not available")
        return "mps"
    if torch.cuda.is_available():
        return "cuda"
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


_busy = None  # the Job a modal operator is running, if any


def busy() -> bool:
    """True while a UI-started job runs (its worker thread is alive)."""
    return _busy is not None and _busy._thread.is_alive()


def set_busy(job) -> None:
    global _busy
    _busy = job


class Cancelled(Exception):
    """The user cancelled (Esc) before the result was applied."""


class Job:
    """``work(progress) -> result`` in a daemon thread.  States: running, done, error, cancelled."""

    def __init__(self, work):
        self.work = work
        self.state = "new"
        self.result = None
        self.error: BaseException | None = None
        self.done = 0
        self.total = 0
        self._cancel = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bamm-job", daemon=True)
        self.started = 0.0

    def progress(self, done: int, total: int) -> bool:
        self.done, self.total = int(done), int(total)
        return not self._cancel.is_set()

    def _run(self) -> None:
        try:
            if self._cancel.is_set():
                raise Cancelled()
            result = self.work(self.progress)
            if self._cancel.is_set():
                raise Cancelled()
            self.result, self.state = result, "done"
        except (Cancelled, KeyboardInterrupt):  # Esc in the UI; Ctrl-C in a script's run
            self.state = "cancelled"
        except BaseException as e:  # noqa: BLE001 - reported on the main thread
            if type(e).__name__ == "GenerationCancelled" or self._cancel.is_set():
                self.state = "cancelled"
            else:
                self.error, self.state = e, "error"

    def start(self) -> "Job":
        self.state = "running"
        self.started = time.perf_counter()
        self._thread.start()
        return self

    def cancel(self) -> None:
        self._cancel.set()

    def join(self, timeout: float | None = None) -> str:
        self._thread.join(timeout)
        return self.state

    def run_here(self) -> "Job":
        """Run synchronously in the calling thread (scripts, background mode)."""
        self.state = "running"
        self.started = time.perf_counter()
        self._run()
        return self
