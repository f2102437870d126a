"""Faults with models and their downloads: endless or malformed mirrors, a full disk, odd zips, stand-in
basis files, damaged install records and .npy headers, a model computing NaN, a tampered compiled-model cache.
docs/faults.md lists each fault, what the user sees and the test that covers it."""

from __future__ import annotations

import contextlib
import io
import json
import shutil
import socket
import threading
import tracemalloc
import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import onnx
import pytest

from facemap_gui.cli import build_parser, main
from facemap_gui.core import store
from facemap_gui.core.errors import FacemapError, ModelError
from facemap_gui.inference.landmarks.decode import load_npy
from facemap_gui.inference.landmarks.provenance import npy_with_stand_in_mark
from facemap_gui.inference.runtime.cache import cache_root
from facemap_gui.models.catalogue import ENTRIES, MIRROR_ENV
from facemap_gui.models.download import Downloader, DownloadError
from facemap_gui.models.install import install_path
from facemap_gui.models.records import record_path, trust_path
from facemap_gui.models.status import status
from facemap_gui.sinks.recording.video import VIDEO_CODECS, choose_codec
from tests.conftest import PHOTO, constant_model
from tests.helpers import assert_one_line, cli_main, external_data_model, file_server
from tests.test_runtime_simulator import landmarks, process_on_npu


@contextlib.contextmanager
def endless_server() -> Iterator[str]:
    """An HTTP server that answers every request with a body that never ends (a broken or hostile mirror)."""
    listener = socket.create_server(("127.0.0.1", 0))
    done = threading.Event()

    def serve() -> None:
        while not done.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with conn:
                conn.recv(65536)
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n\r\n")
                with contextlib.suppress(OSError):
                    while not done.is_set():
                        conn.sendall(bytes(65536))

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/blob.bin"
    finally:
        done.set()
        listener.close()
        thread.join(30)


@pytest.mark.parametrize("size", [229_714, None])
def test_a_download_that_never_ends_stops_at_the_expected_size(tmp_path, monkeypatch, size):
    monkeypatch.setattr("facemap_gui.models.download.MAX_UNKNOWN_BYTES", 3_000_000)
    limit = size or 3_000_000
    with endless_server() as url, pytest.raises(DownloadError, match=f"more than the {limit} bytes"):
        Downloader(timeout_s=5, attempts=1).fetch(url, tmp_path / "blob.bin", size=size)
    assert list(tmp_path.iterdir()) == []  # neither the file nor its part


def test_a_download_is_refused_when_the_disk_has_no_room_for_it(tmp_path, monkeypatch):
    monkeypatch.setattr(
        "facemap_gui.models.download.shutil.disk_usage",
        lambda _path: shutil._ntuple_diskusage(10**9, 10**9 - 10**6, 10**6),
    )
    with file_server() as server:
        server.files["blob.bin"] = bytes(5000)
        with pytest.raises(DownloadError, match=r"only 1.0 MB free, the download needs 5.0 kB"):
            Downloader(timeout_s=5, attempts=1).fetch(f"{server.url}/blob.bin", tmp_path / "blob.bin", size=5000)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("mirror", ["https://[::1", "http://localhost:99999", "https://", "https://a b"])
def test_a_malformed_mirror_is_one_line_naming_it(monkeypatch, capsys, mirror):
    monkeypatch.setenv(MIRROR_ENV, mirror)
    code, err = cli_main(capsys, "models", "download", "blazeface-short", "--force")
    assert_one_line(code, err, "not a valid URL", f"{MIRROR_ENV}={mirror}")


