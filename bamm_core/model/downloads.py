"""The paper's model: download, verify and install the official BAMM HumanML3D release.

:func:`download_official` fetches the released BAMM transformer, MoMask's RVQ-VAE and
residual transformer (Google Drive archives) and CLIP ViT-B/32 into the model cache
(:func:`official_dir`: ``$BAMM_MODEL_CACHE/bamm-humanml3d-official``, by default in the
platform's cache folder), as the official tree that ``Engine.from_pretrained`` loads::

    DEST/checkpoints/t2m/rvq_nq6_dc512_nc512_noshare_qdp0.2/{opt.txt, model/net_best_fid.tar,
                                                              meta/mean.npy, meta/std.npy}
    DEST/checkpoints/t2m/tres_nlayer8_ld384_ff1024_rvq6ns_cdp0.2_sw/{opt.txt, model/net_best_fid.tar}
    DEST/log/t2m/t2m/2024-02-14-14-27-29_8_GPT_officialTrans_2iterPrdictEnd/{opt.txt, model/latest.tar}
    DEST/log/vq/t2m/rvq_nq6_dc512_nc512_noshare_qdp0.2/opt.txt   (where the official code reads it)
    DEST/clip/ViT-B-32.pt
    DEST/download.json                                           (written last: "installed")

Archives download into ``DEST/downloads/`` (``NAME.part`` until complete; resumed after an
interruption).  CLIP is checked against the SHA-256 its URL carries; each checkpoint is
loaded safely (``torch.load(weights_only=True)``) and every tensor name and shape compared
with the release's (``data/official_release.json``).  Files are unpacked into
``DEST/downloads/staging/`` and moved into place only when all of them verified, so a
partial or corrupted download never becomes a model that loads.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import sys
import zipfile
from pathlib import Path

from ..background import BackgroundJob

from .fetch import DownloadCancelled, DownloadError, Progress, fetch, report

VQ_RUN = "rvq_nq6_dc512_nc512_noshare_qdp0.2"
RES_RUN = "tres_nlayer8_ld384_ff1024_rvq6ns_cdp0.2_sw"
BAMM_RUN = "2024-02-14-14-27-29_8_GPT_officialTrans_2iterPrdictEnd"
CLIP_SHA256 = "40d365715913c9da98579312b702a82c18be219cc2a73407c4526f58eba950af"
CLIP_URL = f"https://openaipublic.azureedge.net/clip/models/{CLIP_SHA256}/ViT-B-32.pt"
ARCHIVES = {  # source name -> (file name in DEST/downloads, default source, where to get it by hand)
    "momask": ("humanml3d_models.zip", "gdrive:1vXS7SHJBgWPt59wupQ5UUzhFObrnGkQ0",
               "https://drive.google.com/file/d/1vXS7SHJBgWPt59wupQ5UUzhFObrnGkQ0"),
    "bamm": (f"{BAMM_RUN}.zip", "gdrive:1vo0PcYOHzCdPoDk5SpBA1llvK_50GTlv",
             "https://drive.google.com/file/d/1vo0PcYOHzCdPoDk5SpBA1llvK_50GTlv"),
    "clip": ("ViT-B-32.pt", CLIP_URL, CLIP_URL),
}
# (source, member path ending, installed path, check)
FILES = (
    ("momask", f"{VQ_RUN}/opt.txt", f"checkpoints/t2m/{VQ_RUN}/opt.txt", "opt"),
    ("momask", f"{VQ_RUN}/model/net_best_fid.tar", f"checkpoints/t2m/{VQ_RUN}/model/net_best_fid.tar", "vq"),
    ("momask", f"{VQ_RUN}/meta/mean.npy", f"checkpoints/t2m/{VQ_RUN}/meta/mean.npy", "stats"),
    ("momask", f"{VQ_RUN}/meta/std.npy", f"checkpoints/t2m/{VQ_RUN}/meta/std.npy", "stats"),
    ("momask", f"{RES_RUN}/opt.txt", f"checkpoints/t2m/{RES_RUN}/opt.txt", "opt"),
    ("momask", f"{RES_RUN}/model/net_best_fid.tar", f"checkpoints/t2m/{RES_RUN}/model/net_best_fid.tar", "residual"),
    ("bamm", f"{BAMM_RUN}/opt.txt", f"log/t2m/t2m/{BAMM_RUN}/opt.txt", "opt"),
    ("bamm", f"{BAMM_RUN}/model/latest.tar", f"log/t2m/t2m/{BAMM_RUN}/model/latest.tar", "transformer"),
    ("momask", f"{VQ_RUN}/opt.txt", f"log/vq/t2m/{VQ_RUN}/opt.txt", "opt"),
    ("clip", "", "clip/ViT-B-32.pt", "sha256"),
)
MARKER = "download.json"
TOP_LEVEL = ("checkpoints", "log", "clip")
SIZE_TEXT = ("roughly 1 GB to download (CLIP ViT-B/32 338 MB; the archives' sizes are not "
             "published), about 0.6 GB kept")
LICENSE_TEXT = ("research use only: the BAMM and MoMask authors' release terms, and the "
                "HumanML3D / AMASS data licenses the models were trained on; CLIP: MIT")
_DATA = Path(__file__).resolve().parent / "data" / "official_release.json"


# ----------------------------------------------------------------------------- where
def model_cache_dir() -> Path:
    """``$BAMM_MODEL_CACHE``, else the platform's cache folder + ``bamm-motion``."""
    env = os.environ.get("BAMM_MODEL_CACHE")
    if env:
        return Path(env).expanduser()
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Caches"
    else:
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "bamm-motion"


