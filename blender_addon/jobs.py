"""Running engine work off Blender's main thread.

A :class:`Job` runs ``work(progress)`` in a worker thread; ``progress(done, total)`` returns
False once :meth:`Job.cancel` was called, which makes the engine stop early
(``GenerationCancelled``).  The worker never touches ``bpy``: the operator polls the job from
a modal timer and applies the result on the main thread, or drops it when cancelled.
"""
from __future__ import annotations

import threading
import time

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
