"""The models folder against a hostile user: tampered records, installs killed or interrupted at exact moments,
two installs at once, basis, metadata and reference files whose content or declared sizes are hostile, and
`models verify` on a folder missing what tracking needs. docs/faults.md lists each with what the user sees."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from facemap_gui.cli import main
from facemap_gui.core import store
from facemap_gui.models.records import record_path
from tests.conftest import PHOTO, constant_model
from tests.helpers import assert_one_line, basis_files, cli_main, installed_files, make_zip, npy_bytes

REPO = Path(__file__).resolve().parents[1]


def _install_basis(tmp_path: Path) -> None:
    folder = tmp_path / "basis-src"
    folder.mkdir()
    for name, data in basis_files().items():
        (folder / name).write_bytes(data)
    assert main(["models", "install", str(folder)]) == 0


@pytest.mark.parametrize(
    ("tamper", "message"),
    [
        (
            lambda r, victim: r["basis"]["files"].update({"../../victim/meanFace.npy": {"size": 1, "sha256": "0"}}),
            "is outside",
        ),
        (lambda r, victim: r["basis"]["files"].update({str(victim): {"size": 1, "sha256": "0"}}), "is outside"),
        (
            lambda r, victim: r["basis"]["files"].update({"basis/extra.npy": {"size": 1, "sha256": "0"}}),
            "not one of its files",
        ),
        (lambda r, victim: r.update({"facemap_3dmm-fp64": {"files": {}}}), "not in the model catalogue"),
    ],
)
def test_records_never_point_outside_the_folder_nor_name_unknown_models(tmp_path, capsys, tamper, message):
    _install_basis(tmp_path)
    victim = store.home() / "victim" / "meanFace.npy"  # what `../../victim/meanFace.npy` reaches from models/
    victim.parent.mkdir()
    victim.write_bytes(b"precious")
    records = json.loads(record_path().read_text())
    tamper(records, victim)
    record_path().write_text(json.dumps(records))
    for command in (["remove", "basis"], ["verify"], ["list"], ["install", str(tmp_path / "basis-src")]):
        code, err = cli_main(capsys, "models", *command)
        assert_one_line(code, err, "installed.json", message, "delete")
    assert victim.read_bytes() == b"precious"
    assert (store.basis_dir() / "meanFace.npy").is_file()


# --- interrupted and concurrent installs ----------------------------------------------------------------

# A child `models install` that delivers a signal to itself right after the rename whose destination ends with
# MOMENT (the swap moves the installed folder to `.float-old`, then the staged one to `float`).
SIGNAL_AT = """
import os, signal, sys
from facemap_gui.cli import main
moment, sig = sys.argv[1], getattr(signal, sys.argv[2])
real = os.rename
def rename(src, dst):
    real(src, dst)
    if str(dst).endswith(moment):
        os.kill(os.getpid(), sig)
