"""Official compatibility: the dump of the official code (../shared/reference/official/,
small sizes, random weights) loads strictly and is reproduced (SPEC §10)."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from bamm_core.model import checkpoints as ckpt
from bamm_core.model.attention_masks import bidirectional_mask, causal_mask, visible_positions
from bamm_core.generation.decoding import (official_layer0, official_pad_after_end, official_pad_when_end,
                                official_round2_positions, residual_layers)
from bamm_core.generation.engine import Engine
from bamm_core.model.residual_transformer import ResidualTransformer
from bamm_core.model.text_encoders import TextEncoderError
from bamm_core.model.tokenizer import RVQVAE
from bamm_core.model.transformer import BAMMTransformer
from bamm_core.motion.timebase import HUMANML3D


pytestmark = pytest.mark.usefixtures("one_torch_thread")

TOL = 1e-4


@pytest.fixture(scope="module")
def dump(shared_dir):
    d = shared_dir / "reference" / "official" / "dump-small-seed0"
    if not d.is_dir():
        pytest.skip(f"{d} missing")
    load = lambda name: torch.load(d / name, map_location="cpu", weights_only=True)  # noqa: E731
    manifest = json.loads((d / "manifest.json").read_text())
    return {"dir": d, "in": load("inputs.pt"), "out": load("outputs.pt"), "manifest": manifest}


@pytest.fixture(scope="module")
def modules(dump):
    ck = dump["dir"] / "checkpoints"
    sd_vq = ckpt.load_official_state(ck / "vq_model_net_best_fid.tar", "vq")
    sd_mt = ckpt.load_official_state(ck / "t2m_transformer_latest.tar", "transformer")
    sd_rt = ckpt.load_official_state(ck / "res_transformer_net_best_fid.tar", "residual")
    cfg = dump["manifest"]["config"]
    vq = ckpt.vq_from_state(sd_vq)
    mt = ckpt.transformer_from_state(sd_mt, {"n_heads": cfg["mask_transformer"]["num_heads"]})
    rt = ckpt.residual_from_state(sd_rt, {"n_heads": cfg["residual_transformer"]["num_heads"]})
    ckpt.load_strict(vq, sd_vq, "vq")
    ckpt.load_strict(mt, sd_mt, "mt")
    ckpt.load_strict(rt, sd_rt, "rt")
    return vq.eval(), mt.eval(), rt.eval()


def test_state_dicts_load_strictly_with_exact_keys(dump, modules):
    vq, mt, rt = modules
    ck = dump["dir"] / "checkpoints"
    for module, name, kind in ((vq, "vq_model_net_best_fid.tar", "vq"),
                               (mt, "t2m_transformer_latest.tar", "transformer"),
                               (rt, "res_transformer_net_best_fid.tar", "residual")):
        sd = ckpt.load_official_state(ck / name, kind)
        own = module.state_dict()
        assert set(own) == set(sd)
        assert all(own[k].shape == sd[k].shape for k in sd)
        assert all(torch.equal(own[k], sd[k]) for k in sd)
    cfg = dump["manifest"]["config"]["mask_transformer"]
    assert (mt.num_tokens, mt.latent_dim, mt.num_heads) == (cfg["num_tokens"], cfg["latent_dim"],
                                                            cfg["num_heads"])
    ids = dump["manifest"]["special_ids"]["mask_transformer"]
    assert (mt.end_id, mt.pad_id, mt.mask_id) == (ids["end"], ids["pad"], ids["mask"])
    assert rt.pad_id == dump["manifest"]["special_ids"]["residual_transformer"]["pad"]


def test_wrong_checkpoint_gives_clear_error(dump, modules):
    _, mt, _ = modules
    ck = dump["dir"] / "checkpoints"
    with pytest.raises(ckpt.CheckpointError, match="t2m_transformer"):
        ckpt.load_official_state(ck / "vq_model_net_best_fid.tar", "transformer")
    sd = ckpt.load_official_state(ck / "t2m_transformer_latest.tar", "transformer")
    sd.pop("cond_emb.bias")
    before = {k: v.clone() for k, v in mt.state_dict().items()}
    with pytest.raises(ckpt.CheckpointError, match="cond_emb.bias"):
        ckpt.load_strict(mt, sd, "mt")
    assert all(torch.equal(before[k], v) for k, v in mt.state_dict().items())


def test_masked_transformer_logits_and_masks(dump, modules):
    _, mt, _ = modules
    i, o = dump["in"], dump["out"]
    ids, cond, cond_idx = i["ids"], i["cond"], i["cond_idx"]
    vis = cond_idx != mt.pad_id
    with torch.no_grad():
        assert (mt(ids, cond) - o["mt_logits_uni"]).abs().max() < TOL
        assert (mt(ids, cond, vis) - o["mt_logits_bi"]).abs().max() < TOL
        assert (mt(ids, torch.zeros_like(cond)) - o["mt_logits_uncond_uni"]).abs().max() < TOL
        assert (mt.forward_cfg(ids, cond, 4.0) - o["mt_logits_cfg4_uni"]).abs().max() < TOL
        assert (mt.forward_cfg(ids, cond, 3.0, vis) - o["mt_logits_cfg3_bi"]).abs().max() < TOL
    heads = mt.num_heads
    bi = bidirectional_mask(visible_positions(vis)).repeat_interleave(heads, 0)
    assert torch.equal(bi, o["mt_attn_bi"])
    uni = causal_mask(ids.shape[1] + 1).expand(ids.shape[0] * heads, -1, -1)
    assert torch.equal(uni, o["mt_attn_uni"])


def test_residual_logits_on_valid_positions(dump, modules):
    _, _, rt = modules
    i, o = dump["in"], dump["out"]
    res, lens, cond = i["res_ids"], i["lens"], i["cond"]
    pad = torch.arange(res.shape[1])[None] >= lens[:, None]
    ids = torch.where(res < 0, torch.full_like(res, rt.pad_id), res)
    valid = ~pad
    with torch.no_grad():
        for q in range(1, 6):
            h = rt.history(ids, q)
            c = rt(h, q, cond, pad).transpose(1, 2)
            g = rt.forward_cfg(h, q, cond, 5.0, pad).transpose(1, 2)
            assert (c - o["rt_logits_cond"][q - 1].transpose(1, 2))[valid].abs().max() < TOL
            assert (g - o["rt_logits_cfg5"][q - 1].transpose(1, 2))[valid].abs().max() < TOL


def test_vq_encode_decode_and_joints(dump, modules):
    from bamm_core.motion.features import recover_from_ric

    vq, _, _ = modules
    i, o = dump["in"], dump["out"]
    with torch.no_grad():
        dec = vq.forward_decoder(i["res_ids"])
        assert (dec - o["vq_decoded"]).abs().max() < TOL
        ids, codes = vq.encode(i["motion_in"])
        assert torch.equal(ids, o["vq_encode_ids"])
        assert (codes - o["vq_encode_codes"]).abs().max() < TOL
        assert (vq(i["motion_in"])[0] - o["vq_recon_eval"]).abs().max() < TOL
        joints = recover_from_ric(o["vq_decoded"] * i["std"] + i["mean"], 22)
    torch.testing.assert_close(joints, o["joints_from_res_ids"], rtol=1e-5, atol=1e-3)


def test_end_handling_helpers(dump, modules):
    _, mt, _ = modules
    o = dump["out"]
    ids, lens = official_pad_after_end(o["end_test_in"], mt.end_id, mt.pad_id)
    assert torch.equal(ids, o["pad_after_end_ids"]) and torch.equal(lens, o["pad_after_end_len"])
    ids, lens = official_pad_when_end(o["end_test_in"], mt.end_id, mt.pad_id)
    assert torch.equal(ids, o["pad_when_end_ids"]) and torch.equal(lens, o["pad_when_end_len"])


def test_round2_tie_break_matches_spec_table():
    got = {L: official_round2_positions(torch.tensor([L]), 50)[0].nonzero().flatten().tolist()
           for L in (49, 30, 20)}
    assert got[49] == [1] + list(range(25, 48))
    assert got[30] == [1] + list(range(16, 30))
    assert got[20] == [0, 1] + list(range(12, 20))


@pytest.mark.parametrize("mode", ["fixed196", "predlen"])
@pytest.mark.parametrize("use_cache", [False, True])
def test_seeded_generate_is_bit_identical(dump, modules, mode, use_cache):
    _, mt, rt = modules
    i, o = dump["in"], dump["out"]
    cond, seed = i["gen_text_emb"], int(i["gen_seed"])
    g = torch.Generator().manual_seed(seed)
    lengths = torch.tensor([49]) if mode == "fixed196" else None
    with torch.inference_mode():
        r = official_layer0(mt, cond, lengths, (4.0, 3.0), g, use_cache=use_cache,
                            max_tokens=HUMANML3D.max_tokens)
        all_ids = residual_layers(rt, r["ids"], r["lengths"], cond, 5.0, 1.0, 0.9, g)
    assert torch.equal(r["round1_ids"], o[f"gen_{mode}_round1_ids"])
    assert (r["round1_probs"] - o[f"gen_{mode}_round1_probs"]).abs().max() < 1e-5
    assert torch.equal(r["cond_idx"], o[f"gen_{mode}_round2_cond_idx"])
    assert torch.equal(r["round2_raw_ids"], o[f"gen_{mode}_round2_raw_ids"])
    assert torch.equal(r["ids"], o[f"gen_{mode}_ids"])
    assert torch.equal(r["lengths"], o[f"gen_{mode}_pred_len"])
    assert torch.equal(all_ids, o[f"gen_{mode}_all_ids"])


def test_release_sizes_have_exact_names_and_shapes(shared_dir):
    spec = json.loads((shared_dir / "reference" / "official" /
                       "release_state_dict_keys.json").read_text())
    cfg = spec["_config"]
    v, m, r = cfg["rvqvae"], cfg["mask_transformer"], cfg["residual_transformer"]
    modules = {
        "rvqvae": RVQVAE(v["input_width"], v["nb_code"], v["code_dim"], v["down_t"], v["stride_t"],
                         v["width"], v["depth"], v["dilation_growth_rate"], v["activation"],
                         v["num_quantizers"], v["quantize_dropout_prob"], v["mu"]),
        "mask_transformer": BAMMTransformer(m["num_tokens"], m["code_dim"], m["latent_dim"],
                                            m["ff_size"], m["num_layers"], m["num_heads"],
                                            m["dropout"], m["clip_dim"], m["cond_drop_prob"]),
        "residual_transformer": ResidualTransformer(r["num_tokens"], r["code_dim"], r["latent_dim"],
                                                    r["ff_size"], r["num_layers"], r["num_heads"],
                                                    r["dropout"], r["clip_dim"],
                                                    r["num_quantizers"], r["cond_drop_prob"]),
    }
    for name, module in modules.items():
        expected = spec[name]["keys"]
        own = module.state_dict()
        assert set(own) == set(expected), name
        for k, meta in expected.items():
            assert list(own[k].shape) == meta["shape"], k
        buffers = {k for k, _ in module.named_buffers() if k in own}
        assert buffers == {k for k, meta in expected.items() if meta["buffer"]}, name
        n_params = sum(p.numel() for p in module.parameters())
        assert n_params == spec[name]["num_parameters_wo_clip"], name


def _write_official_tree(dump, root: Path) -> Path:
    """An official-layout checkpoints tree (SPEC §6) from the dump's files."""
    ck = dump["dir"] / "checkpoints"
    cfg = dump["manifest"]["config"]
    vq_dir = root / "checkpoints" / "t2m" / "rvq_nq6_dc64_nc64_noshare_qdp0.2"
    rt_dir = root / "checkpoints" / "t2m" / "tres_nlayer2_ld64_ff128_rvq6ns_cdp0.2_sw"
    mt_dir = root / "log" / "t2m" / "t2m" / "2024-02-14-14-27-29_small_officialTrans_2iterPrdictEnd"
    for d, src, dst in ((vq_dir, "vq_model_net_best_fid.tar", "net_best_fid.tar"),
                        (rt_dir, "res_transformer_net_best_fid.tar", "net_best_fid.tar"),
                        (mt_dir, "t2m_transformer_latest.tar", "latest.tar")):
        (d / "model").mkdir(parents=True)
        shutil.copy(ck / src, d / "model" / dst)
    v = cfg["rvqvae"]
    ckpt.write_opt_txt(vq_dir / "opt.txt", {
        "name": vq_dir.name, "dataset_name": "t2m", "nb_code": v["nb_code"],
        "code_dim": v["code_dim"], "down_t": 2, "stride_t": 2, "width": v["width"], "depth": 3,
        "dilation_growth_rate": 3, "vq_act": "relu", "vq_norm": "None", "num_quantizers": 6,
        "quantize_dropout_prob": 0.2, "checkpoints_dir": "./checkpoints", "lr": "2e-4"})
    (vq_dir / "meta").mkdir()
    np.save(vq_dir / "meta" / "mean.npy", dump["in"]["mean"].numpy())
    np.save(vq_dir / "meta" / "std.npy", dump["in"]["std"].numpy())
    for d, c in ((mt_dir, cfg["mask_transformer"]), (rt_dir, cfg["residual_transformer"])):
        ckpt.write_opt_txt(d / "opt.txt", {
            "name": d.name, "dataset_name": "t2m", "latent_dim": c["latent_dim"],
            "ff_size": c["ff_size"], "n_layers": c["num_layers"], "n_heads": c["num_heads"],
            "dropout": c["dropout"], "cond_drop_prob": c["cond_drop_prob"], "trans": "official",
            "vq_name": vq_dir.name, "checkpoints_dir": "./log/t2m", "gpu_id": "cuda:0"})
    return root


