"""Work off the calling thread: ``work(progress) -> result`` in a daemon thread.

Front ends with an event loop (Blender's modal operators, the add-on's download button) start
a :class:`BackgroundJob` and poll it; ``progress(done, total)`` records how far the work is and
returns False once :meth:`BackgroundJob.cancel` was called, which makes the engine (or the
downloader) stop at its next step.  Scripts run the same job in their own thread with
:meth:`BackgroundJob.run_here`.  The work must not touch thread-bound state (``bpy``).

States: ``new``, ``running``, ``done`` (``result`` holds the value), ``error`` (``error``
holds the exception), ``cancelled`` (any exception raised after a cancel request, and
KeyboardInterrupt).
"""
from __future__ import annotations

import threading
import time
from typing import Any, Callable


class BackgroundJob:
    def __init__(self, work: Callable[[Callable[[int, int], bool]], Any], name: str = "bamm-job"):
        self.work = work
        self.state = "new"
        self.result: Any = None
        self.error: BaseException | None = None
        self.done = 0
        self.total = 0
        self.started = 0.0
        self._cancel = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def progress(self, done: int, total: int) -> bool:
        self.done, self.total = int(done), int(total)
        return not self._cancel.is_set()

    @property
    def cancel_requested(self) -> bool:
        return self._cancel.is_set()

    def _run(self) -> None:
        try:
            result = None if self._cancel.is_set() else self.work(self.progress)
            if self._cancel.is_set():  # cancelled while the last step ran: drop the result
                self.state = "cancelled"
            else:
                self.result, self.state = result, "done"
        except KeyboardInterrupt:  # Ctrl-C in a script's synchronous run
            self.state = "cancelled"
        except BaseException as e:  # noqa: BLE001 - reported by the front end
            if self._cancel.is_set():
                self.state = "cancelled"
            else:
                self.error, self.state = e, "error"

    def start(self) -> "BackgroundJob":
        self.state = "running"
        self.started = time.perf_counter()
        self._thread.start()
        return self

    def run_here(self) -> "BackgroundJob":
        """Run synchronously in the calling thread (scripts, background mode)."""
        self.state = "running"
        self.started = time.perf_counter()
        self._run()
        return self

    def cancel(self) -> None:
        self._cancel.set()

    def join(self, timeout: float | None = None) -> str:
        self._thread.join(timeout)
        return self.state

    def alive(self) -> bool:
        return self._thread.is_alive()


__all__ = ["BackgroundJob"]
