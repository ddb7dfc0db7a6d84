"""Output paths: one atomic write and one up-front check of an output path.

>>> with atomic_path("walk.npy") as tmp:     # write to ``tmp``; renamed onto walk.npy at the end
...     np.save(tmp, joints)

An interrupted or failed write (an exception, Ctrl-C) leaves the previous file, if any,
untouched and no temporary file behind.  Used by every front end that writes files (the
``bamm`` CLI, ``scripts/bake.py``, :mod:`bamm_core.formats.motion_file`).
"""
from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Iterable, Iterator


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[str]:
    """Yield a temporary path next to ``path`` (same folder, same extension, no file there
    yet); when the block succeeds, rename it onto ``path``; when the block raises (Ctrl-C
    included) or writes nothing, remove it and leave ``path`` as it was.

    The writer creates the file itself (``open(tmp, "wb")``, an exporter, an image library),
    so it gets an ordinary file's permissions."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}")
    os.close(fd)
    os.unlink(tmp)  # reserve a fresh name only; the writer creates the file
    try:
        yield tmp
        if not os.path.exists(tmp):
            raise RuntimeError(f"nothing was written to {path}")
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def check_extension(path: str | os.PathLike, extensions: Iterable[str], what: str = "output"
                    ) -> str:
    """The lower-case extension of ``path`` if it is one of ``extensions``, else ValueError
    naming the known ones."""
    ext = Path(path).suffix.lower()
    extensions = list(extensions)
    if ext not in extensions:
        raise ValueError(f"unknown {what} format {ext or '(no extension)'!r} for {str(path)!r}; "
                         f"use one of {', '.join(extensions)}")
    return ext


def check_output_path(path: str | os.PathLike, extensions: Iterable[str]) -> Path:
    """``path`` as a Path if a file can be written there in one of ``extensions`` (lower
    case, with the dot); else ValueError saying what is wrong.  Checked before any work."""
    p = Path(path)
    check_extension(p, extensions)
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.is_dir():
        raise ValueError(f"output folder {str(parent)!r} does not exist (for {str(path)!r})")
    if p.is_dir():
        raise ValueError(f"output path {str(path)!r} is a folder")
    return p


__all__ = ["atomic_path", "check_extension", "check_output_path"]
