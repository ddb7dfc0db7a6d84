"""What a prompt was understood as: nearest training captions, the known/unknown warning, the
caption index of a model folder, and the CLI's stderr lines."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from bamm_cli.main import main
from bamm_cli.understanding import understood_lines
from bamm_core.generation.engine import Engine
from bamm_core.generation.understanding import CAPTIONS_FILE, nearest, read_caption_index

SEEN = "a person waves the right hand."
UNRELATED = ["a person sits down on a chair", "a person jumps", "a person swims"]
PARAPHRASES = ["a person walks forward", "someone jogs forward happily",
               "a person waves hello with the right hand", "a person walks backwards"]


@pytest.fixture(scope="module")
def engine(bundled_engine):
    if not bundled_engine.known_captions:
        pytest.skip("the bundled model ships no captions.json")
    return bundled_engine


def test_seen_caption_is_understood_as_itself(engine):
    assert SEEN in engine.known_captions
    near = engine.understood(SEEN, k=3)
    assert len(near) == 3 and near[0][0] == SEEN
    assert near[0][1] == pytest.approx(1.0, abs=1e-3)
    assert near[0][1] >= near[1][1] >= near[2][1]
    report = engine.prompt_report(SEEN)
    assert report["known"] is True and report["nearest"][0][0] == SEEN


def test_paraphrases_are_known_and_unrelated_prompts_warned(engine):
    for text in PARAPHRASES:
        assert engine.prompt_report(text)["known"] is True, (text, engine.understood(text, 1))
    assert engine.understood("a person walks backwards", 1)[0][0].startswith("a person walks backward")
    for text in UNRELATED:
        report = engine.prompt_report(text)
        assert report["known"] is False, (text, report["nearest"][0])
        line, warning = understood_lines(report, text)
        assert line.startswith("understood as: ") and text in warning


def test_generate_records_what_it_understood(engine):
    m = engine.generate(SEEN, length=40, seed=0)
    caption, sim = m.info["understood"]
    assert caption == SEEN and sim == pytest.approx(1.0, abs=1e-3)


def test_model_folder_without_captions_is_unknown(tiny_model_dir, tmp_path):
    assert read_caption_index(tiny_model_dir) == (None, None)
    eng = Engine.from_pretrained(tiny_model_dir)
    assert eng.understood("a person walks") == []
    assert eng.prompt_report("a person walks")["known"] is None
    assert understood_lines(eng.prompt_report("a person walks"), "a person walks") == (None, None)
    assert "understood" not in eng.generate("a person walks", length=16, seed=0).info
    take = eng.compose([("a person walks", 16), ("a person bows", 16)], seed=0)
    assert all("understood" not in s for s in take.info["segments"])
    bad = tmp_path / "bad"
    shutil.copytree(tiny_model_dir, bad)
    (bad / CAPTIONS_FILE).write_text('{"captions": [1, 2]}')
    with pytest.raises(ValueError, match="captions"):
        Engine.from_pretrained(bad)


def test_nearest_ranks_by_cosine():
    index = np.array([[1, 0], [0.6, 0.8], [0, 1]], np.float32)
    assert nearest(np.array([0.0, 2.0]), index, ["a", "b", "c"], 2) == [("c", 1.0), ("b", 0.8)]


@pytest.fixture()
def captioned_model(tiny_model_dir, tmp_path):
    d = tmp_path / "model"
    shutil.copytree(tiny_model_dir, d)
    (d / CAPTIONS_FILE).write_text(json.dumps({
        "motions": ["walks forward", "bows"],
        "captions": ["a person walks forward.", "a person bows.", "a person bows happily."]}))
    return d


def test_cli_prints_understood_as_on_stderr(captioned_model, tmp_path, capsys):
    code = main(["generate", "a person bows.", "--model", str(captioned_model), "--seed", "0",
                 "--length", "1", "--out", str(tmp_path / "b.npy")])
    err = capsys.readouterr().err
    assert code == 0 and 'understood as: "a person bows." (1.00)' in err
    code = main(["generate", "a person walks forward.", "a person bows happily.", "--model",
                 str(captioned_model), "--seed", "0", "--length", "1,1", "--out", str(tmp_path / "t.npy")])
    err = capsys.readouterr().err
    assert code == 0
    assert '"a person walks forward." understood as: "a person walks forward." (1.00)' in err
    assert '"a person bows happily." understood as: "a person bows happily." (1.00)' in err


def test_cli_info_lists_known_motions(captioned_model, tiny_model_dir, capsys):
    assert main(["info", "--model", str(captioned_model)]) == 0
    out = capsys.readouterr().out
    assert "walks forward, bows" in out and "training_captions" in out
    assert main(["info", "--model", str(tiny_model_dir)]) == 0
    assert "unknown (the model folder has no captions.json)" in capsys.readouterr().out


def test_compose_segments_record_what_they_understood(captioned_model):
    eng = Engine.from_pretrained(captioned_model)
    take = eng.compose([("a person walks forward.", 16), ("a person bows.", 16)], seed=0)
    assert [s["understood"] for s in take.info["segments"]] == [
        ["a person walks forward.", pytest.approx(1.0, abs=1e-3)], ["a person bows.", pytest.approx(1.0, abs=1e-3)]]
    again = eng.recompose(take, 1, "a person bows happily.", seed=1)
    assert again.info["segments"][1]["understood"][0] == "a person bows happily."


def test_addon_generate_shows_understood_under_the_prompt(captioned_model, tmp_path):
    """Headless: Generate with a captioned model remembers the report; the panel's line."""
    import sys
    from pathlib import Path

    bpy = pytest.importorskip("bpy")
    import addon_utils

    root = tmp_path / "addons"
    root.mkdir()
    (root / "bamm_motion").symlink_to(Path(__file__).resolve().parents[1] / "blender_addon",
                                      target_is_directory=True)
    sys.path.insert(0, str(root))
    bpy.ops.wm.read_homefile(use_empty=True)
    try:
        assert addon_utils.enable("bamm_motion", default_set=True, handle_error=None) is not None
        from bamm_motion import understanding

        prefs = bpy.context.preferences.addons["bamm_motion"].preferences
        prefs.model_folder, prefs.device = str(captioned_model), "CPU"
        assert understanding.understood_text("a person bows.") is None  # nothing before a Generate
        assert bpy.ops.bamm.create_armature() == {"FINISHED"}
        assert bpy.ops.bamm.generate(prompt="a person bows.", length=1.0, seed=0) == {"FINISHED"}
        text, known = understanding.understood_text("a person bows.")
        assert known and text == 'understood as "a person bows." (1.00)'
        assert understanding.understood_text("a person walks forward.") is None
        # Generate Timeline: each prompt marker's segment reports what it was understood as
        scene = bpy.context.scene
        scene.frame_start, scene.frame_end = 1, 40
        for frame, prompt in ((1, "a person walks forward."), (20, "a person swims.")):
            assert bpy.ops.bamm.add_prompt_marker(prompt=prompt, frame=frame) == {"FINISHED"}
        assert bpy.ops.bamm.generate_timeline(seed=0) == {"FINISHED"}
        text, known = understanding.understood_text("a person walks forward.")
        assert known and text == 'understood as "a person walks forward." (1.00)'
        assert understanding.understood_text("a person swims.") is not None
    finally:
        if "bamm_motion.understanding" in sys.modules:
            sys.modules["bamm_motion.understanding"].clear()
        addon_utils.disable("bamm_motion", default_set=True)
        sys.path.remove(str(root))


