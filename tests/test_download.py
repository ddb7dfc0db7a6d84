"""`bamm download official` against a local HTTP server (127.0.0.1, no internet) serving a
synthetic release: small random weights in the official layout (SPEC §6), zipped as the
Google Drive archives are, and a fake CLIP file whose URL carries its SHA-256."""
from __future__ import annotations

import hashlib
import io
import re
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
import torch

from bamm_core.generation.engine import Engine
from bamm_core.model import checkpoints as ckpt
from bamm_core.model import downloads as dl
from bamm_core.model.residual_transformer import ResidualTransformer
from bamm_core.model.tokenizer import RVQVAE
from bamm_core.model.transformer import BAMMTransformer

pytestmark = pytest.mark.usefixtures("one_torch_thread")
HEADS = 2


# ----------------------------------------------------------------------------- server
class _Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):  # quiet
        pass

    def do_GET(self):  # noqa: N802 - http.server's name
        srv = self.server
        srv.log.append((self.path, self.headers.get("Range")))
        data = srv.files.get(self.path)
        if data is None:
            self.send_error(404)
            return
        start = 0
        m = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range") or "")
        if m:
            start = int(m.group(1))
            if start >= len(data):
                self.send_error(416)
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(len(data) - start))
        html = data.startswith(b"<html")  # what Google Drive sends instead of a file over quota
        self.send_header("Content-Type", "text/html" if html else "application/octet-stream")
        self.end_headers()
        body = data[start:]
        if self.path in srv.drop_once:  # send half, then drop the connection
            srv.drop_once.discard(self.path)
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(body)


@pytest.fixture()
def server():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    srv.files, srv.log, srv.drop_once = {}, [], set()
    srv.daemon_threads = True
    t = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    t.start()
    srv.url = f"http://127.0.0.1:{srv.server_address[1]}"
    yield srv
    srv.shutdown()
    srv.server_close()
    t.join(5)


# ----------------------------------------------------------------------------- release
def _tar(obj) -> bytes:
    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


def _opt(opts: dict) -> bytes:
    lines = ["------------ Options -------------", *(f"{k}: {v}" for k, v in sorted(opts.items())),
             "-------------- End ----------------"]
    return ("\n".join(lines) + "\n").encode()


def _zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


@pytest.fixture(scope="module")
def release():
    """Archives in the release's layout with small random weights, and their expected shapes."""
    torch.manual_seed(0)
    vq = RVQVAE(input_width=263, nb_code=16, code_dim=16, width=16, depth=1)
    mt = BAMMTransformer(num_tokens=16, code_dim=16, latent_dim=16, ff_size=32, num_layers=1,
                         num_heads=HEADS, clip_dim=16)
    rt = ResidualTransformer(num_tokens=16, code_dim=16, latent_dim=16, ff_size=32, num_layers=1,
                             num_heads=HEADS, clip_dim=16)
    sds = {"vq": vq.state_dict(), "transformer": mt.state_dict(), "residual": rt.state_dict()}
    mean, std = ckpt.rest_pose_mean(263), np.full(263, 0.05, np.float32)
    npy = lambda a: (lambda b: (np.save(b, a), b.getvalue())[1])(io.BytesIO())  # noqa: E731
    vq_run, res_run, bamm_run = dl.VQ_RUN, dl.RES_RUN, dl.BAMM_RUN
    model_opt = {"dataset_name": "t2m", "n_heads": HEADS, "latent_dim": 16, "ff_size": 32,
                 "n_layers": 1, "dropout": 0.2, "vq_name": vq_run, "checkpoints_dir": "./log/t2m"}
    momask = {  # the archive's own prefix ("t2m/") differs from the installed layout
        f"t2m/{vq_run}/opt.txt": _opt({"name": vq_run, "dataset_name": "t2m", "down_t": 2, "stride_t": 2}),
        f"t2m/{vq_run}/model/net_best_fid.tar": _tar({"vq_model": sds["vq"], "ep": 1}),
        f"t2m/{vq_run}/meta/mean.npy": npy(mean), f"t2m/{vq_run}/meta/std.npy": npy(std),
        f"t2m/{res_run}/opt.txt": _opt({**model_opt, "name": res_run, "cond_drop_prob": 0.2}),
        f"t2m/{res_run}/model/net_best_fid.tar": _tar({"res_transformer": sds["residual"], "ep": 1}),
        "t2m/length_estimator/model/finest.tar": _tar({"estimator": {}, "epoch": 1}),
    }
    bamm = {f"{bamm_run}/opt.txt": _opt({**model_opt, "name": bamm_run, "cond_drop_prob": 0.1}),
            f"{bamm_run}/model/latest.tar": _tar({"t2m_transformer": sds["transformer"], "ep": 1})}
    clip = np.random.default_rng(0).bytes(3 * (1 << 20) + 123)  # > 1 chunk: cancellable mid-file
    return {"momask": _zip(momask), "bamm": _zip(bamm), "clip": clip,
            "expected": {k: {n: list(v.shape) for n, v in sd.items()} for k, sd in sds.items()},
            "bamm_members": bamm}


