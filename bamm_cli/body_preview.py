"""``bamm preview MOTION --body MODEL_FILE``: the motion on an SMPL / SMPL-X body mesh.

The body is fitted to the engine's T-pose skeleton (:func:`bamm_core.rigs.rest_pose.smpl_rest_joints`),
posed with the rotation solver's joint rotations and skinned (:mod:`bamm_core.rigs.body`),
then drawn (:mod:`bamm_core.formats.mesh_preview`): a ``.gif`` animation or a ``.png`` sheet.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from bamm_core.formats.mesh_preview import MESH_PREVIEW_FORMATS, save_mesh_preview, save_mesh_sheet
from bamm_core.motion.timebase import HUMANML3D
from bamm_core.rigs.body import fit_body, pose_body
from bamm_core.rigs.body_model import load_body_model
from bamm_core.rigs.rest_pose import smpl_rest_joints

from .errors import UserError, user_errors
from .progress import Progress, say, slow_note


def parse_betas(text: str | None) -> list[float]:
    """``"1.5,-0.5"`` -> [1.5, -0.5] (the first shape coefficients)."""
    if not text:
        return []
    try:
        return [float(b) for b in text.split(",") if b.strip()]
    except ValueError:
        raise UserError(f"--betas takes comma-separated numbers (e.g. 1.0,-0.5), got {text!r}") from None


def add_body_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--body", metavar="MODEL_FILE", default=None,
                        help="draw an SMPL/SMPL-X body (your own .npz/.pkl, or a folder of them; needs "
                             "the smplx extra) instead of the stick figure; .gif or .png outputs")
    parser.add_argument("--gender", choices=("neutral", "male", "female"), default="neutral",
                        help="with --body and a folder: which model file (default neutral)")
    parser.add_argument("--betas", default=None, metavar="B1,B2,...",
                        help="with --body: shape coefficients (default all 0: the mean shape)")


def write_body_previews(joints: np.ndarray, outs: list[Path], args: argparse.Namespace, title: str) -> None:
    """Check the outputs, load and fit the body, skin every frame and write each output."""
    for o in outs:
        if o.suffix.lower() not in MESH_PREVIEW_FORMATS:
            raise UserError(f"preview --body writes {' or '.join(MESH_PREVIEW_FORMATS)}, not {o.suffix!r} "
                            f"({str(o)!r})")
    betas = parse_betas(args.betas)
    with user_errors("--body: "):
        model = load_body_model(args.body, args.gender, betas)
        body = fit_body(model, smpl_rest_joints("T"))
    with user_errors("--body: "), slow_note(args.quiet, f"posing the {model.kind} body ({len(joints)} frames)..."):
        vertices = pose_body(body, joints)
    for out in outs:
        with user_errors(), Progress(f"drawing {out.name}", args.quiet, unit="frame") as bar:
            if out.suffix.lower() == ".gif":
                save_mesh_preview(vertices, body.faces, out, HUMANML3D.fps, title, root=joints[:, 0], progress=bar)
            else:
                save_mesh_sheet(vertices, body.faces, out, fps=HUMANML3D.fps, title=title, root=joints[:, 0])
        say(args.quiet, f"wrote {out} ({len(joints)} frames, {model.kind} body from {Path(model.path).name})")


__all__ = ["add_body_arguments", "parse_betas", "write_body_previews"]
