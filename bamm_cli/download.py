"""``bamm download official [--dest DIR]``: the paper's model into the model cache.

The engine does the work (:func:`bamm_core.model.downloads.download_official`: resume,
verification, install only when everything verified); this module draws the progress bars
and turns failures into one error (with the manual steps when the network is blocked).
"""
from __future__ import annotations

import argparse
import sys

from .errors import UserError


def add_parser(sub, parents: list[argparse.ArgumentParser]) -> None:
    from bamm_core.model import downloads as dl

    d = sub.add_parser(
        "download", parents=parents, help="download the paper's model (BAMM HumanML3D) into the model cache",
        description="Download, verify and install the official BAMM HumanML3D model (BAMM transformer, "
                    f"MoMask's RVQ-VAE and residual transformer, CLIP ViT-B/32): {dl.SIZE_TEXT}. "
                    f"License: {dl.LICENSE_TEXT}. Afterwards: bamm generate --model official \"...\". "
                    "Interrupted downloads resume when the command is run again. Google Drive files go "
                    "through gdown when installed (pip install 'bamm-motion[download]').")
    d.add_argument("what", choices=["official"], help="official: the paper's HumanML3D model")
    d.add_argument("--dest", metavar="DIR", default=None,
                   help=f"install here instead of the model cache ({dl.official_dir()}; "
                        "$BAMM_MODEL_CACHE moves the cache); then use --model DIR")
    d.add_argument("--force", action="store_true", help="download again even if already installed")
    d.set_defaults(func=cmd_download)


class _Bars:
    """One tqdm bar per file (bytes), then one for verification (files)."""

    def __init__(self, quiet: bool):
        self.quiet, self.bar, self.label = quiet, None, None

    def __call__(self, label: str, done: int, total: int) -> bool:
        if self.quiet:
            return True
        if label != self.label:
            self.close()
            from tqdm import tqdm

            bytes_ = label != "verifying"
            self.bar = tqdm(total=total or None, desc=label, unit="B" if bytes_ else " files",
                            unit_scale=bytes_, unit_divisor=1024 if bytes_ else 1000, file=sys.stderr,
                            leave=False, initial=done)
            self.label = label
        if total and self.bar.total != total:
            self.bar.total = total
        self.bar.update(done - self.bar.n)
        return True

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def cmd_download(args) -> int:
    from bamm_core.model import downloads as dl

    quiet = getattr(args, "quiet", False)
    dest = dl.official_dir() if args.dest is None else args.dest
    if dl.is_installed(dest) and not args.force:
        if not quiet:
            print(f"the paper's model is already installed in {dest}", file=sys.stderr)
        return 0
    if not quiet:
        print(f"downloading the paper's model into {dest}: {dl.SIZE_TEXT}\nlicense: {dl.LICENSE_TEXT}",
              file=sys.stderr)
    bars = _Bars(quiet)
    try:
        path = dl.download_official(dest, progress=bars, force=args.force)
    except dl.DownloadCancelled as e:
        raise UserError(str(e)) from None
    except dl.DownloadError as e:
        if e.offline:  # the manual steps span several lines: print them before the one-line error
            print(str(e).split("\n", 1)[1].strip(), file=sys.stderr)
            raise UserError(str(e).split("\n", 1)[0] + " (manual steps above)") from None
        raise UserError(" ".join(str(e).split())) from None
    finally:
        bars.close()
    model = "official" if args.dest is None else str(path)
    print(f"installed in {path}\nuse it: bamm generate --model {model} \"a person walks forward\" --out walk.bvh")
    return 0


__all__ = ["add_parser", "cmd_download"]