def _serve(server, release, clip: bytes | None = None) -> dict[str, str]:
    clip = release["clip"] if clip is None else clip
    sha = hashlib.sha256(release["clip"]).hexdigest()  # the URL names the true file
    paths = {"momask": "/uc/humanml3d_models.zip", "bamm": "/uc/bamm.zip",
             "clip": f"/clip/models/{sha}/ViT-B-32.pt"}
    server.files.update({paths["momask"]: release["momask"], paths["bamm"]: release["bamm"],
                         paths["clip"]: clip})
    return {k: server.url + p for k, p in paths.items()}


def _download(dest, sources, release, **kw):
    return dl.download_official(dest, sources=sources, expected=release["expected"], retry_wait=0,
                                timeout=10, **kw)


def _nothing_installed(dest: Path) -> None:
    assert not dl.is_installed(dest)
    assert not any((dest / n).exists() for n in (*dl.TOP_LEVEL, dl.MARKER))
    assert not (dest / "downloads" / "staging").exists()
    with pytest.raises(ckpt.CheckpointError):
        Engine.from_pretrained(dest)


# ----------------------------------------------------------------------------- tests
def test_download_resumes_after_a_dropped_connection_and_loads(server, release, tmp_path):
    sources = _serve(server, release)
    server.drop_once.add(sources["momask"][len(server.url):])
    seen = []
    dest = _download(tmp_path / "official", sources, release,
                     progress=lambda label, done, total: seen.append((label, done, total)))
    momask = [r for p, r in server.log if p.endswith("humanml3d_models.zip")]
    assert momask[0] is None and momask[1] == f"bytes={len(release['momask']) // 2}-"
    assert ("humanml3d_models.zip", len(release["momask"]), len(release["momask"])) in seen
    assert seen[-1] == ("verifying", len(dl.FILES), len(dl.FILES))
    assert dl.is_installed(dest) and dl.official_clip(dest).read_bytes() == release["clip"]
    assert (dest / "log" / "vq" / "t2m" / dl.VQ_RUN / "opt.txt").is_file()
    assert sorted(p.name for p in (dest / "downloads").iterdir()) == []  # archives removed
    eng = Engine.from_pretrained(dest)
    assert eng.transformer.num_heads == HEADS and eng.info()["text_encoder"] == "clip"
    m = eng.generate(text_embedding=np.random.default_rng(1).standard_normal(16).astype(np.float32),
                     length=40, seed=3)
    assert m.joints.shape == (40, 22, 3) and np.isfinite(m.joints).all()
    n = len(server.log)
    assert _download(dest, sources, release) == dest and len(server.log) == n  # already installed


def test_cancelled_download_resumes_in_a_later_call(server, release, tmp_path):
    sources = _serve(server, release)
    stop = lambda label, done, total: not (label == "ViT-B-32.pt" and done >= 1 << 20)  # noqa: E731
    with pytest.raises(dl.DownloadCancelled):
        _download(tmp_path, sources, release, progress=stop)
    part = tmp_path / "downloads" / "ViT-B-32.pt.part"
    assert part.stat().st_size == 1 << 20
    _nothing_installed(tmp_path)
    _download(tmp_path, sources, release)
    clip = [r for p, r in server.log if p.endswith("ViT-B-32.pt")]
    assert clip == [None, f"bytes={1 << 20}-"]
    assert [r for p, r in server.log if p.endswith(".zip")].count(None) == 2  # zips not fetched again
    assert dl.is_installed(tmp_path) and not part.exists()


