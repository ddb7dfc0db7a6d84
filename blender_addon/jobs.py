"""Running engine work off Blender's main thread.

A :class:`Job` is the engine's :class:`~bamm_core.background.BackgroundJob`: ``work(progress)``
runs in a worker thread and ``progress(done, total)`` returns False once :meth:`Job.cancel` was
called, which makes the engine stop early (``GenerationCancelled``).  The worker never touches
``bpy``: the operator polls the job from a modal timer and applies the result on the main
thread, or drops it when cancelled.  One UI-started job runs at a time (:func:`busy`).
"""
from __future__ import annotations

from .core import submodule

Job = submodule("background").BackgroundJob

_busy = None  # the Job a modal operator is running, if any


def busy() -> bool:
    """True while a UI-started job runs (its worker thread is alive)."""
    return _busy is not None and _busy.alive()


def set_busy(job) -> None:
    global _busy
    _busy = job
