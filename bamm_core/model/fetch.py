"""Fetching one file over HTTPS with resume (HTTP ``Range``), or from Google Drive.

A transfer writes ``NAME.part`` and renames it to ``NAME`` only once every byte the server
announced has arrived; an interrupted transfer (dropped connection, Ctrl-C, a closed
Blender) continues from the ``.part`` file's size on the next try.  Google Drive files
(``gdrive:ID``) go through ``gdown`` when it is installed (the official scripts' tool),
else through Drive's direct download address.
"""
from __future__ import annotations

import glob
import http.client
import shutil
import socket
import threading
import time
from pathlib import Path
from typing import Callable
from urllib.error import HTTPError, URLError
from urllib.request import Request, urlopen

CHUNK = 1 << 20
USER_AGENT = "bamm-motion-downloader/1"
GDRIVE_DIRECT = "https://drive.usercontent.google.com/download?id={id}&export=download&confirm=t"

Progress = Callable[[str, int, int], "bool | None"]  # (label, done bytes, total or 0) -> False: stop


class DownloadError(RuntimeError):
    """A file could not be fetched or did not verify.  ``offline`` marks network failures
    (the caller then explains the manual steps)."""

    def __init__(self, message: str, offline: bool = False):
        super().__init__(message)
        self.offline = offline


class DownloadCancelled(DownloadError):
    """The progress callback asked to stop; the ``.part`` file is kept for resuming."""


def report(progress: Progress | None, label: str, done: int, total: int) -> None:
    if progress is not None and progress(label, done, total) is False:
        raise DownloadCancelled(f"{label}: cancelled (the partial file is kept; run again to resume)")


def _total_size(response, start: int) -> int:
    """Full size of the file from Content-Range (a resumed transfer) or Content-Length; 0 unknown."""
    rng = response.headers.get("Content-Range", "")
    if "/" in rng and rng.rsplit("/", 1)[1].strip().isdigit():
        return int(rng.rsplit("/", 1)[1])
    length = response.headers.get("Content-Length")
    return start + int(length) if length and length.isdigit() else 0


def _one_transfer(url: str, part: Path, label: str, progress: Progress | None,
                  timeout: float) -> tuple[int, int]:
    """Append what the server sends to ``part`` (from its current size); (size, total)."""
    have = part.stat().st_size if part.is_file() else 0
    headers = {"User-Agent": USER_AGENT}
    if have:
        headers["Range"] = f"bytes={have}-"
    with urlopen(Request(url, headers=headers), timeout=timeout) as r:
        if have and r.status != 206:  # the server ignored Range: start again
            have = 0
        if "text/html" in r.headers.get("Content-Type", ""):
            raise DownloadError(f"{label}: the server answered with a web page instead of the file "
                                f"({url}); for Google Drive this means a quota or a sign-in wall",
                                offline=True)
        total = _total_size(r, have)
        done = have
        with open(part, "ab" if have else "wb") as f:
            while chunk := r.read(CHUNK):
                f.write(chunk)
                done += len(chunk)
                report(progress, label, done, total)
    return done, total


def fetch_url(url: str, target: Path, *, label: str = "", progress: Progress | None = None,
              retries: int = 5, retry_wait: float = 1.0, timeout: float = 30.0) -> Path:
    """Download ``url`` to ``target`` through ``target.part``, resuming after interruptions
    (up to ``retries`` attempts in this call; a later call resumes too)."""
    target = Path(target)
    part = target.with_name(target.name + ".part")
    label = label or target.name
    last: object = None
    for attempt in range(max(1, retries)):
        if attempt:
            time.sleep(retry_wait * min(2 ** (attempt - 1), 8))
        try:
            done, total = _one_transfer(url, part, label, progress, timeout)
        except HTTPError as e:
            if e.code == 416 and part.is_file():  # nothing left to send: the range is past the end
                part.unlink()
                last = e
                continue
            if e.code in (401, 403, 404, 410):
                raise DownloadError(f"{label}: {url} answered HTTP {e.code} ({e.reason})",
                                    offline=True) from None
            last = e
            continue
        except (URLError, OSError, http.client.HTTPException) as e:  # dropped, refused, timed out
            last = e
            if isinstance(getattr(e, "reason", None), socket.gaierror):
                break  # no name resolution: offline, retrying will not help
            continue
        if total and done < total:
            last = f"the connection closed after {done} of {total} bytes"
            continue
        if total and done > total:
            part.unlink()
            raise DownloadError(f"{label}: received {done} bytes, more than the {total} announced")
        part.replace(target)
        return target
    reason = getattr(last, "reason", None) or last
    raise DownloadError(f"{label}: could not download {url}: {reason}", offline=True)


def fetch_gdrive(file_id: str, target: Path, *, label: str = "", progress: Progress | None = None,
                 retries: int = 5, retry_wait: float = 1.0, timeout: float = 30.0) -> Path:
    """A Google Drive file: ``gdown`` (resumable) when installed, else Drive's direct link."""
    try:
        import gdown
    except ImportError:
        return fetch_url(GDRIVE_DIRECT.format(id=file_id), target, label=label, progress=progress,
                         retries=retries, retry_wait=retry_wait, timeout=timeout)
    label = label or target.name
    report(progress, label, 0, 0)
    stop = threading.Event()
    watcher = threading.Thread(target=_watch_partial, args=(target, label, progress, stop), daemon=True)
    watcher.start()
    try:  # gdown keeps its partial file beside the target (TARGET*) and resumes from it
        out = gdown.download(id=file_id, output=str(target), quiet=progress is not None, resume=True)
    except Exception as e:  # gdown raises its own FileURLRetrievalError and requests' errors
        raise DownloadError(f"{label}: gdown could not fetch Google Drive file {file_id}: "
                            f"{' '.join(str(e).split())[:300]} (upgrading gdown often helps: "
                            "pip install -U gdown)", offline=True) from None
    finally:
        stop.set()
        watcher.join()
    if not out or not Path(out).is_file():
        raise DownloadError(f"{label}: gdown returned no file for {file_id}", offline=True)
    if Path(out) != target:
        shutil.move(out, target)
    size = target.stat().st_size
    report(progress, label, size, size)
    return target


def _watch_partial(target: Path, label: str, progress: Progress | None, stop: threading.Event) -> None:
    """Report the size of gdown's partial file twice a second (gdown has no callback, and
    cannot be cancelled: the request to stop takes effect once it returns)."""
    pattern = glob.escape(str(target)) + "*"
    while progress is not None and not stop.wait(0.5):
        sizes = [Path(p).stat().st_size for p in glob.glob(pattern) if Path(p).is_file()]
        progress(label, max(sizes, default=0), 0)


def fetch(source: str, target: Path, **kwargs) -> Path:
    """``source`` is ``gdrive:ID`` or an http(s) URL; ``target`` is only written when complete."""
    if source.startswith("gdrive:"):
        return fetch_gdrive(source.split(":", 1)[1], target, **kwargs)
    if not source.startswith(("http://", "https://")):
        raise DownloadError(f"unsupported source {source!r} (use https://... or gdrive:ID)")
    return fetch_url(source, target, **kwargs)
