#!/usr/bin/env python3
"""Build the Blender extension zip: ``dist/<id>-<version>.zip`` (``make addon``).

Layout of the zip (installable with Blender's "Install from Disk"):

    blender_manifest.toml          the extension manifest, at the root
    __init__.py, operators.py ...  the contents of blender_addon/
    bamm_core/                     the engine, vendored (the add-on imports it relatively)
    bamm_core/models/default/      the default model, when it exists in the checkout

Caches (__pycache__, *.pyc) are left out.  Prints the zip's path and size.
"""
from __future__ import annotations

import argparse
import sys
import tomllib
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SKIP_DIRS = {"__pycache__", ".pytest_cache"}
SKIP_SUFFIXES = {".pyc", ".pyo"}


def _files(root: Path):
    for p in sorted(root.rglob("*")):
        if p.is_file() and not (set(p.relative_to(root).parts) & SKIP_DIRS) and p.suffix not in SKIP_SUFFIXES:
            yield p


def build(out_dir: Path = REPO / "dist", include_models: bool = True) -> Path:
    manifest = REPO / "blender_manifest.toml"
    meta = tomllib.loads(manifest.read_text(encoding="utf-8"))
    out_dir.mkdir(parents=True, exist_ok=True)
    zip_path = out_dir / f"{meta['id']}-{meta['version']}.zip"
    core = REPO / "bamm_core"
    with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.write(manifest, "blender_manifest.toml")
        for p in _files(REPO / "blender_addon"):
            zf.write(p, p.relative_to(REPO / "blender_addon").as_posix())
        for p in _files(core):
            rel = p.relative_to(core)
            if rel.parts[0] == "models" and not (include_models and rel.parts[1:2] == ("default",)):
                continue  # only the default model ships
            zf.write(p, ("bamm_core" / rel).as_posix())
    return zip_path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=REPO / "dist", help="output folder (default dist/)")
    ap.add_argument("--no-models", action="store_true", help="leave bamm_core/models/default out")
    args = ap.parse_args(argv)
    path = build(args.out, include_models=not args.no_models)
    with zipfile.ZipFile(path) as zf:
        n = len(zf.namelist())
        has_model = any(n_.startswith("bamm_core/models/default/") for n_ in zf.namelist())
    print(f"built {path} ({path.stat().st_size / 1e6:.1f} MB, {n} files, "
          f"default model {'included' if has_model else 'not found in bamm_core/models/default'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
