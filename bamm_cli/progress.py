"""What the user sees while ``bamm`` works: a progress bar and short notes on stderr.

Both stay silent for quick work (the bar appears after a second, a note only when the
step is slow), so a failing command still prints exactly one line.
"""
from __future__ import annotations

import contextlib
import sys
import threading
from typing import Iterator


def say(quiet: bool, msg: str) -> None:
    """One message line on stderr (unless ``quiet``), above a progress bar if one is shown."""
    if not quiet:
        from tqdm import tqdm

        tqdm.write(msg, file=sys.stderr)


@contextlib.contextmanager
def slow_note(quiet: bool, msg: str, after: float = 1.0) -> Iterator[None]:
    """Print ``msg`` on stderr if the block takes longer than ``after`` seconds."""
    note = threading.Timer(after, say, (quiet, msg))
    note.daemon = True
    note.start()
    try:
        yield
    finally:
        note.cancel()


class Progress:
    """A tqdm bar on stderr, fed like the engine's ``progress(done, total)`` callback.

    The bar only appears when the work lasts more than a second (tqdm's ``delay``).
    """

    def __init__(self, desc: str, quiet: bool, unit: str = "step"):
        self.desc, self.quiet, self.unit, self.bar = desc, quiet, unit, None

    def __call__(self, done: int, total: int) -> bool:
        if self.quiet:
            return True
        if self.bar is None:
            from tqdm import tqdm

            self.bar = tqdm(total=total, desc=self.desc, unit=self.unit, delay=1.0, file=sys.stderr,
                            leave=False)
        if total != self.bar.total:
            self.bar.total = total
        self.bar.update(done - self.bar.n)  # update() honours the 1 s delay; refresh() would not
        return True

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


__all__ = ["Progress", "say", "slow_note"]
