"""BackgroundJob: work in a thread, progress, cancel, errors."""
import threading

from bamm_core.background import BackgroundJob


def test_result_progress_and_run_here():
    def work(progress):
        for i in range(3):
            assert progress(i + 1, 3)
        return "ok"

    job = BackgroundJob(work).start()
    assert job.join(10) == "done" and job.result == "ok" and (job.done, job.total) == (3, 3)
    assert BackgroundJob(work).run_here().result == "ok"


def test_cancel_stops_at_the_next_step_and_drops_the_result():
    go = threading.Event()

    def work(progress):
        go.wait(5)
        if not progress(1, 2):
            raise RuntimeError("stopped by the progress callback")  # what the engine does
        return "late"

    job = BackgroundJob(work).start()
    job.cancel()
    go.set()
    assert job.join(10) == "cancelled" and job.result is None and job.error is None


def test_an_error_is_kept_for_the_front_end():
    def work(progress):
        raise ValueError("bad input")

    job = BackgroundJob(work).run_here()
    assert job.state == "error" and isinstance(job.error, ValueError)
