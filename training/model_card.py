"""The end of a ``bamm train`` run: the model folder, what it knows, and a quick evaluation.

:func:`finish_model` exports the run (:func:`training.export_model.export`, float16 like the
bundled model) with the dataset summary in ``config.json`` (``trained_on``), writes
``captions.json`` + ``captions.npy`` (the training captions, the engine's caption index) and
``MODEL_CARD.md``: the dataset, the training, and a few held-out clips (test split, else val,
else train) generated from their captions at their length by the new model and by the model it
started from, measured against the real clips: physical plausibility
(:func:`training.metrics.physical_metrics`) and how far the motion's extent is from the real
one (:func:`motion_extent`: root travel, joint speed, highest foot and wrist).
"""
from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path

import numpy as np

from bamm_core.motion.features import recover_from_ric

from .dataset import HumanML3DDir
from .metrics import physical_metrics
from .tokenizer_fit import POOR_FIT_M, POOR_PEAK_M

FEET, WRISTS = (7, 8, 10, 11), (20, 21)
EXTENT_KEYS = ("travel_m", "speed_mps", "foot_top_m", "wrist_top_m")


def motion_extent(joints: np.ndarray, fps: float) -> dict[str, float]:
    """Root travel (m), mean joint speed (m/s), highest foot and wrist above the floor (m)."""
    j = np.asarray(joints, dtype=np.float64)
    floor = j[..., 1].min()
    speed = np.linalg.norm(np.diff(j, axis=0), axis=-1).mean() * fps if len(j) > 1 else 0.0
    return {"travel_m": float(np.linalg.norm(j[-1, 0, [0, 2]] - j[0, 0, [0, 2]])), "speed_mps": float(speed),
            "foot_top_m": float(j[:, FEET, 1].max() - floor), "wrist_top_m": float(j[:, WRISTS, 1].max() - floor)}


def eval_clips(data: HumanML3DDir, n: int, max_frames: int, min_frames: int) -> tuple[str, list[dict]]:
    """Up to ``n`` clips of the first non-empty split of test / val / train (evenly spread)."""
    for split in ("test", "val", "train"):
        try:
            items = data.items(split, min_len=min_frames, max_len=max_frames)
        except FileNotFoundError:
            continue
        items = [it for it in items if not it["name"].startswith("M")] or items  # not the mirrors
        if items:
            pick = np.linspace(0, len(items) - 1, min(n, len(items))).round().astype(int)
            return split, [items[i] for i in sorted(set(pick))]
    return "", []


