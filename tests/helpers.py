"""Helpers several test files share: a local HTTP file server, generated model files, and running the CLI
(in-process or as a child process) with one-line error checks."""

from __future__ import annotations

import hashlib
import io
import subprocess
import sys
import threading
import time
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

from facemap_gui.cli import main
from facemap_gui.core import store
from facemap_gui.models.folder import LOCK_FILE
from tests.conftest import constant_model

# --- the local server ---------------------------------------------------------------------------------


@dataclass
class FileServer:
    """Serves `files` by name; `plan[name]` lists what the next requests for it do (then "ok")."""

    files: dict[str, bytes] = field(default_factory=dict)
    plan: dict[str, list[str]] = field(default_factory=dict)
    requests: list[tuple[str, str | None]] = field(default_factory=list)
    if_ranges: list[str | None] = field(default_factory=list)
    etags: bool = True  # False: a server that sends no ETag (nor Last-Modified)
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
        state.if_ranges.append(self.headers.get("If-Range"))
        action = state.plan.get(name, []).pop(0) if state.plan.get(name) else "ok"
        body = state.files.get(name)
        if action == "drip-headers":  # a status line that never ends, a byte at a time
            for byte in b"HTTP/1.1 200 OK\r\nX-Slow: " + b"x" * 1000:
                self.wfile.write(bytes([byte]))
                self.wfile.flush()
                if state.stop.wait(0.02):
                    return
            return
        if body is None or action in ("404", "500"):
            self.send_error(404 if body is None else int(action))
            return
        if action.startswith("redirect:"):
            self.send_response(302)
            self.send_header("Location", action.removeprefix("redirect:"))
            self.end_headers()
            return
        start, etag = 0, f'"{sha(body)[:16]}"'  # a strong validator of this version, as S3 sends
        unchanged = self.headers.get("If-Range", etag) == etag or action == "ignore-if-range"
        if self.headers.get("Range") and action != "norange" and unchanged:
            start = int(self.headers["Range"].removeprefix("bytes=").rstrip("-"))
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(len(body) - start))
        if state.etags:
            self.send_header("ETag", etag)
        self.end_headers()
        data = body[start:]
        if action.startswith("cut:"):  # send part of the body, then drop the connection
            self.wfile.write(data[: int(action[4:])])
            self.wfile.flush()
            self.close_connection = True
        elif action == "stall":  # headers, a few bytes, then silence longer than the client's timeout
            self.wfile.write(data[:10])
            self.wfile.flush()
            state.stop.wait(3)
        elif action == "drip-bytes":  # a byte at a time: each read succeeds, the whole never arrives
            for i in range(len(data)):
                self.wfile.write(data[i : i + 1])
                self.wfile.flush()
                if state.stop.wait(0.01):
                    return
        elif action == "drip":  # slowly, so that a test can cancel midway
            for i in range(0, len(data), 4096):
                self.wfile.write(data[i : i + 4096])
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


# --- generated model files ---------------------------------------------------------------------------


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def real_model_bytes(tmp_path: Path, seed: int = 0) -> bytes:
    """A model with the real I/O and no stand-in mark (as the real download would be)."""
    params = np.random.default_rng(seed).normal(0, 0.02, 265)
    return constant_model(tmp_path / f"model{seed}.onnx", params).read_bytes()


def quantized_model_bytes() -> bytes:
    """A QDQ graph with the real I/O: what a w8a8 export looks like."""
    inits = [
        numpy_helper.from_array(np.array(1 / 255, np.float32), "scale"),
        numpy_helper.from_array(np.array(0, np.uint8), "zp"),
        numpy_helper.from_array(np.array([1, 2, 3], np.int64), "axes"),
        numpy_helper.from_array(np.zeros((1, 265), np.float32), "params"),
    ]
    nodes = [
        helper.make_node("QuantizeLinear", ["image", "scale", "zp"], ["q"]),
        helper.make_node("DequantizeLinear", ["q", "scale", "zp"], ["dq"]),
        helper.make_node("ReduceMean", ["dq", "axes"], ["mean"], keepdims=1),
        helper.make_node("Flatten", ["mean"], ["flat"]),
        helper.make_node("Add", ["flat", "params"], ["parameters_3dmm"]),
    ]
    return facemap_io_model("qdq", nodes, inits).SerializeToString()


def facemap_io_model(name: str, nodes: list, inits: list) -> onnx.ModelProto:
    """A checked model with facemap_3dmm's I/O (image [batch, 3, 128, 128] -> parameters_3dmm [batch, 265])
    around `nodes`: what hand-built test models share."""
    graph = helper.make_graph(
        nodes,
        name,
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["batch", 3, 128, 128])],
        [helper.make_tensor_value_info("parameters_3dmm", TensorProto.FLOAT, ["batch", 265])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


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
    return {
        "meanFace.npy": npy_bytes(rng.normal(0, 50, 204).astype(np.float32)),
        "shapeBasis.npy": npy_bytes(rng.normal(0, 1, (204, 219)).astype(np.float32)),
        "blendShape.npy": npy_bytes(rng.normal(0, 1, (204, 39)).astype(np.float32)),
    }


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


def installed_files() -> list[str]:
    root = store.models_dir()
    files = root.rglob("*") if root.exists() else []
    return sorted(p.relative_to(root).as_posix() for p in files if p.is_file() and p.name != LOCK_FILE)


def unpacked(zip_path: Path, directory: Path) -> Path:
    """The release's top folder, unpacked under `directory`."""
    with zipfile.ZipFile(zip_path) as zf:
        zf.extractall(directory)
    return directory / zip_path.stem


# --- running the CLI ---------------------------------------------------------------------------------


def run_models_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["models", *args])
    out, err = capsys.readouterr()
    return code, out, err


def cli_process(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "facemap_gui.cli", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def wait_for_lines(path: Path, count: int, process: subprocess.Popen[str], timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()
        if path.is_file() and path.read_text().count("\n") >= count:
            return
        time.sleep(0.05)
    raise AssertionError(f"{path} never reached {count} lines")


def cli_main(capsys, *argv: str) -> tuple[int, str]:
    """`facemap-gui ARGV` in-process; returns the exit code and stderr (usage errors exit through argparse)."""
    try:
        code = main(list(argv))
    except SystemExit as exc:
        code = exc.code
    return code, capsys.readouterr().err


def assert_one_line(code: int, err: str, *fragments: str) -> None:
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and "Traceback" not in err, err
    assert all(fragment in lines[0] for fragment in fragments), err
