"""The house rules of ARCHITECTURE.md, checked on the source: layering, no cycles, file sizes."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PRODUCT = ("bamm_core", "bamm_cli", "blender_addon", "scripts", "training")
MAX_LINES = 500

# package -> the bamm_core layers it may import (besides itself)
ALLOWED = {
    "bamm_core.motion": set(),
    "bamm_core.formats": {"bamm_core.motion"},
    "bamm_core.rigs": {"bamm_core.motion", "bamm_core.formats"},
    "bamm_core.model": {"bamm_core.motion"},
    "bamm_core.generation": {"bamm_core.motion", "bamm_core.formats", "bamm_core.model"},
}
LAYERS = tuple(ALLOWED)


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _imports(path: Path, top_level_only: bool = False) -> set[str]:
    """Absolute names of the modules ``path`` imports (relative imports resolved); with
    ``top_level_only`` only the imports that run when the module is imported."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    nodes = tree.body if top_level_only else ast.walk(tree)
    out: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            out.add(mod)
            out.update(f"{mod}.{a.name}" for a in node.names)  # `from pkg import module`
    return out


def _layer(module: str) -> str | None:
    return next((lay for lay in LAYERS if module == lay or module.startswith(lay + ".")), None)


def _core_files():
    return sorted((REPO / "bamm_core").rglob("*.py"))


def test_layers_import_only_lower_layers():
    bad = []
    for path in _core_files():
        own = _layer(_module_name(path))
        if own is None:
            continue
        for mod in _imports(path):
            other = _layer(mod)
            if other and other != own and other not in ALLOWED[own]:
                bad.append(f"{path.relative_to(REPO)} imports {mod} ({own} may not use {other})")
    assert not bad, "\n".join(bad)


def test_engine_never_imports_front_ends_or_bpy():
    bad = []
    for path in _core_files():
        for mod in _imports(path):
            top = mod.split(".")[0]
            if top in ("bpy", "bamm_cli", "training", "blender_addon", "scripts"):
                bad.append(f"{path.relative_to(REPO)} imports {mod}")
        text = path.read_text(encoding="utf-8")
        if '"training"' in text or "'training'" in text:
            bad.append(f"{path.relative_to(REPO)} names the training/ folder")
    assert not bad, "\n".join(bad)


def test_no_import_cycles_between_engine_modules():
    """No cycle among the imports that run at import time (lazy imports inside functions
    are how a package re-exports a higher module without a cycle)."""
    modules = {_module_name(p): p for p in _core_files()}
    graph = {m: {i for i in _imports(p, top_level_only=True) if i in modules and i != m}
             for m, p in modules.items()}
    done: set[str] = set()

    def find_cycle(m: str, stack: list[str]) -> list[str] | None:
        if m in stack:
            return stack[stack.index(m):] + [m]
        if m in done:
            return None
        for n in sorted(graph[m]):
            if (c := find_cycle(n, stack + [m])):
                return c
        done.add(m)
        return None

    for m in sorted(graph):
        cycle = find_cycle(m, [])
        assert cycle is None, " -> ".join(cycle)


@pytest.mark.parametrize("top", PRODUCT)
def test_product_files_stay_small(top):
    long = [f"{p.relative_to(REPO)} ({n} lines)" for p in sorted((REPO / top).rglob("*.py"))
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES]
    assert not long, f"files over {MAX_LINES} lines: {long}"