def official_dir(cache: str | Path | None = None) -> Path:
    """Where the paper's model is installed (``download_official``'s default ``dest``)."""
    return Path(cache or model_cache_dir()) / "bamm-humanml3d-official"


def is_installed(dest: str | Path | None = None) -> bool:
    """True when ``dest`` holds a complete, verified download (its marker and every file)."""
    dest = Path(dest) if dest else official_dir()
    return (dest / MARKER).is_file() and all((dest / f[2]).is_file() for f in FILES)


def official_clip(dest: str | Path | None = None) -> Path | None:
    """The CLIP weights installed with the paper's model in ``dest`` (None if absent)."""
    p = (Path(dest) if dest else official_dir()) / "clip" / "ViT-B-32.pt"
    return p if p.is_file() else None


OFFICIAL = "official"  # the name front ends accept for the paper's model in the cache


def resolve_model(model: str | None) -> str | None:
    """``"official"`` -> the installed paper's model folder (an existing folder of that name
    wins); any other value unchanged.  ValueError when the paper's model is not downloaded."""
    if model != OFFICIAL or Path(model).exists():
        return model
    path = official_dir()
    if not is_installed(path):
        raise ValueError(f"the paper's model is not downloaded yet (looked in {path}); run "
                         "`bamm download official` first")
    return str(path)


def manual_steps(dest: str | Path | None = None) -> str:
    """What to do by hand when the download is blocked: the files and where they go."""
    dest = Path(dest) if dest else official_dir()
    lines = ["Download these files with a web browser and put them in "
             f"{dest / 'downloads'} (names exactly as shown):"]
    lines += [f"  {name}  <-  {manual}" for name, _, manual in ARCHIVES.values()]
    lines.append("then run `bamm download official` again (or the add-on's Download button): it "
                 "verifies and installs them as")
    lines += [f"  {dest / f[2]}" for f in FILES]
    return "\n".join(lines)


# ----------------------------------------------------------------------------- verify
def release_shapes() -> dict[str, dict[str, list[int]]]:
    """The released checkpoints' tensor names and shapes: {"vq"|"transformer"|"residual": {name: shape}}."""
    return json.loads(_DATA.read_text())["shapes"]


def verify_checkpoint(path: Path, kind: str, expected: dict[str, list[int]]) -> None:
    """Safe-load an official checkpoint and compare every tensor name and shape; DownloadError."""
    from .checkpoints import CheckpointError, load_official_state

    try:
        sd = load_official_state(path, kind)
    except CheckpointError as e:
        raise DownloadError(str(e)) from None
    missing = sorted(set(expected) - set(sd))
    extra = sorted(set(sd) - set(expected))
    wrong = [f"{k} {tuple(sd[k].shape)} (release {tuple(v)})" for k, v in expected.items()
             if k in sd and list(sd[k].shape) != list(v)]
    if missing or extra or wrong:
        raise DownloadError(f"{path.name} ({kind}) does not match the release: missing {missing[:3]}, "
                            f"unexpected {extra[:3]}, wrong shapes {wrong[:3]}")


