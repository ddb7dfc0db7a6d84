"""StopRequest: a signal becomes a request checked at the next safe point."""
import os
import signal
import threading

from bamm_core.interrupts import StopRequest


def test_signal_sets_the_request_and_old_handlers_come_back():
    before = signal.getsignal(signal.SIGINT)
    with StopRequest(signal.SIGINT, signal.SIGTERM) as stop:
        assert not stop.requested
        os.kill(os.getpid(), signal.SIGTERM)  # no KeyboardInterrupt / termination: a request
        assert stop.requested
    assert signal.getsignal(signal.SIGINT) is before


def test_outside_the_main_thread_nothing_is_installed():
    seen = {}

    def worker():
        with StopRequest() as stop:
            seen["handler"] = signal.getsignal(signal.SIGINT)
            seen["requested"] = stop.requested

    before = signal.getsignal(signal.SIGINT)
    t = threading.Thread(target=worker)
    t.start()
    t.join()
    assert seen == {"handler": before, "requested": False}