@pytest.mark.parametrize("corruption", ["shape", "checksum", "archive"])
def test_corrupted_file_is_rejected_and_nothing_is_installed(server, release, tmp_path, corruption):
    clip = None
    if corruption == "shape":  # a checkpoint with one tensor of the wrong size
        members = dict(release["bamm_members"])
        sd = torch.load(io.BytesIO(members[f"{dl.BAMM_RUN}/model/latest.tar"]), weights_only=True)
        sd["t2m_transformer"]["cond_emb.weight"] = torch.zeros(16, 8)
        members[f"{dl.BAMM_RUN}/model/latest.tar"] = _tar(sd)
        release = {**release, "bamm": _zip(members)}
    elif corruption == "checksum":
        clip = release["clip"][:-1] + b"\0"
    else:  # bytes flipped inside the stored checkpoint: the zip's CRC catches it
        data = bytearray(release["momask"])
        data[len(data) // 3] ^= 0xFF
        release = {**release, "momask": bytes(data)}
    sources = _serve(server, release, clip)
    match = {"shape": "does not match the release.*cond_emb.weight", "checksum": "SHA-256",
             "archive": "corrupted|does not match|cannot read"}[corruption]
    with pytest.raises(dl.DownloadError, match=match):
        _download(tmp_path, sources, release)
    _nothing_installed(tmp_path)
    bad = {"shape": f"{dl.BAMM_RUN}.zip", "checksum": "ViT-B-32.pt", "archive": "humanml3d_models.zip"}
    assert not (tmp_path / "downloads" / bad[corruption]).exists()  # fetched anew next time


def test_offline_gives_manual_steps_and_manual_files_install(server, release, tmp_path):
    dead = {k: "http://127.0.0.1:9/" + k for k in ("momask", "bamm")}
    sha = hashlib.sha256(release["clip"]).hexdigest()
    dead["clip"] = f"http://127.0.0.1:9/clip/models/{sha}/ViT-B-32.pt"
    with pytest.raises(dl.DownloadError) as e:
        _download(tmp_path, dead, release, retries=1)
    msg = str(e.value)
    assert e.value.offline and str(tmp_path / "downloads") in msg
    assert "1vXS7SHJBgWPt59wupQ5UUzhFObrnGkQ0" in msg and f"checkpoints/t2m/{dl.VQ_RUN}" in msg
    _nothing_installed(tmp_path)
    # the manual way: the three files put where the message says, then the same command
    for name, (file_name, _, _) in dl.ARCHIVES.items():
        (tmp_path / "downloads" / file_name).write_bytes(release[name])
    _download(tmp_path, dead, release)
    assert dl.is_installed(tmp_path) and server.log == []


def test_google_drive_ids_without_gdown_use_the_direct_link(server, release, tmp_path, monkeypatch):
    from bamm_core.model import fetch

    if _has_gdown():
        pytest.skip("gdown is installed: it, not the direct link, fetches Drive files")
    sources = _serve(server, release)
    monkeypatch.setattr(fetch, "GDRIVE_DIRECT", server.url + "/drive?id={id}")
    server.files["/drive?id=MOMASK"] = release["momask"]
    server.files["/drive?id=QUOTA"] = b"<html>quota exceeded</html>"
    with pytest.raises(dl.DownloadError) as e:
        _download(tmp_path, {**sources, "momask": "gdrive:QUOTA"}, release)
    assert "web page instead of the file" in str(e.value) and "put them in" in str(e.value)
    _nothing_installed(tmp_path)
    _download(tmp_path, {**sources, "momask": "gdrive:MOMASK"}, release)
    assert dl.is_installed(tmp_path) and ("/drive?id=MOMASK", None) in server.log


def _has_gdown() -> bool:
    import importlib.util

    return importlib.util.find_spec("gdown") is not None


def test_foreign_folder_is_not_overwritten(release, tmp_path):
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / "mine.txt").write_text("keep")
    with pytest.raises(dl.DownloadError, match="did not install"):
        _download(tmp_path, {}, release)
    assert (tmp_path / "checkpoints" / "mine.txt").read_text() == "keep"


def test_cli_download_and_model_official(release, tmp_path, monkeypatch, capsys):
    from bamm_cli.main import main

    monkeypatch.setenv("BAMM_MODEL_CACHE", str(tmp_path / "cache"))
    assert main(["info", "--model", "official"]) == 1
    assert "bamm download official" in capsys.readouterr().err
    # the archives as a user would place them by hand; release shapes replaced by the small ones
    dest = dl.official_dir()
    (dest / "downloads").mkdir(parents=True)
    for name, (file_name, _, _) in dl.ARCHIVES.items():
        (dest / "downloads" / file_name).write_bytes(release[name])
    monkeypatch.setattr(dl, "release_shapes", lambda: release["expected"])
    fake = f"https://example.invalid/clip/models/{hashlib.sha256(release['clip']).hexdigest()}/ViT-B-32.pt"
    monkeypatch.setitem(dl.ARCHIVES, "clip", ("ViT-B-32.pt", fake, fake))
    assert main(["download", "official", "-q"]) == 0
    assert "--model official" in capsys.readouterr().out
    assert dl.is_installed(dest)
    monkeypatch.delenv("BAMM_CLIP_WEIGHTS", raising=False)
    assert main(["info", "--model", "official", "--json"]) == 0
    import os
    assert os.environ["BAMM_CLIP_WEIGHTS"] == str(dl.official_clip(dest))  # the cached CLIP
    assert main(["download", "official"]) == 0  # already installed: nothing to do
    assert "already installed" in capsys.readouterr().err


