"""Model downloads against a local HTTP server: first-use trust, published checksums, resume, retries,
timeouts and HTTPS only. The real URLs are not reachable here: a server on 127.0.0.1 serves generated zips
and .npy files under their catalogue names (FACEMAP_GUI_MIRROR points downloads at it) and can cut, stall,
fail or redirect."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator

import numpy as np
import pytest

from facemap_gui.core import store
from facemap_gui.core.errors import FacemapError
from facemap_gui.models.catalogue import BASIS_FILES, MIRROR_ENV, REFERENCE_FILES
from facemap_gui.models.download import Downloader, DownloadError, Progress, check_url
from facemap_gui.models.install import missing
from facemap_gui.run.pipeline_builder import RunOptions
from tests.conftest import SHORT_RANGE
from tests.helpers import (
    FileServer,
    assert_one_line,
    basis_files,
    cli_main,
    external_data_model,
    file_server,
    installed_files,
    make_zip,
    npy_bytes,
    quantized_model_bytes,
    run_installed_model,
    run_models_cli,
    sha,
)

FAST = {"timeout_s": 0.5, "attempts": 3, "backoff_s": 0.01}


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[FileServer]:
    """The local server, with every catalogue download pointed at it."""
    with file_server() as state:
        monkeypatch.setenv(MIRROR_ENV, state.url)
        yield state


def test_download_installs_models_and_basis_and_trusts_first_use(server, tmp_path, capsys):
    model = external_data_model(tmp_path)
    server.files["facemap_3dmm-onnx-float.zip"] = make_zip(
        {
            "facemap_3dmm-onnx-float/job_1/model.onnx": model["model.onnx"],
            "facemap_3dmm-onnx-float/job_1/weights.bin": model["weights.bin"],
            "facemap_3dmm-onnx-float/LICENSE.txt": b"licence text",
        }
    )
    server.files["facemap_3dmm-onnx-w8a8.zip"] = make_zip({"model.onnx": quantized_model_bytes()})
    server.files.update(basis_files())
    assert missing() == ["facemap_3dmm-float", "facemap_3dmm-w8a8", "basis"]

    code, out, err = run_models_cli(capsys, "download")

    assert code == 0, err
    assert missing() == []
    assert installed_files() == [
        "basis/blendShape.npy",
        "basis/meanFace.npy",
        "basis/shapeBasis.npy",
        "facemap_3dmm/float/facemap_3dmm.onnx",
        "facemap_3dmm/float/weights.bin",
        "facemap_3dmm/w8a8/facemap_3dmm.onnx",
        "installed.json",
        "trusted.json",
    ]
    # The basis files arrive unchanged; the model folder keeps the weights file under the name it refers to.
    for name, data in basis_files().items():
        assert (store.basis_dir() / name).read_bytes() == data
    assert (store.landmark_model_path("float").parent / "weights.bin").read_bytes() == model["weights.bin"]
    trusted = json.loads((store.models_dir() / "trusted.json").read_text())
    assert trusted["facemap_3dmm-onnx-float.zip"]["sha256"] == sha(server.files["facemap_3dmm-onnx-float.zip"])
    assert sorted(trusted) == [
        "blendShape.npy",
        "facemap_3dmm-onnx-float.zip",
        "facemap_3dmm-onnx-w8a8.zip",
        "meanFace.npy",
        "shapeBasis.npy",
    ]
    assert "no published checksum for facemap_3dmm-onnx-float.zip, " in err and "trusted on first use" in out
    assert "facemap_3dmm-onnx-float.zip  [########################] 100%" in err and "/s" in err
    assert not list(store.cache_dir().rglob("*.zip")), "downloaded zips are removed once installed"
    # Front ends now find the installed model (with its external weights) through the store by default.
    assert RunOptions().model_path("float") == store.landmark_model_path("float")
    assert run_installed_model("float", batch=2) == pytest.approx(0.01, abs=1e-6)

    code, out, _ = run_models_cli(capsys, "download")
    assert code == 0 and out.count("already installed") == 3
    assert len(server.requests) == 5, "nothing is fetched again"


def test_a_later_download_must_match_the_first_seen_checksum(server, capsys):
    server.files.update(basis_files())
    assert run_models_cli(capsys, "download", "basis")[0] == 0
    first = (store.basis_dir() / "meanFace.npy").read_bytes()
    server.files["meanFace.npy"] = npy_bytes(np.ones(204, np.float32))

    code, _, err = run_models_cli(capsys, "download", "--force", "basis")

    assert code == 2
    assert "meanFace.npy: the downloaded file does not match the expected checksum" in err
    assert "nothing installed" in err and err.count("\n", err.index("facemap-gui: error:")) == 1
    assert (store.basis_dir() / "meanFace.npy").read_bytes() == first
    assert not [p for p in store.cache_dir().rglob("*") if p.is_file()], "the rejected file is deleted"


def test_published_checksum_mismatch_installs_nothing(server, capsys):
    server.files["face_detection_short_range.tflite"] = b"not the detector" * 100

    code, _, err = run_models_cli(capsys, "download", "blazeface-short")

    assert code == 2 and "does not match the expected checksum" in err
    assert installed_files() == []


def test_detector_download_is_verified_against_the_published_checksum(server, capsys):
    server.files["face_detection_short_range.tflite"] = SHORT_RANGE.read_bytes()

    code, out, err = run_models_cli(capsys, "download", "blazeface-short")

    assert code == 0, err
    assert "sha256 matches the published checksum" in out
    assert (
        store.models_dir() / "detectors" / "face_detection_short_range.tflite"
    ).read_bytes() == SHORT_RANGE.read_bytes()
    assert "trusted.json" not in installed_files()


def test_resume_after_a_cut_connection(server, tmp_path):
    data = np.random.default_rng(0).bytes(300_000)
    server.files["blob.bin"] = data
    server.plan["blob.bin"] = ["cut:100000"]
    reports: list[Progress] = []

    digest = Downloader(**FAST, progress=reports.append).fetch(
        f"{server.url}/blob.bin", tmp_path / "blob.bin", sha(data), len(data)
    )

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

    part, validator = sorted(tmp_path.iterdir())
    assert part.name == ".blob.bin.part" and 50_000 < part.stat().st_size < len(data)
    assert validator.name == ".blob.bin.validator" and validator.read_text() == f'"{sha(data)[:16]}"'
    kept = part.stat().st_size
    Downloader(**FAST).fetch(f"{server.url}/blob.bin", tmp_path / "blob.bin", sha(data))
    assert server.ranges("blob.bin")[-1] == f"bytes={kept}-"
    assert (tmp_path / "blob.bin").read_bytes() == data
    assert list(tmp_path.iterdir()) == [tmp_path / "blob.bin"]


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


@pytest.mark.parametrize("resume", ["ok", "ignore-if-range"])
def test_a_resumed_download_of_a_file_that_changed_on_the_server_starts_over(server, tmp_path, resume):
    """A hostile mirror changes the file between the cut and the resume: the result is the new file whole,
    never the first part of one version spliced to the rest of the other (which trust on first use would keep).
    A server that honours If-Range sends the new file whole; one that ignores it gives itself away by its ETag."""
    old, new = (np.random.default_rng(seed).bytes(300_000) for seed in (5, 6))
    server.files["blob.bin"] = old
    server.plan["blob.bin"] = ["cut:100000"]
    with pytest.raises(DownloadError, match="connection closed after 100000 of 300000 bytes"):
        Downloader(timeout_s=0.5, attempts=1).fetch(f"{server.url}/blob.bin", tmp_path / "blob.bin")
    assert (tmp_path / ".blob.bin.part").stat().st_size == 100_000
    server.files["blob.bin"] = new
    server.plan["blob.bin"] = [resume]

    digest = Downloader(**FAST).fetch(f"{server.url}/blob.bin", tmp_path / "blob.bin")

    assert (tmp_path / "blob.bin").read_bytes() == new and digest == sha(new)
    assert server.if_ranges[1] == f'"{sha(old)[:16]}"', "the resume names the version its first part came from"
    assert list(tmp_path.iterdir()) == [tmp_path / "blob.bin"]


def test_a_part_without_a_validator_is_not_resumed(server, tmp_path):
    old, new = (np.random.default_rng(seed).bytes(300_000) for seed in (5, 6))
    server.files["blob.bin"], server.etags = old, False
    server.plan["blob.bin"] = ["cut:100000"]
    with pytest.raises(DownloadError):
        Downloader(timeout_s=0.5, attempts=1).fetch(f"{server.url}/blob.bin", tmp_path / "blob.bin")
    server.files["blob.bin"] = new

    Downloader(**FAST).fetch(f"{server.url}/blob.bin", tmp_path / "blob.bin")

    assert (tmp_path / "blob.bin").read_bytes() == new
    assert server.ranges("blob.bin") == [None, None], "nothing tells whether the file is the same: start over"


def test_a_dripping_body_is_cut_off_below_the_minimum_rate(server, tmp_path):
    """A byte every 10 ms never trips the per-read timeout; the average rate over each window does."""
    server.files["blob.bin"] = bytes(2000)
    server.plan["blob.bin"] = ["drip-bytes"]
    slow = Downloader(timeout_s=5, attempts=1, min_rate=1000, rate_window_s=0.3)
    with pytest.raises(DownloadError, match=r"blob.bin: slower than 1.0 kB/s over 0 s \(\d+ bytes\) after"):
        slow.fetch(f"{server.url}/blob.bin", tmp_path / "blob.bin")


def test_dripping_headers_are_cut_off_at_the_timeout(server, tmp_path):
    server.files["blob.bin"] = b"z"
    server.plan["blob.bin"] = ["drip-headers"]
    with pytest.raises(DownloadError, match=r"/blob.bin: no complete response within 0.3 s \(gave up after 1 "):
        Downloader(timeout_s=0.3, attempts=1).fetch(f"{server.url}/blob.bin", tmp_path / "blob.bin")


@pytest.mark.parametrize(
    "command", [("models", "download"), ("doctor", "--selftest")], ids=["models download", "selftest"]
)
def test_an_unresolvable_host_fails_at_once_naming_every_missing_file(monkeypatch, capsys, command):
    """Offline: no retries (each would ask the resolver again), and the offline way lists every file."""
    lookups = []

    def offline(host, *args, **kwargs):
        lookups.append(host)
        raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")

    monkeypatch.setattr(socket, "getaddrinfo", offline)
    monkeypatch.setenv(MIRROR_ENV, "https://mirror.example/models")

    code, err = cli_main(capsys, *command)

    zips = ("facemap_3dmm-onnx-float.zip", "facemap_3dmm-onnx-w8a8.zip")
    files = (*zips, *BASIS_FILES) if command[0] == "models" else REFERENCE_FILES
    (line,) = [line for line in err.splitlines() if line.startswith("facemap-gui: error:")]
    assert code == 2 and lookups == ["mirror.example"], err
    assert "cannot resolve the host name mirror.example (Temporary failure in name resolution)" in line
    assert all(f"https://mirror.example/models/{name}" in line for name in files), line
    assert line.endswith(f"install them here with `facemap-gui models install {' '.join(files)}`")


def test_urls_with_a_user_name_or_password_are_refused_without_printing_it(monkeypatch, capsys):
    """urllib would send `user:secret@127.0.0.1` to the resolver as a host name (the loopback check saw 127.0.0.1)."""
    lookups = []
    monkeypatch.setattr(socket, "getaddrinfo", lambda host, *a, **k: lookups.append(host) or [])
    mirror = "http://user:secret@127.0.0.1:8000/models"
    monkeypatch.setenv(MIRROR_ENV, mirror)

    code, err = cli_main(capsys, "models", "download", "basis")
    listed = run_models_cli(capsys, "list")[1]

    assert_one_line(code, err.splitlines()[-1] + "\n", "not a valid URL (a user name or password", "***@127.0.0.1")
    assert "secret" not in err and "secret" not in listed and "http://***@127.0.0.1:8000/models/meanFace.npy" in listed
    assert lookups == []
    for url in ("https://a:b@example.com/x.zip", "https://a@example.com/x.zip", "https://my host/x.zip"):
        with pytest.raises(FacemapError, match="not a valid URL"):
            check_url(url)