def odd_zip(kind: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("meanFace.npy", bytes(range(256)) * 40)
    data = bytearray(buffer.getvalue())
    if kind == "encrypted":  # the flag in the local and the central header
        data[6] |= 1
        data[data.find(b"PK\x01\x02") + 8] |= 1
    else:  # garbage inside the deflate stream
        data[60:200] = bytes(range(140))
    return bytes(data)


@pytest.mark.parametrize("kind", ["encrypted", "corrupt-data"])
def test_zips_python_cannot_read_in_other_ways_are_one_line(tmp_path, capsys, kind):
    (tmp_path / "models.zip").write_bytes(odd_zip(kind))
    code, err = cli_main(capsys, "models", "install", str(tmp_path / "models.zip"))
    assert_one_line(code, err, "models.zip: damaged or unsupported zip", "download it again")


def lying_zip(method: int, real_bytes: int, declared_bytes: int) -> bytes:
    """A zip whose one member declares `declared_bytes` but decompresses to `real_bytes` of zeros (a bomb)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", method) as archive, archive.open("meanFace.npy", "w") as member:
        for _ in range(real_bytes // 2**20):
            member.write(bytes(2**20))
    data = bytearray(buffer.getvalue())
    central = data.find(b"PK\x01\x02")
    data[22:26] = data[central + 24 : central + 28] = declared_bytes.to_bytes(4, "little")
    return bytes(data)


# Every compression method this Python's zipfile reads (zstd from Python 3.14).
ZIP_METHODS = [
    m for m in ("ZIP_STORED", "ZIP_DEFLATED", "ZIP_BZIP2", "ZIP_LZMA", "ZIP_ZSTANDARD") if hasattr(zipfile, m)
]


@pytest.mark.parametrize("method", ZIP_METHODS)
def test_a_zip_member_holding_more_than_it_declares_is_stopped_without_decompressing_it(tmp_path, capsys, method):
    # zipfile decompressed a bzip2 or LZMA member whole: 965 bytes declaring 1000 reached 2.2 GB.
    (tmp_path / "models.zip").write_bytes(lying_zip(getattr(zipfile, method), 48 * 2**20, 1000))
    tracemalloc.start()
    try:
        code, err = cli_main(capsys, "models", "install", str(tmp_path / "models.zip"))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert_one_line(code, err, "models.zip: refusing to unpack", "more than the 1000 bytes it declares")
    assert peak < 24 * 2**20  # an LZMA dictionary (8 MB) and a chunk or two, never the 48 MB


def test_a_zip_declaring_a_huge_lzma_dictionary_is_refused_before_it_is_allocated(tmp_path, capsys):
    data = bytearray(lying_zip(zipfile.ZIP_LZMA, 2**20, 1000))
    start = data.find(b"meanFace.npy") + len("meanFace.npy") + 4  # after the version and the properties' size
    data[start + 1 : start + 5] = (2**32 - 1).to_bytes(4, "little")
    (tmp_path / "models.zip").write_bytes(bytes(data))
    code, err = cli_main(capsys, "models", "install", str(tmp_path / "models.zip"))
    assert_one_line(code, err, "models.zip: refusing to unpack", "LZMA dictionary of 4096 MB")


def test_a_stand_in_basis_without_its_manifest_is_still_a_stand_in_and_never_trusted(tmp_path, tiny_model):
    backup = tmp_path / "backup"
    backup.mkdir()
    for name in ("meanFace.npy", "shapeBasis.npy", "blendShape.npy"):  # copied out of the folder, no manifest
        (backup / name).write_bytes((tiny_model.parent / name).read_bytes())
    (installed,) = install_path(backup)
    assert installed.entry.name == "basis" and installed.stand_in
    assert not trust_path().exists()
    assert status(ENTRIES["basis"]).stand_in


@pytest.mark.parametrize("records", ["{garbage", "[1, 2]", '{"facemap_3dmm-float": 5}'])
def test_damaged_install_records_stop_an_install_before_anything_is_replaced(tmp_path, records, capsys):
    first = constant_model(tmp_path / "first.onnx", np.zeros(265))
    second = constant_model(tmp_path / "second.onnx", np.ones(265))
    assert main(["models", "install", str(first)]) == 0
    record_path().write_text(records)
    code, err = cli_main(capsys, "models", "install", str(second))
    assert_one_line(code, err, "installed.json: damaged", "delete it and install the models again")
    assert store.landmark_model_path("float").read_bytes() == first.read_bytes()


def test_messages_say_what_is_wrong(tmp_path, monkeypatch, capsys):
    data = npy_with_stand_in_mark(np.zeros(204, np.float32))
    (tmp_path / "meanFace.npy").write_bytes(data[:20] + b"garbage" + data[27:])
    with pytest.raises(ModelError, match=r"not a readable \.npy file \(damaged header"):
        load_npy(tmp_path / "meanFace.npy", (204,))
    with pytest.raises(FacemapError, match="no video encoder here takes 20000x20000 frames"):
        choose_codec(VIDEO_CODECS, (20000, 20000), 30.0)
    with file_server() as server:
        name = "face_detection_short_range.tflite"
        server.files[name] = b"x"
        server.plan[name] = [f"redirect:/{name}"] * 50  # urllib's redirect-loop error spans three lines
        monkeypatch.setenv(MIRROR_ENV, server.url)
        code, err = cli_main(capsys, "models", "download", "blazeface-short", "--force")
    assert_one_line(code, err, "infinite loop")


def _offset_abc(folder: Path) -> None:
    model = onnx.load(str(folder / "model.onnx"), load_external_data=False)
    tensor = next(t for t in model.graph.initializer if t.external_data)
    next(entry for entry in tensor.external_data if entry.key == "offset").value = "abc"
    onnx.save(model, str(folder / "model.onnx"))


HOSTILE_FILES = {
    # case: (what the folder holds besides a working model.onnx, what the one line says)
    "external-data offset abc": (_offset_abc, "has external-data offset 'abc'"),
    "batch fixed at 0": (
        lambda folder: constant_model(folder / "model.onnx", np.zeros(265), batch=0),
        "has a fixed batch of 0",
    ),
    "metadata.json 200,000 deep": (
        lambda folder: (folder / "metadata.json").write_text("[" * 200_000 + "]" * 200_000),
        "metadata.json: not a readable release metadata file (RecursionError:",
    ),
    "zero_point 1e400": (
        lambda folder: (folder / "metadata.json").write_text('{"inputs": {"image": {"zero_point": 1e400}}}'),
        "metadata.json: tensor 'image' has zero point inf, not a whole number",
    ),
}


@pytest.mark.parametrize("case", HOSTILE_FILES)
@pytest.mark.parametrize("command", ["install", "process"])
def test_hostile_model_files_are_one_line_naming_the_file(tmp_path, capsys, case, command):
    # Each was `unexpected ValueError/InvalidArgument/RecursionError/OverflowError ..., please report it`.
    folder = tmp_path / "release"
    folder.mkdir()
    for name, data in external_data_model(tmp_path).items():
        (folder / name).write_bytes(data)
    edit, expected = HOSTILE_FILES[case]
    if command == "process" and case == "external-data offset abc":  # only installs read the entries themselves
        expected = "model.onnx: ONNX Runtime cannot load the model"
    edit(folder)
    args = ["models", "install", str(folder)] if command == "install" else ["process", str(PHOTO), "--model"]
    code, err = cli_main(capsys, *args, *([str(folder / "model.onnx")] if command == "process" else []))
    assert_one_line(code, err, str(folder), expected)


def test_running_out_of_memory_is_one_line_naming_the_file_being_read(tmp_path, monkeypatch, capsys, tiny_model):
    # A file that makes a reader allocate more than the machine has (was `unexpected MemoryError`).
    shutil.copy(tiny_model.parent / "meanFace.npy", tmp_path / "meanFace.npy")

    def exhausted(*_args: object, **_kwargs: object) -> None:
        raise MemoryError

    monkeypatch.setattr(np, "fromfile", exhausted)  # how a basis file's values are read
    code, err = cli_main(capsys, "models", "install", str(tmp_path / "meanFace.npy"))
    assert_one_line(code, err, f"{tmp_path / 'meanFace.npy'}: ran out of memory reading it")


def nan_on_faces_model(path: Path) -> Path:
    """Parameter 10 is sqrt(last pixel - 0.999): finite on the test run's crop (a gradient ending at 1.0, so it
    passes the check before use), NaN on a face crop, whose last pixel is not white."""
    model = onnx.load(str(constant_model(path, np.zeros(265))))
    mask = np.zeros((1, 265), np.float32)
    mask[0, 10] = 1
    model.graph.node.extend(
        [
            onnx.helper.make_node("Slice", ["image", "last", "end", "axis"], ["pixel"]),
            onnx.helper.make_node("Sub", ["pixel", "almost_white"], ["excess"]),
            onnx.helper.make_node("Sqrt", ["excess"], ["root"]),
            onnx.helper.make_node("Reshape", ["root", "scalar"], ["value"]),
            onnx.helper.make_node("Mul", ["value", "mask"], ["nan_column"]),
            onnx.helper.make_node("Add", ["constant", "nan_column"], ["parameters_3dmm"]),
        ]
    )
    next(n for n in model.graph.node if n.output[0] == "parameters_3dmm").output[0] = "constant"
    model.graph.initializer.extend(
        onnx.numpy_helper.from_array(value, name)
        for name, value in {
            "last": np.array([3 * 128 * 128 - 1], np.int64),
            "end": np.array([3 * 128 * 128], np.int64),
            "axis": np.array([1], np.int64),
            "almost_white": np.array(0.999, np.float32),
            "scalar": np.array([-1, 1], np.int64),
            "mask": mask,
        }.items()
    )
    flat = onnx.helper.make_node("Flatten", ["image"], ["flat"])
    model.graph.node.insert(0, flat)
    next(n for n in model.graph.node if n.op_type == "Slice").input[0] = "flat"
    onnx.save(model, str(path))
    return path


def test_a_model_that_computes_nan_gives_failed_faces_never_nan_in_the_json(tmp_path, tiny_model):
    model = nan_on_faces_model(tmp_path / "nan.onnx")
    out = tmp_path / "out.jsonl"
    args = build_parser().parse_args(
        [
            "process",
            str(PHOTO),
            "--model",
            str(model),
            "--basis-dir",
            str(tiny_model.parent),
            "--box",
            "150,120,389,371",
            "-o",
            str(out),
        ]
    )
    assert args.run(args) == 0
    _, frame, summary = (json.loads(line, parse_constant=pytest.fail) for line in out.read_text().splitlines())
    assert frame["faces"] == [] and frame["failed_faces"] == 1
    assert summary["faces"] == 0 and summary["failed_faces"] == 1


@pytest.mark.simulator
@pytest.mark.slow
def test_bit_flips_in_a_compiled_model_are_caught_and_it_is_rebuilt(tiny_model):
    """QNN loads a context binary with flipped bits and computes garbage with it; the cache must notice.
    (Garbage or truncated entries: test_runtime_simulator.py::test_compiled_model_cache_..._rebuilt.)"""
    first, _, _ = process_on_npu(tiny_model, "--allow-simulator")
    (entry,) = cache_root().glob("*.onnx")
    data = bytearray(entry.read_bytes())
    for i in range(int(len(data) * 0.85), int(len(data) * 0.85) + 400, 3):  # inside the weights: still loads
        data[i] ^= 0x5A
    entry.write_bytes(bytes(data))
    second, stderr, code = process_on_npu(tiny_model, "--allow-simulator")
    assert code == 0 and second[0]["runtime"]["cache"] == "rebuilt"
    assert "sha256 mismatch" in stderr and entry.name in stderr
    np.testing.assert_array_equal(landmarks(second), landmarks(first))
    third, _, _ = process_on_npu(tiny_model, "--allow-simulator")
    assert third[0]["runtime"]["cache"] == "loaded"
