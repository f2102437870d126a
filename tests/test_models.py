"""Model catalogue, downloads, safe unzipping and `facemap-gui models ...`, against a local HTTP server.

The real URLs are not reachable here: a server on 127.0.0.1 serves generated zips and .npy files under
their catalogue names (FACEMAP_GUI_MIRROR points downloads at it) and can cut, stall, fail or redirect.
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import threading
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from facemap_gui import store
from facemap_gui.cli import main
from facemap_gui.errors import FacemapError, ModelError
from facemap_gui.models.archive import unpack_zip
from facemap_gui.models.catalogue import ENTRIES, MIRROR_ENV
from facemap_gui.models.download import Downloader, DownloadError, Progress, check_url
from facemap_gui.models.install import install_path, missing
from facemap_gui.pipeline_builder import RunOptions
from tests.conftest import SHORT_RANGE, constant_model

FAST = {"timeout_s": 0.5, "attempts": 3, "backoff_s": 0.01}


# --- the local server -----------------------------------------------------------------------------------

@dataclass
class FileServer:
    """Serves `files` by name; `plan[name]` lists what the next requests for it do (then "ok")."""

    files: dict[str, bytes] = field(default_factory=dict)
    plan: dict[str, list[str]] = field(default_factory=dict)
    requests: list[tuple[str, str | None]] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    url: str = ""

    def ranges(self, name: str) -> list[str | None]:
        return [r for n, r in self.requests if n == name]


class _Handler(BaseHTTPRequestHandler):
    state: FileServer

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        state, name = self.state, self.path.lstrip("/").split("?")[0]
        state.requests.append((name, self.headers.get("Range")))
        action = state.plan.get(name, []).pop(0) if state.plan.get(name) else "ok"
        body = state.files.get(name)
        if body is None or action in ("404", "500"):
            self.send_error(404 if body is None else int(action))
            return
        if action.startswith("redirect:"):
            self.send_response(302)
            self.send_header("Location", action.removeprefix("redirect:"))
            self.end_headers()
            return
        start = 0
        if self.headers.get("Range") and action != "norange":
            start = int(self.headers["Range"].removeprefix("bytes=").rstrip("-"))
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(len(body) - start))
        self.end_headers()
        data = body[start:]
        if action.startswith("cut:"):  # send part of the body, then drop the connection
            self.wfile.write(data[:int(action[4:])])
            self.wfile.flush()
            self.close_connection = True
        elif action == "stall":  # headers, a few bytes, then silence longer than the client's timeout
            self.wfile.write(data[:10])
            self.wfile.flush()
            state.stop.wait(3)
        elif action == "drip":  # slowly, so that a test can cancel midway
            for i in range(0, len(data), 4096):
                self.wfile.write(data[i:i + 4096])
                self.wfile.flush()
                if state.stop.wait(0.02):
                    return
        else:
            self.wfile.write(data)


@contextmanager
def file_server() -> Iterator[FileServer]:
    state = FileServer()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), type("Handler", (_Handler,), {"state": state}))
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
    state.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    try:
        yield state
    finally:
        state.stop.set()
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[FileServer]:
    """The local server, with every catalogue download pointed at it."""
    with file_server() as state:
        monkeypatch.setenv(MIRROR_ENV, state.url)
        yield state


# --- generated model files ------------------------------------------------------------------------------

def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def real_model_bytes(tmp_path: Path, seed: int = 0) -> bytes:
    """A model with the real I/O and no stand-in mark (as the real download would be)."""
    params = np.random.default_rng(seed).normal(0, 0.02, 265)
    return constant_model(tmp_path / f"model{seed}.onnx", params).read_bytes()


def quantized_model_bytes() -> bytes:
    """A QDQ graph with the real I/O: what a w8a8 export looks like."""
    inits = [numpy_helper.from_array(np.array(1 / 255, np.float32), "scale"),
             numpy_helper.from_array(np.array(0, np.uint8), "zp"),
             numpy_helper.from_array(np.array([1, 2, 3], np.int64), "axes"),
             numpy_helper.from_array(np.zeros((1, 265), np.float32), "params")]
    nodes = [helper.make_node("QuantizeLinear", ["image", "scale", "zp"], ["q"]),
             helper.make_node("DequantizeLinear", ["q", "scale", "zp"], ["dq"]),
             helper.make_node("ReduceMean", ["dq", "axes"], ["mean"], keepdims=1),
             helper.make_node("Flatten", ["mean"], ["flat"]),
             helper.make_node("Add", ["flat", "params"], ["parameters_3dmm"])]
    graph = helper.make_graph(
        nodes, "qdq", [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["batch", 3, 128, 128])],
        [helper.make_tensor_value_info("parameters_3dmm", TensorProto.FLOAT, ["batch", 265])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model.SerializeToString()


def npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def pickled_npy_bytes() -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, np.array([{"a": 1}] * 204, dtype=object))  # numpy pickles object arrays unless told not to
    return buffer.getvalue()


def basis_files() -> dict[str, bytes]:
    rng = np.random.default_rng(3)
    return {"meanFace.npy": npy_bytes(rng.normal(0, 50, 204).astype(np.float32)),
            "shapeBasis.npy": npy_bytes(rng.normal(0, 1, (204, 219)).astype(np.float32)),
            "blendShape.npy": npy_bytes(rng.normal(0, 1, (204, 39)).astype(np.float32))}


def make_zip(members: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as zf:
        for name, data in members.items():
            zf.writestr(zipfile.ZipInfo(name), data, compress_type=compression)
    return buffer.getvalue()


def external_data_model(tmp_path: Path) -> dict[str, bytes]:
    """A model whose weights live in `weights.bin` beside it (as large ONNX exports ship)."""
    folder = tmp_path / "external"
    folder.mkdir()
    model = onnx.load(constant_model(tmp_path / "inline.onnx", np.full(265, 0.01)))
    # Only the 265 parameters (1060 bytes) go external; ORT needs small shape tensors inline.
    onnx.save(model, folder / "model.onnx", save_as_external_data=True, location="weights.bin", size_threshold=1024)
    return {"model.onnx": (folder / "model.onnx").read_bytes(), "weights.bin": (folder / "weights.bin").read_bytes()}


def run_installed_model(precision: str, batch: int) -> np.ndarray:
    """The installed model's output for black crops, run by ONNX Runtime from its installed place."""
    session = ort.InferenceSession(str(store.landmark_model_path(precision)), providers=["CPUExecutionProvider"])
    (output,) = session.run(None, {"image": np.zeros((batch, 3, 128, 128), np.float32)})
    assert output.shape == (batch, 265)
    return output.ravel()


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["models", *args])
    out, err = capsys.readouterr()
    return code, out, err