def verify_stats(path: Path, dim: int) -> None:
    import numpy as np

    try:
        a = np.load(path, allow_pickle=False)
    except Exception as e:  # noqa: BLE001 - any unreadable file is a bad download
        raise DownloadError(f"{path.name}: not a NumPy array ({e})") from None
    if a.shape != (dim,) or not np.isfinite(a).all():
        raise DownloadError(f"{path.name}: expected {dim} finite values, got shape {a.shape}")


def url_sha256(url: str) -> str:
    """The SHA-256 an OpenAI CLIP URL carries as a path segment."""
    m = re.search(r"/([0-9a-f]{64})/", url)
    if not m:
        raise DownloadError(f"cannot verify CLIP: its URL carries no SHA-256 ({url})")
    return m.group(1)


def verify_sha256(path: Path, sha256: str) -> None:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    if h.hexdigest() != sha256:
        raise DownloadError(f"{path.name}: SHA-256 {h.hexdigest()[:12]}... does not match the "
                            f"expected {sha256[:12]}... (corrupted download)")


def _check(path: Path, check: str, expected: dict, sources: dict) -> None:
    if check in ("vq", "transformer", "residual"):
        verify_checkpoint(path, check, expected[check])
    elif check == "stats":
        verify_stats(path, int(expected["vq"]["encoder.model.0.weight"][1]))
    elif check == "sha256":
        verify_sha256(path, url_sha256(sources["clip"]))
    elif check == "opt" and ": " not in path.read_text(errors="replace"):
        raise DownloadError(f"{path}: not an official opt.txt")


# ----------------------------------------------------------------------------- install
def _member(zf: zipfile.ZipFile, ending: str) -> zipfile.ZipInfo:
    """The archive member whose path ends with ``ending`` (the archive's own prefix may vary)."""
    hits = [i for i in zf.infolist() if ("/" + i.filename).endswith("/" + ending)]
    if len(hits) != 1:
        raise DownloadError(f"{Path(zf.filename or '').name}: expected one file ending in {ending}, "
                            f"found {len(hits)}")
    return hits[0]


