"""The add-on's dependency installer, without Blender and without the internet.

``blender_addon/dependencies.py`` is loaded from its file (the package ``__init__`` needs bpy).
Real pip runs use a local folder of tiny wheels built here (``--no-index --find-links``).
"""
from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def deps():
    spec = importlib.util.spec_from_file_location("bamm_dependencies_under_test",
                                                  REPO / "blender_addon" / "dependencies.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up
    spec.loader.exec_module(mod)
    yield mod
    del sys.modules[spec.name]


def make_wheel(folder: Path, name: str, version: str, requires=(), body: str = "") -> Path:
    """A minimal pure-Python wheel ``name-version`` whose module sets ``VERSION``."""
    mod = name.replace("-", "_")
    dist = f"{mod}-{version}.dist-info"
    meta = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
    meta += "".join(f"Requires-Dist: {r}\n" for r in requires)
    files = {f"{mod}/__init__.py": f"VERSION = {version!r}\n{body}",
             f"{dist}/METADATA": meta,
             f"{dist}/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"}
    files[f"{dist}/RECORD"] = "".join(f"{p},,\n" for p in files) + f"{dist}/RECORD,,\n"
    path = folder / f"{mod}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as z:
        for p, text in files.items():
            z.writestr(p, text)
    return path


@pytest.fixture(scope="module")
def wheelhouse(tmp_path_factory):
    """fake torch; a fake scipy whose newer release needs a NumPy nobody has; a fake numpy at
    this Python's version (what pip would fetch for Blender's NumPy) that must never be used."""
    wh = tmp_path_factory.mktemp("wheels")
    make_wheel(wh, "bamm-fake-torch", "2.13.0")
    make_wheel(wh, "bamm-fake-scipy", "1.0", requires=["numpy>=1"])
    make_wheel(wh, "bamm-fake-scipy", "2.0", requires=["numpy>=99"])
    make_wheel(wh, "numpy", np.__version__, body="raise ImportError('the fake numpy was imported')\n")
    make_wheel(wh, "numpy", "99.0", body="raise ImportError('the fake numpy was imported')\n")
    return wh


def fake_plan(deps, wheelhouse, torch="bamm-fake-torch==2.13.0", requirements=("bamm-fake-scipy",)):
    build = deps.TorchBuild("CPU", torch, None, 1, "test build")
    return deps.Plan(build, requirements=list(requirements), no_deps=[],
                     pip_options=["--no-index", "--find-links", str(wheelhouse)])


def test_torch_pin_is_the_projects(deps):
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert f"torch=={deps.TORCH_VERSION}" in project["dependencies"]
    assert not any(r.replace(" ", "").startswith("numpy") and "<2" in r for r in project["dependencies"])


@pytest.mark.parametrize("system", ["Linux", "Windows", "Darwin"])
def test_each_platform_offers_a_build_with_its_size(deps, system):
    builds = deps.torch_builds(system, "x86_64" if system != "Darwin" else "arm64")
    assert set(builds) == {"CPU", "GPU"}
    for b in builds.values():
        assert b.requirement.startswith(f"torch=={deps.TORCH_VERSION}") and b.download_mb > 0
    if system == "Linux":  # PyPI's Linux wheel is CUDA: the CPU build must be asked for exactly
        assert builds["CPU"].requirement.endswith("+cpu") and builds["CPU"].index == deps.CPU_INDEX
        assert builds["GPU"].download_mb > 10 * builds["CPU"].download_mb
    if system == "Darwin":
        assert builds["CPU"].variant == builds["GPU"].variant == "MPS"


def test_commands_pin_blenders_numpy_and_never_build(deps, tmp_path):
    build = deps.torch_builds("Linux", "x86_64")["CPU"]
    fetch, main, clip = deps.commands(deps.Plan(build), str(tmp_path / "site-packages"), str(tmp_path / "c.txt"))
    # the CPU build alone from PyTorch's index (only that index: that build or a clear failure) ...
    assert fetch[:4] == [sys.executable, "-m", "pip", "download"] and fetch[-1] == build.requirement
    assert fetch[fetch.index("--index-url") + 1] == deps.CPU_INDEX and "--no-deps" in fetch
    wheels = fetch[fetch.index("--dest") + 1]
    # ... then installed from that download, the rest from the default index, NumPy constrained
    assert main[:4] == [sys.executable, "-m", "pip", "install"]
    assert main[main.index("--target") + 1] == str(tmp_path / "site-packages")
    assert main[main.index("--find-links") + 1] == wheels and deps.CPU_INDEX not in main
    assert "--only-binary=:all:" in main and "--only-binary=:all:" in fetch
    assert main[main.index("-c") + 1] == str(tmp_path / "c.txt") and build.requirement in main
    assert not any(a.startswith("numpy") for a in fetch + main + clip)  # never asked for, only constrained
    assert "--no-deps" in clip and clip[-1] == "openai-clip"  # pure-Python sdist, no dependencies
    deps.write_constraints(str(tmp_path / "c.txt"))
    assert (tmp_path / "c.txt").read_text().split() == [f"numpy=={np.__version__}"]
    # a PyPI build (Linux CUDA, macOS, Windows CPU): one install, no other index
    main, clip = deps.commands(deps.Plan(deps.torch_builds("Darwin", "arm64")["GPU"]), "/x", "/c")
    assert main[3] == "install" and "--index-url" not in main and "--find-links" not in main
    # the preferences' compatibility entry point
    cmds = deps.install_commands(str(tmp_path / "sp"), cpu_only=True)
    assert cmds[-2][cmds[-2].index("-c") + 1] == str(tmp_path / "constraints.txt")
    text = deps.choice_text("GPU" if sys.platform != "darwin" else "CPU")
    assert deps.TORCH_VERSION in text and ("MB" in text or "GB" in text)


def test_install_is_all_or_nothing_and_keeps_numpy(deps, wheelhouse, tmp_path):
    final = tmp_path / "ext" / "site-packages"
    ok, msg = deps.install_plan(fake_plan(deps, wheelhouse), str(final))
    assert ok, msg
    names = sorted(p.name for p in final.iterdir())
    # the constraint chose the scipy that works with this NumPy; pip's NumPy was deleted
    assert "bamm_fake_scipy-1.0.dist-info" in names and "bamm_fake_torch" in names
    assert not [n for n in names if n.lower().startswith("numpy")]
    assert [p.name for p in final.parent.iterdir()] == ["site-packages"]  # no temp folders left
    code = (f"import sys; sys.path.append({str(final)!r}); import numpy, bamm_fake_scipy; "
            f"print(numpy.__version__, numpy.__file__)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split()[0] == np.__version__ and str(final) not in out.stdout

    # a failing install (no torch build for this Python) leaves the previous folder as it was
    before = {p.name: p.stat().st_mtime_ns for p in final.iterdir()}
    ok, msg = deps.install_plan(fake_plan(deps, wheelhouse, torch="bamm-fake-torch==9.9"), str(final))
    assert not ok and "\n" not in msg and "Could not install torch" in msg and "--target" in msg
    assert {p.name: p.stat().st_mtime_ns for p in final.iterdir()} == before
    assert [p.name for p in final.parent.iterdir()] == ["site-packages"]


def test_failed_first_install_leaves_nothing(deps, wheelhouse, tmp_path):
    final = tmp_path / "ext" / "site-packages"
    ok, msg = deps.install_plan(fake_plan(deps, wheelhouse, requirements=["bamm-no-such-package"]), str(final))
    assert not ok and "bamm-no-such-package" in msg
    assert not final.exists() and os.listdir(final.parent) == []


def test_remove_protected_only_touches_numpy(deps, tmp_path):
    for name in ("numpy", "numpy-1.26.4.dist-info", "numpy.libs", "numpyro", "scipy"):
        (tmp_path / name).mkdir()
    assert deps.remove_protected(str(tmp_path)) == ["numpy", "numpy-1.26.4.dist-info", "numpy.libs"]
    assert sorted(os.listdir(tmp_path)) == ["numpyro", "scipy"]


def simple_index(root: Path, wheels: list[Path]) -> str:
    """A PEP 503 index of ``wheels`` under ``root``; returns its file:// URL."""
    for w in wheels:
        project = w.name.split("-")[0].replace("_", "-")
        d = root / project
        d.mkdir(parents=True, exist_ok=True)
        links = (d / "index.html").read_text() if (d / "index.html").exists() else ""
        (d / "index.html").write_text(links + f'<a href="{w.as_uri()}">{w.name}</a>\n')
    return root.as_uri()


def test_torch_from_its_own_index_then_the_rest(deps, wheelhouse, tmp_path, monkeypatch):
    """The two-step path of a CPU build: only the pinned local build is taken from the torch
    index; the default index's build of the same version is not."""
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.delenv("PIP_FIND_LINKS", raising=False)
    cpu = make_wheel(tmp_path, "bamm-fake-torch", "2.13.0+cpu")
    torch_index = simple_index(tmp_path / "torch-index", [cpu])
    default = simple_index(tmp_path / "default-index", sorted(wheelhouse.glob("*.whl")))
    build = deps.TorchBuild("CPU", "bamm-fake-torch==2.13.0+cpu", torch_index, 1, "test CPU build")
    p = deps.Plan(build, requirements=["bamm-fake-scipy"], no_deps=[], pip_options=["--index-url", default])
    final = tmp_path / "ext" / "site-packages"
    ok, msg = deps.install_plan(p, str(final))
    assert ok, msg
    assert "bamm_fake_torch-2.13.0+cpu.dist-info" in os.listdir(final)
    assert not [n for n in os.listdir(final) if n.startswith("numpy")]
    # the torch index down: a clear failure, nothing installed
    bad = deps.Plan(deps.TorchBuild("CPU", build.requirement, (tmp_path / "gone").as_uri(), 1, "x"),
                    requirements=[], no_deps=[], pip_options=["--index-url", default])
    ok, msg = deps.install_plan(bad, str(tmp_path / "ext2" / "site-packages"))
    assert not ok and "bamm-fake-torch==2.13.0+cpu" in msg and not (tmp_path / "ext2" / "site-packages").exists()