def test_opt_txt_parsing(tmp_path):
    p = tmp_path / "opt.txt"
    ckpt.write_opt_txt(p, {"a": 1, "b": 0.2, "c": True, "d": "2e-4", "e": "None", "f": "cuda:0"})
    assert ckpt.parse_opt_txt(p) == {"a": 1, "b": 0.2, "c": True, "d": "2e-4", "e": "None",
                                     "f": "cuda:0"}


def test_official_tree_through_engine(dump, tmp_path):
    root = _write_official_tree(dump, tmp_path / "bamm")
    eng = Engine.from_pretrained(root)
    assert eng.transformer.num_heads == dump["manifest"]["config"]["mask_transformer"]["num_heads"]
    assert eng.info()["text_encoder"] == "clip"
    i, o = dump["in"], dump["out"]
    m = eng.generate(text_embedding=i["gen_text_emb"][0].numpy(), length=196,
                     seed=int(i["gen_seed"]), refine="official", use_cache=False)
    assert np.array_equal(m.tokens, o["gen_fixed196_all_ids"][0, :49].numpy())
    np.testing.assert_allclose(m.raw_joints, o["gen_fixed196_joints"].numpy(), rtol=1e-5, atol=1e-3)
    np.testing.assert_allclose(m.features, (o["gen_fixed196_motion"][0, :196] * i["std"]
                                            + i["mean"]).numpy(), atol=1e-4)
    m2 = eng.generate(text_embedding=i["gen_text_emb"].numpy(), length=None,
                      seed=int(i["gen_seed"]), refine="official")
    assert np.array_equal(m2.tokens, o["gen_predlen_all_ids"][0, :49].numpy())
    # the official model needs CLIP for text; offline that is a clear error
    if not ckpt.Path("~/.cache/clip/ViT-B-32.pt").expanduser().is_file():
        with pytest.raises(TextEncoderError, match="ViT-B-32.pt"):
            eng.generate("a person walks", length=40)
    # explicit folders work too
    runs = ckpt.find_official_runs(root)
    # the release's extra copy of the VQ run under log/vq/ (opt.txt, model/, no meta) and a
    # KIT run next to it do not confuse the lookup
    copy = root / "log" / "vq" / "t2m" / runs["vq"].name
    shutil.copytree(runs["vq"] / "model", copy / "model")
    shutil.copy(runs["vq"] / "opt.txt", copy / "opt.txt")
    kit = root / "checkpoints" / "kit" / (runs["residual"].name + "_k")
    shutil.copytree(runs["residual"], kit)
    opt = ckpt.parse_opt_txt(kit / "opt.txt")
    ckpt.write_opt_txt(kit / "opt.txt", {**opt, "dataset_name": "kit"})
    assert ckpt.find_official_runs(root, dataset="t2m") == runs
    assert Engine.from_pretrained(root).info()["parameters"] == eng.info()["parameters"]
    eng2 = Engine.from_official(runs["transformer"], runs["vq"], runs["residual"])
    assert eng2.info()["parameters"] == eng.info()["parameters"]