def installed_files() -> list[str]:
    root = store.models_dir()
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()) if root.exists() else []


# --- downloads ------------------------------------------------------------------------------------------

def test_download_installs_models_and_basis_and_trusts_first_use(server, tmp_path, capsys):
    model = external_data_model(tmp_path)
    server.files["facemap_3dmm-onnx-float.zip"] = make_zip(
        {"facemap_3dmm-onnx-float/job_1/model.onnx": model["model.onnx"],
         "facemap_3dmm-onnx-float/job_1/weights.bin": model["weights.bin"],
         "facemap_3dmm-onnx-float/LICENSE.txt": b"licence text"})
    server.files["facemap_3dmm-onnx-w8a8.zip"] = make_zip({"model.onnx": quantized_model_bytes()})
    server.files.update(basis_files())
    assert missing() == ["facemap_3dmm-float", "facemap_3dmm-w8a8", "basis"]

    code, out, err = run_cli(capsys, "download")

    assert code == 0, err
    assert missing() == []
    assert installed_files() == ["basis/blendShape.npy", "basis/meanFace.npy", "basis/shapeBasis.npy",
                                 "facemap_3dmm/float/facemap_3dmm.onnx", "facemap_3dmm/float/weights.bin",
                                 "facemap_3dmm/w8a8/facemap_3dmm.onnx", "installed.json", "trusted.json"]
    # The basis files arrive unchanged; the model folder keeps the weights file under the name it refers to.
    for name, data in basis_files().items():
        assert (store.basis_dir() / name).read_bytes() == data
    assert (store.landmark_model_path("float").parent / "weights.bin").read_bytes() == model["weights.bin"]
    trusted = json.loads((store.models_dir() / "trusted.json").read_text())
    assert trusted["facemap_3dmm-onnx-float.zip"]["sha256"] == sha(server.files["facemap_3dmm-onnx-float.zip"])
    assert sorted(trusted) == ["blendShape.npy", "facemap_3dmm-onnx-float.zip", "facemap_3dmm-onnx-w8a8.zip",
                               "meanFace.npy", "shapeBasis.npy"]
    assert "no published checksum for facemap_3dmm-onnx-float.zip, " in err and "trusted on first use" in out
    assert "facemap_3dmm-onnx-float.zip  [########################] 100%" in err and "/s" in err
    assert not list(store.cache_dir().rglob("*.zip")), "downloaded zips are removed once installed"
    # Front ends now find the installed model (with its external weights) through the store by default.
    assert RunOptions().model_path("float") == store.landmark_model_path("float")
    assert run_installed_model("float", batch=2) == pytest.approx(0.01, abs=1e-6)

    code, out, _ = run_cli(capsys, "download")
    assert code == 0 and out.count("already installed") == 3
    assert len(server.requests) == 5, "nothing is fetched again"


