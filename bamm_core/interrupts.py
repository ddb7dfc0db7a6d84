"""Stop at the next safe point: Ctrl-C (and other signals) as a request, not an exception.

Long front-end loops -- a bake batch, a training run -- check ``stop.requested`` between
units of work (a job, a step) so that an interrupt never lands in the middle of one (a
half-written export, a checkpoint without its optimiser state)::

    with StopRequest() as stop:            # SIGINT; StopRequest(signal.SIGINT, signal.SIGTERM)
        for job in jobs:
            if stop.requested:
                break
            run(job)

Outside the main thread (where Python cannot install signal handlers) it installs nothing
and ``requested`` stays False.  The previous handlers are restored on exit.
"""
from __future__ import annotations

import signal
import threading


class StopRequest:
    def __init__(self, *signals: int) -> None:
        self.signals = signals or (signal.SIGINT,)
        self.requested = False
        self._old: dict[int, object] = {}

    def _request(self, signum, frame) -> None:
        self.requested = True

    def __enter__(self) -> "StopRequest":
        if threading.current_thread() is threading.main_thread():
            for sig in self.signals:
                self._old[sig] = signal.signal(sig, self._request)
        return self

    def __exit__(self, *exc) -> None:
        for sig, handler in self._old.items():
            signal.signal(sig, handler)
        self._old.clear()


__all__ = ["StopRequest"]