def test_background_download_reports_progress(server, release, tmp_path):
    job = dl.BackgroundDownload(tmp_path, sources=_serve(server, release),
                                expected=release["expected"], retry_wait=0).start()
    assert job.join(60) == "done" and dl.is_installed(tmp_path)
    assert job.describe() == f"Verifying the paper's model ({len(dl.FILES)}/{len(dl.FILES)} files)"


# ----------------------------------------------------------------------------- Blender
class _Layout:
    """Records what a draw() function puts in the UI (panels cannot draw headless)."""

    def __init__(self, log):
        self.log = log

    def __getattr__(self, name):
        def call(*args, **kw):
            self.log.append((name, args, kw))
            return _Layout(self.log) if name in ("row", "column", "box") else None
        return call


@pytest.mark.blender
def test_addon_model_choice_resolves_official_to_the_cache(release, tmp_path, monkeypatch):
    bpy = pytest.importorskip("bpy")
    import addon_utils
    from types import SimpleNamespace

    root = tmp_path / "addons"
    root.mkdir()
    (root / "bamm_motion").symlink_to(Path(__file__).resolve().parents[1] / "blender_addon")
    monkeypatch.syspath_prepend(str(root))
    monkeypatch.setenv("BAMM_MODEL_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("BAMM_CLIP_WEIGHTS", raising=False)
    assert addon_utils.enable("bamm_motion", default_set=True, handle_error=None) is not None
    try:
        from bamm_motion import engine_loader, preferences
        from bamm_motion.rig import UserError

        prefs = bpy.context.preferences.addons["bamm_motion"].preferences
        choices = [i.identifier for i in prefs.bl_rna.properties["model_source"].enum_items]
        assert choices == ["BUNDLED", "OFFICIAL", "FOLDER"]
        prefs.model_source = "OFFICIAL"
        log = []
        preferences.BAMM_AddonPreferences.draw(SimpleNamespace(layout=_Layout(log)), bpy.context)
        labels = " ".join(kw.get("text", "") for n, a, kw in log if n == "label")
        assert [a[1] for n, a, kw in log if n == "prop"][0] == "model_source"
        assert ("operator", ("bamm.download_official",), {"icon": "IMPORT"}) in log
        assert "1 GB" in labels and "research use" in labels and "AMASS" in labels
        s = engine_loader.model_settings(bpy.context)
        assert s.folder == str(dl.official_dir()) and s.source == "OFFICIAL"
        with pytest.raises(UserError, match="Download the paper's model"):
            engine_loader.engine_loader(bpy.context)
        if not bpy.app.online_access:  # Blender's own switch is respected
            with pytest.raises(RuntimeError, match="online access is disabled"):
                bpy.ops.bamm.download_official()
            assert not dl.official_dir().exists()
        sources = {k: "http://127.0.0.1:9/none" for k in ("momask", "bamm")}
        sources["clip"] = f"http://127.0.0.1:9/{hashlib.sha256(release['clip']).hexdigest()}/ViT-B-32.pt"
        (dl.official_dir() / "downloads").mkdir(parents=True)
        for name, (file_name, _, _) in dl.ARCHIVES.items():
            (dl.official_dir() / "downloads" / file_name).write_bytes(release[name])
        dl.download_official(sources=sources, expected=release["expected"])
        s = engine_loader.model_settings(bpy.context)
        assert s.clip_weights == str(dl.official_clip())  # the cached CLIP
        eng = engine_loader.engine_loader(bpy.context)()
        assert eng.transformer.num_heads == HEADS
        assert engine_loader.model_timebase(bpy.context).fps == 20
        prefs.model_folder = str(tmp_path)  # choosing a folder selects it
        assert prefs.model_source == "FOLDER"
        prefs.model_source = "BUNDLED"
        assert engine_loader.model_settings(bpy.context).folder == ""
    finally:
        addon_utils.disable("bamm_motion", default_set=True)
        engine_loader._engine_cache.clear()


def test_shipped_release_shapes_match_the_reference(shared_dir):
    ref = shared_dir / "reference" / "official" / "release_state_dict_keys.json"
    if not ref.is_file():
        pytest.skip(f"{ref} missing")
    import json

    spec = json.loads(ref.read_text())
    ours = dl.release_shapes()
    for kind, name in (("vq", "rvqvae"), ("transformer", "mask_transformer"),
                       ("residual", "residual_transformer")):
        assert ours[kind] == {k: m["shape"] for k, m in spec[name]["keys"].items()}, kind