def test_a_later_download_must_match_the_first_seen_checksum(server, capsys):
    server.files.update(basis_files())
    assert run_cli(capsys, "download", "basis")[0] == 0
    first = (store.basis_dir() / "meanFace.npy").read_bytes()
    server.files["meanFace.npy"] = npy_bytes(np.ones(204, np.float32))

    code, _, err = run_cli(capsys, "download", "--force", "basis")

    assert code == 2
    assert "meanFace.npy: the downloaded file does not match the expected checksum" in err
    assert "nothing installed" in err and err.count("\n", err.index("facemap-gui: error:")) == 1
    assert (store.basis_dir() / "meanFace.npy").read_bytes() == first
    assert not [p for p in store.cache_dir().rglob("*") if p.is_file()], "the rejected file is deleted"


def test_published_checksum_mismatch_installs_nothing(server, capsys):
    server.files["face_detection_short_range.tflite"] = b"not the detector" * 100

    code, _, err = run_cli(capsys, "download", "blazeface-short")

    assert code == 2 and "does not match the expected checksum" in err
    assert installed_files() == []


def test_detector_download_is_verified_against_the_published_checksum(server, capsys):
    server.files["face_detection_short_range.tflite"] = SHORT_RANGE.read_bytes()

    code, out, err = run_cli(capsys, "download", "blazeface-short")

    assert code == 0, err
    assert "sha256 matches the published checksum" in out
    assert (store.models_dir() / "detectors" / "face_detection_short_range.tflite").read_bytes() == \
        SHORT_RANGE.read_bytes()
    assert "trusted.json" not in installed_files()


def test_resume_after_a_cut_connection(server, tmp_path):
    data = np.random.default_rng(0).bytes(300_000)
    server.files["blob.bin"] = data
    server.plan["blob.bin"] = ["cut:100000"]
    reports: list[Progress] = []

    digest = Downloader(**FAST, progress=reports.append).fetch(f"{server.url}/blob.bin", tmp_path / "blob.bin",
                                                              sha(data), len(data))

    assert digest == sha(data) and (tmp_path / "blob.bin").read_bytes() == data
    assert server.ranges("blob.bin") == [None, "bytes=100000-"]
    assert reports[-1].finished and reports[-1].done == reports[-1].total == len(data)
    assert list(tmp_path.iterdir()) == [tmp_path / "blob.bin"]