def test_shipped_embeddings_are_the_ones_the_engine_would_compute(tmp_path, tiny_model_dir):
    """captions.npy saves embedding the index at load; it must match embedding it afresh
    (a stale or mismatched file is ignored)."""
    import shutil

    from bamm_core.generation.engine import Engine
    from bamm_core.generation.understanding import EMBEDDINGS_FILE, write_caption_index

    folder = tmp_path / "m"
    shutil.copytree(tiny_model_dir, folder)
    caps = ["a person walks forward.", "a person waves the right hand.", "a person bows."]
    write_caption_index(folder, caps, encode=Engine.from_pretrained(folder).encode_text)
    loaded = Engine.from_pretrained(folder)
    assert loaded._caption_index is not None  # read from captions.npy, not computed
    fresh = Engine.from_pretrained(folder)
    fresh._caption_index = None
    np.testing.assert_allclose(loaded.caption_index(), fresh.caption_index(), atol=2e-3)
    assert loaded.understood("a person bows.", k=1)[0][0] == "a person bows."
    np.save(folder / EMBEDDINGS_FILE, np.zeros((2, 5), np.float16))  # wrong shape: ignored
    assert Engine.from_pretrained(folder)._caption_index is None


def test_snap_toward_moves_a_vector_to_its_nearest_row_keeping_its_length():
    from bamm_core.generation.understanding import normalized_rows, snap_toward

    rng = np.random.default_rng(0)
    index = normalized_rows(rng.normal(size=(6, 16)).astype(np.float32))
    v = 3.0 * (index[2] + 0.05 * rng.normal(size=16).astype(np.float32))
    np.testing.assert_array_equal(snap_toward(v, index, 0.0), v)
    np.testing.assert_allclose(snap_toward(v, index, 1.0), index[2] * np.linalg.norm(v), rtol=1e-5)
    half = snap_toward(v, index, 0.5)
    cos = lambda a, b: float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))  # noqa: E731
    assert cos(v, index[2]) < cos(half, index[2]) < 1.0
    assert np.linalg.norm(half) == pytest.approx(np.linalg.norm(v), rel=1e-5)