def evaluate_models(models: dict[str, Path], data: HumanML3DDir, n: int, seed: int = 0) -> dict:
    """``{"split", "clips": [(name, caption)], rows: {"real" | model: {metric: value}}}``."""
    from bamm_core.generation.engine import Engine

    engines = {k: Engine.from_pretrained(str(p), device="cpu") for k, p in models.items()}
    tb = next(iter(engines.values())).timebase
    split, clips = eval_clips(data, n, tb.max_frames, tb.default_min_frames)
    if not clips:
        return {"split": "", "clips": [], "rows": {}}
    fps = tb.fps
    real = [recover_from_ric(it["features"][: len(it["features"]) // tb.frames_per_token * tb.frames_per_token])
            for it in clips]
    joints = {"real": real}
    for key, eng in engines.items():
        joints[key] = [np.asarray(eng.generate(it["captions"][0], length=len(r), seed=seed + i).joints)
                       for i, (it, r) in enumerate(zip(clips, real))]
    rows = {}
    for key, js in joints.items():
        row = physical_metrics(js, fps)
        ext = [motion_extent(j, fps) for j in js]
        row.update({k: float(np.mean([e[k] for e in ext])) for k in EXTENT_KEYS})
        if key != "real":
            ref = [motion_extent(r, fps) for r in real]
            row["extent_error"] = float(np.mean([abs(e[k] - r[k]) for e, r in zip(ext, ref) for k in EXTENT_KEYS]))
        rows[key] = row
    return {"split": split, "clips": [(it["name"], it["captions"][0]) for it in clips], "rows": rows}


def known_captions(data: HumanML3DDir) -> dict[str, int]:
    """Each training caption -> the number of training motions it describes."""
    counts: Counter = Counter()
    for it in data.items("train", min_len=1, max_len=10**9):
        counts.update(set(it["captions"]))
    return dict(sorted(counts.items()))


def finish_model(req, out: Path, run: Path, data: HumanML3DDir, summary: dict, state: dict, log=print) -> None:
    """Export the run to ``out`` with its caption index and ``MODEL_CARD.md``."""
    from bamm_core.generation.options import SamplingOptions

    from .export_model import export
    from .fine_tune import base_dir
    from .base_model import read_base_config

    base = None if req.base == "scratch" else base_dir(req.base)
    base_cfg = read_base_config(base) if base is not None else {}
    trained_on = {k: summary.get(k) for k in ("source", "captions", "fps", "takes_prepared", "motions_written",
                                              "hours", "hours_without_mirrors", "splits") if k in summary}
    trained_on["dataset"] = str(Path(req.dataset).resolve())
    training = {"from": base_cfg.get("name", "scratch") if base else "scratch",
                "stages": state["stages"], "minutes_budget": req.minutes,
                "minutes_training": round(state["spent_s"] / 60.0, 2), "device": req.device,
                "tokenizer": "retrained" if req.retrain_tokenizer or not base else "kept",
                "tokenizer_fit": state.get("tokenizer_fit"),
                "exported": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    name = req.name or out.resolve().name
    export(run, out, name=name, license=req.license, fp16=True,
           options=SamplingOptions.from_config(base_cfg), extra={"trained_on": trained_on, "training": training})
    caps = known_captions(data)
    from bamm_core.generation.engine import Engine
    from bamm_core.generation.understanding import write_caption_index

    # the caption index "understood as" compares prompts to, embedded with the model's encoder
    write_caption_index(out, list(caps), encode=Engine.from_pretrained(out).encode_text)
    log(f"evaluating on up to {req.eval_clips} held-out clips ...")
    models = {"this model": out} if base is None else {"this model": out, f"start ({base_cfg.get('name')})": base}
    ev = evaluate_models(models, data, req.eval_clips, req.seed) if req.eval_clips > 0 else {"clips": []}
    (out / "MODEL_CARD.md").write_text(model_card(name, req.license, trained_on, training, caps, ev))
    log(f"wrote {out} (model card: {out / 'MODEL_CARD.md'})")


def _table(ev: dict) -> list[str]:
    keys = ["skating", "jitter", "penetration", "float", *EXTENT_KEYS, "extent_error"]
    lines = ["| | " + " | ".join(keys) + " |", "|---" * (len(keys) + 1) + "|"]
    for row, vals in ev["rows"].items():
        lines.append(f"| {row} | " + " | ".join(f"{vals[k]:.3f}" if k in vals else "" for k in keys) + " |")
    return lines


def model_card(name: str, license: str, trained_on: dict, training: dict, caps: dict, ev: dict) -> str:
    steps = ", ".join(f"{k} {v['step']} steps" for k, v in training["stages"].items())
    lines = [f"# {name}", "", f"License: {license}", "",
             "Trained with `bamm train` (BAMM Motion). Load it with `bamm generate --model THIS_FOLDER`, "
             "a bake job's `model` or the add-on's *Model folder*.", "",
             "## Trained on", "", "```json", json.dumps(trained_on, indent=1), "```", "",
             "## Training", "",
             f"From: {training['from']} (tokenizer {training['tokenizer']}); {steps}; "
             f"{training['minutes_training']} min of training in a {training['minutes_budget']:g}-minute budget "
             f"on {training['device']}.", ""]
    fit = training.get("tokenizer_fit")
    if fit and fit["poor"]:
        lines += [f"The kept tokenizer does not represent {len(fit['poor'])} of {fit['clips']} training clips "
                  f"(joints over {POOR_FIT_M} m off on average or {POOR_PEAK_M} m at some frame): "
                  + ", ".join(f"{k} ({v:.2f} m)" for k, v in fit["poor"].items())
                  + "; these motions need `--retrain-tokenizer`.", ""]
    lines += [f"## What it knows ({len(caps)} captions; all in `captions.json`)", ""]
    lines += [f"- {c} ({n})" for c, n in list(caps.items())[:20]] + (["- ..."] if len(caps) > 20 else [])
    lines += ["", "## Quick evaluation", ""]
    if not ev.get("clips"):
        lines.append("No clip to evaluate on.")
    else:
        lines += [f"{len(ev['clips'])} clips of the {ev['split']} split, each generated once from its first "
                  "caption at its own length. Physical plausibility (skating: share of foot-contact steps "
                  "that slide; jitter m/s³; penetration / float m) and the motion's extent (root travel, "
                  "mean joint speed, highest foot and wrist); extent_error: mean absolute difference of "
                  "the four extents from the real clip (lower is closer).", ""]
        lines += _table(ev) + ["", "Clips: " + "; ".join(f"{n} ({c})" for n, c in ev["clips"]), ""]
    return "\n".join(lines) + "\n"


__all__ = ["finish_model", "evaluate_models", "motion_extent", "known_captions", "model_card"]