def test_cancelled_download_leaves_only_a_part_file_that_the_next_run_resumes(server, tmp_path):
    data = np.random.default_rng(1).bytes(400_000)
    server.files["blob.bin"] = data
    server.plan["blob.bin"] = ["drip"]
    downloader = Downloader(**FAST)
    downloader.progress = lambda p: downloader.cancel.set() if p.done > 50_000 else None

    with pytest.raises(FacemapError, match="cancelled"):
        downloader.fetch(f"{server.url}/blob.bin", tmp_path / "blob.bin", sha(data))

    (part,) = tmp_path.iterdir()
    assert part.name == ".blob.bin.part" and 50_000 < part.stat().st_size < len(data)
    kept = part.stat().st_size
    Downloader(**FAST).fetch(f"{server.url}/blob.bin", tmp_path / "blob.bin", sha(data))
    assert server.ranges("blob.bin")[-1] == f"bytes={kept}-"
    assert (tmp_path / "blob.bin").read_bytes() == data and not part.exists()


def test_server_that_cannot_resume_sends_everything_again(server, tmp_path):
    data = np.random.default_rng(2).bytes(200_000)
    server.files["blob.bin"] = data
    server.plan["blob.bin"] = ["cut:50000", "norange"]

    Downloader(**FAST).fetch(f"{server.url}/blob.bin", tmp_path / "blob.bin", sha(data))

    assert (tmp_path / "blob.bin").read_bytes() == data


def test_server_errors_are_retried_then_reported_with_the_offline_path(server, tmp_path):
    server.files["blob.bin"] = b"x" * 1000
    server.plan["blob.bin"] = ["500"]
    Downloader(**FAST).fetch(f"{server.url}/blob.bin", tmp_path / "a.bin")
    assert (tmp_path / "a.bin").read_bytes() == b"x" * 1000 and len(server.requests) == 2

    server.plan["blob.bin"] = ["500"] * 3
    with pytest.raises(DownloadError) as failure:
        Downloader(**FAST).fetch(f"{server.url}/blob.bin", tmp_path / "b.bin")
    assert failure.value.reason == "server error HTTP 500 Internal Server Error (gave up after 3 attempts)"
    assert "`facemap-gui models install blob.bin`" in str(failure.value)
    assert len(server.requests) == 5 and not (tmp_path / "b.bin").exists()


def test_missing_file_is_not_retried(server, tmp_path):
    with pytest.raises(DownloadError, match="HTTP 404"):
        Downloader(**FAST).fetch(f"{server.url}/nothing.zip", tmp_path / "nothing.zip")
    assert len(server.requests) == 1 and list(tmp_path.iterdir()) == []


def test_stalled_server_times_out_and_is_retried(server, tmp_path):
    data = b"y" * 50_000
    server.files["blob.bin"] = data
    server.plan["blob.bin"] = ["stall"]
    Downloader(**FAST).fetch(f"{server.url}/blob.bin", tmp_path / "blob.bin", sha(data))
    assert (tmp_path / "blob.bin").read_bytes() == data
    assert server.ranges("blob.bin") == [None, "bytes=10-"]

    server.plan["blob.bin"] = ["stall", "stall"]
    with pytest.raises(DownloadError, match="timed out"):
        Downloader(timeout_s=0.3, attempts=2, backoff_s=0.01).fetch(f"{server.url}/blob.bin", tmp_path / "c.bin")
    assert not (tmp_path / "c.bin").exists()


def test_only_https_except_on_loopback(server, tmp_path):
    check_url("https://example.com/model.zip")
    check_url("http://127.0.0.1:8000/model.zip")
    check_url("http://localhost/model.zip")
    for url in ("http://example.com/model.zip", "ftp://example.com/model.zip", "file:///etc/passwd"):
        with pytest.raises(FacemapError, match="only https is allowed"):
            check_url(url)
    server.files["blob.bin"] = b"z"
    server.plan["blob.bin"] = ["redirect:http://example.com/blob.bin"]
    with pytest.raises(FacemapError, match="refusing to download over http"):
        Downloader(**FAST).fetch(f"{server.url}/blob.bin", tmp_path / "blob.bin")
    assert list(tmp_path.iterdir()) == []