os.rename = rename
sys.exit(main(["models", "install", *sys.argv[3:]]))
"""


def _child(script: str, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen([sys.executable, "-c", script, *args], env=env, stderr=subprocess.PIPE, text=True)


def _leftovers() -> list[str]:
    hidden = [p.name for p in store.models_dir().rglob(".*") if p.name != ".lock"]
    return hidden + [p.name for p in store.cache_dir().glob("unpack-*")]


@pytest.mark.parametrize(
    ("moment", "sig"), [("-old", "SIGTERM"), ("-old", "SIGKILL"), ("/float", "SIGKILL"), ("/float", "SIGINT")]
)
def test_an_install_interrupted_at_the_folder_swap_keeps_the_old_model_and_leaves_nothing(
    tmp_path, capsys, moment, sig
):
    first = constant_model(tmp_path / "first.onnx", np.zeros(265)).read_bytes()
    second = constant_model(tmp_path / "second.onnx", np.ones(265)).read_bytes()
    (tmp_path / "first.zip").write_bytes(make_zip({"facemap_3dmm.onnx": first}))
    (tmp_path / "second.zip").write_bytes(make_zip({"facemap_3dmm.onnx": second}))
    assert main(["models", "install", str(tmp_path / "first.zip")]) == 0
    child = _child(SIGNAL_AT, moment, sig, str(tmp_path / "second.zip"))
    _, err = child.communicate(timeout=300)
    assert child.returncode in (-signal.SIGKILL, 128 + signal.SIGTERM, 130), err
    if sig != "SIGKILL":  # a signal the process handles: the swap is rolled back before it exits
        assert store.landmark_model_path("float").read_bytes() == first and _leftovers() == []
        assert err.strip().splitlines() == ["facemap-gui: interrupted"]
    # Any models command (here verify) settles what a killed one left: the old model back, no staging folders.
    code, err = cli_main(capsys, "models", "verify", "facemap_3dmm-float")
    assert code == 0, err
    assert store.landmark_model_path("float").read_bytes() == first
    assert _leftovers() == []


def test_an_install_killed_after_it_was_recorded_is_finished(tmp_path):
    first = constant_model(tmp_path / "first.onnx", np.zeros(265))
    second = constant_model(tmp_path / "second.onnx", np.ones(265))
    assert main(["models", "install", str(first)]) == 0
    assert main(["models", "install", str(second)]) == 0
    old = store.landmark_model_path("float").parent.with_name(".float-old")  # as a kill before its deletion leaves it
    old.mkdir()
    (old / "facemap_3dmm.onnx").write_bytes(first.read_bytes())
    assert main(["models", "verify", "facemap_3dmm-float"]) == 0
    assert store.landmark_model_path("float").read_bytes() == second.read_bytes()
    assert not old.exists()


# A child `models install` that, about to write installed.json, waits until the other child is there too (or 5 s
# pass): without a lock both have read the records by then, and the second write loses the first one's entry.
MEET_AT_WRITE = """
import os, sys, time
from pathlib import Path
from facemap_gui.cli import main
from facemap_gui.models import records
real, meet = records.write_json, Path(sys.argv[1])
def write_json(path, data):
    if path.name == "installed.json":
        (meet / str(os.getpid())).touch()
        deadline = time.monotonic() + 5
        while len(list(meet.iterdir())) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
    real(path, data)
