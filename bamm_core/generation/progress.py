"""Progress callbacks: ``progress(done, total)``; returning ``False`` cancels the work."""
from __future__ import annotations

from typing import Callable

ProgressFn = Callable[[int, int], "bool | None"]


class GenerationCancelled(RuntimeError):
    """Raised when a ``progress`` callback returns False."""


def wrap_progress(progress: ProgressFn | None) -> Callable[[int, int], None] | None:
    """A callback that raises :class:`GenerationCancelled` when ``progress`` returns False."""
    if progress is None:
        return None

    def call(done: int, total: int) -> None:
        if progress(done, total) is False:
            raise GenerationCancelled(f"cancelled by the progress callback at {done}/{total}")

    return call


def batch_progress(progress: ProgressFn | None, n_batches: int
                   ) -> Callable[[int], Callable[[int, int], None] | None]:
    """``for_batch(k)`` -> a callback for batch ``k`` of ``n_batches`` that reports the
    progress over all batches to ``progress`` (each batch counts as many steps as the first
    one reported; with one batch the numbers pass through unchanged)."""
    if progress is None:
        return lambda k: None
    unit: list[int] = []

    def for_batch(k: int) -> Callable[[int, int], None]:
        def call(done: int, total: int) -> None:
            if not unit:
                unit.append(max(int(total), 1))
            u = unit[0]
            overall = k * u + (int(done) * u) // max(int(total), 1)
            if progress(overall, n_batches * u) is False:
                raise GenerationCancelled(f"cancelled by the progress callback at "
                                          f"{overall}/{n_batches * u}")

        return call

    return for_batch


__all__ = ["ProgressFn", "GenerationCancelled", "wrap_progress", "batch_progress"]