def test_prompt_snap_conditions_on_the_nearest_training_caption(engine, tiny_model_dir):
    """prompt_snap 1 conditions a paraphrase on its nearest training caption, 0 on the prompt
    as typed; the option is checked, travels through the model config, and does nothing for a
    model without a caption index."""
    from bamm_core.generation.options import SamplingOptions

    text = "a person walks backwards"
    near = engine.understood(text, 1)[0][0]
    typed = engine._condition_rows(text, None, 1, 0.0)
    np.testing.assert_allclose(typed.numpy(), engine.encode_text([text]), atol=1e-6)
    snapped = engine._condition_rows(text, None, 1, 1.0)
    caption = engine._condition_rows(near, None, 1, 0.0)
    np.testing.assert_allclose(snapped.numpy(), (caption * typed.norm() / caption.norm()).numpy(),
                               atol=2e-3)  # (the shipped index is stored in float16)
    with pytest.raises(ValueError, match="prompt_snap"):
        SamplingOptions(prompt_snap=1.5)
    opts = SamplingOptions(prompt_snap=0.5)
    assert SamplingOptions.from_config({"decoding": opts.to_config()}) == opts
    assert "prompt_snap" not in SamplingOptions().to_config()
    bare = Engine.from_pretrained(tiny_model_dir)
    np.testing.assert_array_equal(bare.prompt_embeddings([text], 1.0), bare.encode_text([text]))


def test_wording_marks_read_sides_and_hands():
    from bamm_core.generation.understanding import compatible, wording_marks

    assert wording_marks("walk forward, veering right") == ("right", None)
    assert wording_marks("a right-handed wave") == ("right", None)
    assert wording_marks("drift leftwards") == ("left", None)
    assert wording_marks("throw left and right punches") == (None, None)
    assert wording_marks("all right, walk forward") == (None, None)
    assert wording_marks("turn around right away") == (None, None)
    assert wording_marks("wave with both of her hands") == (None, "both")
    assert wording_marks("a two-handed goodbye") == (None, "both")
    assert wording_marks("wave with one hand") == (None, "one")
    assert wording_marks("take two steps to the left") == ("left", None)   # steps are not hands
    left, right, both, one = ("left", None), ("right", None), (None, "both"), (None, "one")
    assert not compatible(right, left) and compatible(right, right) and compatible(right, (None, None))
    assert not compatible(one, both) and compatible(one, right)
    assert not compatible(both, one) and not compatible(both, left) and compatible(both, both)
    assert compatible((None, None), left) and compatible((None, None), both)


def test_a_named_side_or_hand_count_is_never_understood_as_the_other(engine):
    """A sentence embedding hardly tells left from right: on the shipped index these prompts'
    plain nearest captions name the other side (or both hands for one); the engine's do not,
    and the snapped condition moves toward a caption of the named side."""
    from bamm_core.generation.understanding import wording_marks

    index = engine.caption_index()
    for text in ["walk diagonally to the front right", "a right-handed wave",
                 "wave farewell using one hand", "walk forward, veering left"]:
        caption = engine.understood(text, 1)[0][0]
        side, hands = wording_marks(text)
        c_side, c_hands = wording_marks(caption)
        assert (side is None or c_side in (side, None)) and not (hands == "one" and c_hands == "both"), \
            (text, caption)
        snapped = engine.prompt_embeddings([text], 1.0)[0]
        best = engine.known_captions[int(np.argmax(index @ (snapped / np.linalg.norm(snapped))))]
        assert best == caption
    plain = nearest(engine.encode_text(["walk diagonally to the front right"])[0], index,
                    engine.known_captions, 1)[0][0]
    assert "left" in plain  # (what the unconstrained match would say)
    # the allowed rows also steer compose's conditions
    np.testing.assert_allclose(engine.snap_embeddings(engine.encode_text(["a right-handed wave"]), 1.0,
                                                      ["a right-handed wave"]),
                               engine.prompt_embeddings(["a right-handed wave"], 1.0), atol=1e-6)