# --- unpacking and installing local files ---------------------------------------------------------------

@pytest.mark.parametrize("member", ["../evil.onnx", "models/../../evil.onnx", "/tmp/evil.onnx", "C:\\evil.onnx",
                                    "..\\evil.onnx"])
def test_zip_members_outside_the_folder_are_rejected(tmp_path, member, capsys):
    archive = tmp_path / "facemap_3dmm-onnx-float.zip"
    archive.write_bytes(make_zip({"ok/model.onnx": real_model_bytes(tmp_path), member: b"payload"}))

    code, _, err = run_cli(capsys, "install", str(archive))

    assert code == 2 and f"refusing to unpack, member {member!r}" in err
    assert installed_files() == [] and not (tmp_path / "evil.onnx").exists()


def test_symlink_in_a_zip_is_rejected(tmp_path):
    info = zipfile.ZipInfo("model.onnx")
    info.external_attr = (0o120777 << 16)  # a symbolic link to /etc/passwd
    archive = tmp_path / "links.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr(info, "/etc/passwd")
    with pytest.raises(ModelError, match="symbolic link"):
        unpack_zip(archive, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_zip_bomb_is_rejected_by_size(tmp_path, capsys):
    bomb = tmp_path / "bomb.zip"
    bomb.write_bytes(make_zip({"model.onnx": bytes(64 * 2**20)}))  # 64 MB of zeros in ~64 kB
    code, _, err = run_cli(capsys, "install", str(bomb))
    assert code == 2 and "a zip bomb?" in err and installed_files() == []

    big = tmp_path / "big.zip"
    big.write_bytes(make_zip({"a.bin": np.random.default_rng(0).bytes(3 * 2**20)}, zipfile.ZIP_STORED))
    with pytest.raises(ModelError, match="expands to 3 MB"):
        unpack_zip(big, tmp_path / "out", max_bytes=2 * 2**20)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("folder", ["", "facemap_3dmm/", "a/b/c/d/", "export\\onnx\\"])
def test_model_and_external_data_are_found_in_any_folder_layout(tmp_path, folder, capsys):
    model = external_data_model(tmp_path)
    archive = tmp_path / "export.zip"
    archive.write_bytes(make_zip({f"{folder}model.onnx": model["model.onnx"],
                                  f"{folder}weights.bin": model["weights.bin"], "README.md": b"hello"}))

    code, out, err = run_cli(capsys, "install", str(archive))

    assert code == 0, err
    assert installed_files() == ["facemap_3dmm/float/facemap_3dmm.onnx", "facemap_3dmm/float/weights.bin",
                                 "installed.json"]
    assert "checked by content only" in out
    assert run_installed_model("float", batch=1) == pytest.approx(0.01, abs=1e-6)


def test_model_without_its_external_data_is_rejected(tmp_path):
    model = external_data_model(tmp_path)
    archive = tmp_path / "export.zip"
    archive.write_bytes(make_zip({"model.onnx": model["model.onnx"]}))
    with pytest.raises(ModelError, match=r"weights file 'weights\.bin' is missing"):
        install_path(archive)
    assert installed_files() == []


def test_offline_install_of_a_zip_identifies_the_precision_and_trusts_first_use(tmp_path, capsys):
    archive = tmp_path / "facemap_3dmm-onnx-w8a8.zip"
    archive.write_bytes(make_zip({"facemap_3dmm-onnx-w8a8/model.onnx": quantized_model_bytes()}))

    code, out, err = run_cli(capsys, "install", str(archive))

    assert code == 0, err
    assert out.startswith(f"installed facemap_3dmm-w8a8: {store.landmark_model_path('w8a8')}")
    assert f"trusted on first use (sha256 {sha(archive.read_bytes())} recorded in" in out
    # A different file under the same catalogue name is refused from then on.
    archive.write_bytes(make_zip({"model.onnx": quantized_model_bytes(), "extra.txt": b"changed"}))
    code, _, err = run_cli(capsys, "install", str(archive))
    assert code == 2 and "differs from the first-use checksum" in err and "trusted.json" in err


def test_folder_files_are_checked_against_first_use_and_stand_ins_never_become_trusted(tmp_path, tiny_model, capsys):
    # The stand-in's folder holds synthetic basis files under the published names: installed, never trusted.
    code, out, _ = run_cli(capsys, "install", str(tiny_model.parent))
    assert code == 0 and out.count("STAND-IN") == 2
    assert "meanFace.npy: no published checksum, trusted on first use (not recorded: this is a stand-in)" in out
    assert not (store.models_dir() / "trusted.json").exists()
    real = tmp_path / "real"
    real.mkdir()
    for name, data in basis_files().items():
        (real / name).write_bytes(data)
    code, out, _ = run_cli(capsys, "install", str(real))
    assert code == 0 and out.count("trusted on first use") == 3
    assert sorted(json.loads((store.models_dir() / "trusted.json").read_text())) == [
        "blendShape.npy", "meanFace.npy", "shapeBasis.npy"]

    (real / "shapeBasis.npy").write_bytes(npy_bytes(np.zeros((204, 219), np.float32)))
    code, _, err = run_cli(capsys, "install", str(real))
    assert code == 2 and "shapeBasis.npy: sha256" in err and "differs from the first-use checksum" in err
    assert (store.basis_dir() / "shapeBasis.npy").read_bytes() == basis_files()["shapeBasis.npy"]


@pytest.mark.parametrize(("name", "data", "message"), [
    ("model.onnx", b"\x08\x07garbage", "not a readable ONNX model"),
    ("meanFace.npy", npy_bytes(np.zeros(203, np.float32)), "expected a numeric array of shape (204,)"),
    ("meanFace.npy", pickled_npy_bytes(), "pickled objects"),
    ("notes.txt", b"hello", "not a file this app installs"),
    ("detector.tflite", b"TFL3" * 100, "not one of the published BlazeFace models"),
])
def test_bad_files_are_rejected_with_one_line(tmp_path, capsys, name, data, message):
    path = tmp_path / name
    path.write_bytes(data)
    code, _, err = run_cli(capsys, "install", str(path))
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1
    assert installed_files() == []


def test_wrong_model_io_is_rejected(tmp_path, capsys):
    wrong = constant_model(tmp_path / "model.onnx", np.zeros(265))
    model = onnx.load(wrong)
    model.graph.output[0].type.tensor_type.shape.dim[1].dim_value = 264
    onnx.save(model, wrong)
    code, _, err = run_cli(capsys, "install", str(wrong))
    assert code == 2 and "expected [N, 265]" in err and installed_files() == []


# --- list, verify, remove -------------------------------------------------------------------------------

def test_list_verify_and_remove(tmp_path, tiny_model, capsys):
    assert run_cli(capsys, "install", str(tiny_model))[0] == 0  # a stand-in model file
    for name, data in basis_files().items():
        (tmp_path / name).write_bytes(data)
        assert run_cli(capsys, "install", str(tmp_path / name))[0] == 0

    code, out, _ = run_cli(capsys, "list")
    assert code == 0
    lines = out.splitlines()
    model_line = lines.index(next(line for line in lines if line.startswith("facemap_3dmm-float")))
    assert "installed, STAND-IN" in lines[model_line]
    assert lines[model_line + 3].split() == [str(store.landmark_model_path("float")),
                                             f"{tiny_model.stat().st_size / 1000:.1f}", "kB"]
    assert lines[model_line + 4].split() == ["sha256", sha(tiny_model.read_bytes())]
    assert next(line for line in lines if line.startswith("basis")).split()[1:] == ["installed,", "real"]
    assert lines[model_line + 1] == "    random weights or synthetic data: results are not real"
    w8a8 = lines.index("facemap_3dmm-w8a8    not installed")
    assert lines[w8a8 + 1] == "    download: facemap-gui models download facemap_3dmm-w8a8"
    assert lines[w8a8 + 3].strip().endswith("/facemap_3dmm-onnx-w8a8.zip")
    assert next(line for line in lines if line.startswith("blazeface-short")).split()[1] == "bundled"
    assert lines[-2:] == ["stand-in             not generated yet",
                          "    made by `facemap-gui demo` or `facemap-gui process --stand-in`"]
    # Every line fits an 80-column terminal but for the length of the path or URL it holds.
    assert [line for line in lines if len(" ".join(w for w in line.split() if "/" not in w)) > 76] == []

    code, out, _ = run_cli(capsys, "verify")
    assert code == 0
    assert [line.split() for line in out.splitlines()] == [
        ["facemap_3dmm-float", "OK"], ["basis", "OK"], ["blazeface-short", "OK"], ["blazeface-full", "OK"]]

    (store.basis_dir() / "blendShape.npy").write_bytes(npy_bytes(np.zeros((204, 39), np.float32)))
    code, out, _ = run_cli(capsys, "verify", "basis", "facemap_3dmm-w8a8")
    assert code == 1
    assert out.splitlines()[0].split() == ["basis", "FAILED"]
    assert "blendShape.npy: changed since it was installed" in out.splitlines()[1]
    assert out.splitlines()[2:] == ["facemap_3dmm-w8a8    FAILED", "    not installed"]

    code, out, _ = run_cli(capsys, "remove", "facemap_3dmm-float", "facemap_3dmm-w8a8")
    assert code == 0
    assert out.splitlines() == [f"removed facemap_3dmm-float: {store.landmark_model_path('float')}",
                                "facemap_3dmm-w8a8: not installed, nothing to remove"]
    assert not store.landmark_model_path("float").parent.exists()
    assert "facemap_3dmm-float" not in json.loads((store.models_dir() / "installed.json").read_text())
    assert missing() == ["facemap_3dmm-float", "facemap_3dmm-w8a8"]


def test_list_gives_every_basis_url_and_the_generated_stand_in(tiny_model, capsys):
    shutil.copytree(tiny_model.parent, store.stand_in_dir("full"))  # where `demo` generates it
    code, out, _ = run_cli(capsys, "list")
    assert code == 0
    lines = out.splitlines()
    basis = lines.index("basis                not installed")
    assert [line.strip().rsplit("/", 1)[-1] for line in lines[basis + 3: basis + 6]] == [
        "meanFace.npy", "shapeBasis.npy", "blendShape.npy"]
    assert lines[-3:-1] == ["stand-in             generated, STAND-IN", "    random weights: results are not real"]
    assert lines[-1].split()[0] == str(store.stand_in_dir("full") / "facemap_3dmm.onnx")


def test_unknown_name_lists_the_catalogue(capsys):
    code, _, err = run_cli(capsys, "download", "facemap")
    assert code == 2 and "'facemap' is not in the model catalogue; known: " + ", ".join(ENTRIES) in err


def test_first_run_without_models_says_what_to_run(capsys):
    code = main(["process", "demo:1"])
    err = capsys.readouterr().err
    assert code == 2
    assert "`facemap-gui models download facemap_3dmm-float basis`" in err
    assert "`facemap-gui models install FILE.zip`" in err


def test_packaged_app_uses_the_models_folder_beside_its_executable(tmp_path, monkeypatch):
    executable = tmp_path / "dist" / "facemap-gui"
    (executable.parent / "models").mkdir(parents=True)
    monkeypatch.setattr("sys.executable", str(executable))
    monkeypatch.setattr("sys.frozen", True, raising=False)
    monkeypatch.delenv("FACEMAP_GUI_HOME")
    assert store.models_dir() == executable.parent / "models"
    expected = executable.parent / "models" / "facemap_3dmm" / "w8a8" / "facemap_3dmm.onnx"
    assert store.landmark_model_path("w8a8") == expected
    monkeypatch.setenv("FACEMAP_GUI_HOME", str(tmp_path / "home"))
    assert store.models_dir() == tmp_path / "home" / "models"
    monkeypatch.delenv("FACEMAP_GUI_HOME")
    monkeypatch.setattr("sys.frozen", False)
    assert store.models_dir() != executable.parent / "models"