def _stage(archive: Path, ending: str, out: Path) -> None:
    """Copy one file (an archive member, or the archive itself for CLIP) to ``out``."""
    out.parent.mkdir(parents=True, exist_ok=True)
    if not ending:
        shutil.copyfile(archive, out)
        return
    try:
        with zipfile.ZipFile(archive) as zf, zf.open(_member(zf, ending)) as src, open(out, "wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
    except (zipfile.BadZipFile, EOFError, OSError) as e:
        raise DownloadError(f"{archive.name}: corrupted archive ({e})") from None


def _install(staging: Path, dest: Path) -> None:
    """Move the verified tree into ``dest``; the marker goes last."""
    (dest / MARKER).unlink(missing_ok=True)
    for name in TOP_LEVEL:
        if (dest / name).exists():
            shutil.rmtree(dest / name)
        os.replace(staging / name, dest / name)
    os.replace(staging / MARKER, dest / MARKER)


def _refuse_foreign(dest: Path) -> None:
    foreign = [n for n in TOP_LEVEL if (dest / n).exists()]
    if foreign and not (dest / MARKER).is_file():
        raise DownloadError(f"{dest} already holds {', '.join(foreign)} that this downloader did not "
                            "install; choose another destination or remove them")


def download_official(dest: str | Path | None = None, *, progress: Progress | None = None,
                      sources: dict[str, str] | None = None, expected: dict | None = None,
                      force: bool = False, keep_archives: bool = False, retries: int = 5,
                      retry_wait: float = 1.0, timeout: float = 30.0) -> Path:
    """Download, verify and install the paper's model into ``dest`` (default
    :func:`official_dir`); returns ``dest``.  Already installed: returns at once (``force``
    re-downloads).  ``progress(label, done, total)`` gets bytes while downloading and files
    while verifying; returning False cancels (:class:`DownloadCancelled`, partial files are
    kept for resuming).  ``sources`` overrides the URLs ({"momask", "bamm", "clip"}: https
    URLs or ``gdrive:ID``); ``expected`` the tensor shapes (default :func:`release_shapes`).
    A network failure raises :class:`DownloadError` whose message includes :func:`manual_steps`.
    """
    dest = Path(dest).expanduser() if dest else official_dir()
    if is_installed(dest) and not force:
        return dest
    srcs = {k: v[1] for k, v in ARCHIVES.items()} | dict(sources or {})
    expected = expected or release_shapes()
    try:
        dest.mkdir(parents=True, exist_ok=True)
        _refuse_foreign(dest)
        work = dest / "downloads"
        work.mkdir(exist_ok=True)
    except OSError as e:
        raise DownloadError(f"cannot write to {dest}: {e.strerror or e}") from None
    archives = {}
    try:
        for name, (file_name, _, _) in ARCHIVES.items():
            target = work / file_name
            archives[name] = target if target.is_file() else fetch(
                srcs[name], target, label=file_name, progress=progress, retries=retries,
                retry_wait=retry_wait, timeout=timeout)
    except DownloadCancelled:
        raise
    except DownloadError as e:
        if e.offline:
            raise DownloadError(f"{e}\n\n{manual_steps(dest)}", offline=True) from None
        raise
    staging = work / "staging"
    shutil.rmtree(staging, ignore_errors=True)
    try:
        _verify_into(staging, archives, expected, srcs, progress)
        _install(staging, dest)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    if not keep_archives:
        for path in archives.values():
            path.unlink(missing_ok=True)
    return dest


def _verify_into(staging: Path, archives: dict[str, Path], expected: dict, sources: dict,
                 progress: Progress | None) -> None:
    """Unpack and verify every file into ``staging``; a file that fails deletes its archive
    (the next run downloads it again) and raises."""
    for i, (source, ending, rel, check) in enumerate(FILES):
        report(progress, "verifying", i, len(FILES))
        out = staging / rel
        try:
            _stage(archives[source], ending, out)
            _check(out, check, expected, sources)
        except DownloadError as e:
            archives[source].unlink(missing_ok=True)
            raise DownloadError(f"{e}; the file was deleted, run again to download it anew") from None
    report(progress, "verifying", len(FILES), len(FILES))
    (staging / MARKER).write_text(json.dumps({
        "model": "BAMM HumanML3D (official release)", "license": LICENSE_TEXT,
        "files": {rel: (staging / rel).stat().st_size for _, _, rel, _ in FILES}}, indent=1))


# ----------------------------------------------------------------------------- background
class BackgroundDownload(BackgroundJob):
    """:func:`download_official` in a daemon thread (the add-on's button): read ``label``,
    ``done``, ``total``, ``state`` (running, done, error, cancelled) and ``error`` from any
    thread; :meth:`cancel` stops at the next chunk."""

    def __init__(self, dest: str | Path | None = None, **kwargs):
        super().__init__(lambda progress: download_official(dest, progress=self._step, **kwargs),
                         name="bamm-download")
        self.label = ""

    def _step(self, label: str, done: int, total: int) -> bool:
        self.label = label
        return self.progress(done, total)

    def describe(self) -> str:
        """One line for a status bar: what is being fetched and how far it is."""
        if self.label == "verifying":
            return f"Verifying the paper's model ({self.done}/{self.total} files)"
        mb = lambda n: f"{n / 1e6:.0f} MB"  # noqa: E731
        of = f" of {mb(self.total)} ({100 * self.done // self.total}%)" if self.total else ""
        return f"Downloading {self.label}: {mb(self.done)}{of}"


__all__ = ["download_official", "official_dir", "model_cache_dir", "is_installed", "official_clip",
           "manual_steps", "release_shapes", "verify_checkpoint", "BackgroundDownload",
           "DownloadError", "DownloadCancelled", "SIZE_TEXT", "LICENSE_TEXT", "CLIP_URL"]