records.write_json = write_json
sys.exit(main(["models", "install", *sys.argv[2:]]))
"""


def test_two_installs_at_once_both_end_up_recorded(tmp_path):
    model = constant_model(tmp_path / "model.onnx", np.zeros(265))
    meet = tmp_path / "meet"
    meet.mkdir()
    children = [_child(MEET_AT_WRITE, str(meet), str(model), "--precision", p) for p in ("float", "w8a8")]
    for child in children:
        _, err = child.communicate(timeout=300)
        assert child.returncode == 0, err
    assert sorted(json.loads(record_path().read_text())) == ["facemap_3dmm-float", "facemap_3dmm-w8a8"]
    assert installed_files() == [
        "facemap_3dmm/float/facemap_3dmm.onnx",
        "facemap_3dmm/w8a8/facemap_3dmm.onnx",
        "installed.json",
    ]


# --- hostile content -------------------------------------------------------------------------------------


def _npy_header_only(shape: tuple[int, ...]) -> bytes:
    """A .npy whose header declares `shape` in float64, with no data: what a 3.2 GB declaration costs to read."""
    data = npy_bytes(np.zeros(1))
    length = int.from_bytes(data[8:10], "little")
    header = f"{{'descr': '<f8', 'fortran_order': False, 'shape': {shape}, }}".encode()
    header += b" " * (length - len(header) - 1) + b"\n"
    return data[:10] + header


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (_npy_header_only((20000, 20000)), "expected a numeric array of shape (204,), found float64 (20000, 20000)"),
        (b"<!DOCTYPE html><html><body>Access denied</body></html>", "not a .npy file (an HTML or XML page"),
        (b"\x1f\x8b\x08\x00" + bytes(40), "not a .npy file (gzip-compressed data)"),
        (npy_bytes(np.full(204, np.nan)), "holds NaN or infinite values"),
        (npy_bytes(np.ones(204, np.complex64)), "found complex64 (204,)"),
        (npy_bytes(np.ones(204))[:-8], "truncated (203 of the 204 values"),
    ],
)
def test_hostile_basis_files_are_refused_naming_the_basis_file(tmp_path, capsys, data, message):
    folder = tmp_path / "basis"
    folder.mkdir()
    for name, good in basis_files().items():
        (folder / name).write_bytes(good)
    (folder / "meanFace.npy").write_bytes(data)
    code, err = cli_main(capsys, "models", "install", str(folder))
    assert_one_line(code, err, "meanFace.npy", message)
    assert installed_files() == []


def test_a_hostile_basis_already_installed_fails_verify_and_process_naming_it(tmp_path, capsys, tiny_model):
    _install_basis(tmp_path)
    (store.basis_dir() / "meanFace.npy").write_bytes(npy_bytes(np.full(204, np.nan, np.float32)))
    code, out, err = main(["models", "verify", "basis"]), *capsys.readouterr()
    assert code == 1 and "meanFace.npy: holds NaN or infinite values" in out
    code, err = cli_main(
        capsys, "process", str(PHOTO), "--model", str(tiny_model), "--basis-dir", str(store.basis_dir())
    )
    assert_one_line(code, err, "meanFace.npy: holds NaN or infinite values")


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        (
            "metadata.yaml",
            "a: &a [x, x, x, x]\nb: &b [*a, *a, *a, *a]\nc: [*b, *b, *b, *b]\n",
            "not a readable release metadata file (YAMLError: a YAML alias on line 2",
        ),
        ("metadata.json", "[" * 200_000 + "]" * 200_000, "not a readable release metadata file (RecursionError"),
        (
            "metadata.json",
            '{"inputs": {"image": {"dtype": "uint8", "scale": 0.1, "zero_point": 1e400}}}',
            "zero point inf, not a whole number",
        ),
    ],
)
def test_hostile_release_metadata_is_one_line(tmp_path, capsys, name, text, message):
    model = constant_model(tmp_path / "facemap_3dmm.onnx", np.zeros(265)).read_bytes()
    (tmp_path / "release.zip").write_bytes(make_zip({"facemap_3dmm.onnx": model, name: text.encode()}))
    code, err = cli_main(capsys, "models", "install", str(tmp_path / "release.zip"))
    assert_one_line(code, err, f"{tmp_path / 'release.zip'}/{name}", message)  # in the zip, not a deleted folder
    assert "unpack-" not in err
    assert installed_files() == []


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("face_img_lmk.txt", b"", "0 numbers (finite ones expected: 136 or 204)"),
        ("face_img_fbox.txt", b"1 2 3", "3 numbers (finite ones expected: 4)"),
        ("face_img.jpg", b"just some text\n", "not a readable image"),
    ],
)
def test_reference_files_are_checked_by_content_when_installed(tmp_path, capsys, name, data, message):
    (tmp_path / name).write_bytes(data)
    code, err = cli_main(capsys, "models", "install", str(tmp_path / name))
    assert_one_line(code, err, name, message, "models download reference")
    assert installed_files() == []


def test_verify_lists_every_entry_and_fails_when_what_tracking_needs_is_missing(capsys):
    code, out, _ = main(["models", "verify"]), *capsys.readouterr()
    assert code == 1
    assert [line.split()[:2] for line in out.splitlines() if not line.startswith(" ")] == [
        ["facemap_3dmm-float", "MISSING"],
        ["facemap_3dmm-w8a8", "MISSING"],
        ["basis", "MISSING"],
        ["reference", "not"],
        ["blazeface-short", "OK"],
        ["blazeface-full", "OK"],
    ]
    assert "    needed to track faces: facemap-gui models download basis (offline: models install FILE)" in out
