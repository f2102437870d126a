"""Faults on the way out: unwritable, clashing or unusual outputs, a failed run, a reader that goes away,
settings and a data folder that are not what they should be; nothing already saved is lost.
docs/faults.md lists each fault, what the user sees and the test that covers it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from facemap_gui.cli import build_parser, main
from facemap_gui.core.errors import InputError
from facemap_gui.live.settings import Settings, load_settings, settings_path
from tests.conftest import PHOTO, constant_model
from tests.fakes import UnpluggedCamera
from tests.helpers import assert_one_line, cli_main, cli_process
from tests.test_process import _one_line_error, read_jsonl, run_cli


def test_unwritable_output_folder_is_one_line_and_writes_nothing(tmp_path, real_basis):
    # A regular file where the folder should be: refused even for root, unlike a read-only folder.
    blocker = tmp_path / "results"
    blocker.write_text("not a folder")
    model = constant_model(tmp_path / "constant.onnx", np.zeros(265))  # no stand-in: stderr has one line
    result = run_cli(
        "process",
        str(PHOTO),
        "--model",
        str(model),
        "--basis-dir",
        str(real_basis),
        "--output",
        str(blocker / "out.jsonl"),
        check=False,
    )
    _one_line_error(result, "results/out.jsonl", "cannot write the output", "choose another folder")
    assert blocker.read_text() == "not a folder"


def test_a_failed_run_leaves_the_old_output_and_keeps_the_partial_beside_it(tmp_path, tiny_model, fake_sources):
    out = tmp_path / "results.jsonl"
    out.write_text('{"type":"summary","frames":99}\n')
    args = build_parser().parse_args(["process", "unplugged:0", "--model", str(tiny_model), "--output", str(out)])
    with pytest.raises(InputError, match="camera stopped delivering frames"):
        args.run(args)
    assert out.read_text() == '{"type":"summary","frames":99}\n'
    partial = read_jsonl((tmp_path / "results.jsonl.partial").read_text())
    assert [r["type"] for r in partial] == ["header"] + ["frame"] * UnpluggedCamera.FRAMES
    assert not list(tmp_path.glob(".*.part"))


@pytest.mark.parametrize("clash", ["input", "input-symlink", "record", "record-landmarks", "record-csv", "model"])
def test_an_output_that_is_an_input_or_another_output_is_refused_before_anything_runs(
    tmp_path, tiny_model, capsys, clash
):
    photo = tmp_path / "face.jpg"
    photo.write_bytes(PHOTO.read_bytes())
    video = tmp_path / "take.mkv"
    (tmp_path / "link.jpg").symlink_to(photo)
    output = {
        "input": photo,
        "input-symlink": tmp_path / "link.jpg",
        "record": video,
        "record-landmarks": tmp_path / "take.jsonl",
        "record-csv": tmp_path / "take.csv",
        "model": tiny_model,
    }[clash]
    before = {p: p.read_bytes() for p in (photo, tiny_model)}
    code, err = cli_main(
        capsys, "process", str(photo), "--model", str(tiny_model), "--record", str(video), "--csv", "-o", str(output)
    )
    assert_one_line(code, err, f"--output {output}: is also", "choose another --output")
    assert {p: p.read_bytes() for p in before} == before
    assert not video.exists() and not (tmp_path / "take.jsonl").exists()


@pytest.mark.parametrize("victim", ["input", "model", "record-landmarks"])
def test_bench_never_writes_its_report_over_the_input_the_model_or_its_recording(
    tmp_path, tiny_model, pan_video, capsys, victim
):
    clip = tmp_path / "in.mkv"
    clip.write_bytes(pan_video.read_bytes())
    model = tmp_path / "model.onnx"
    model.write_bytes(tiny_model.read_bytes())
    target = {"input": clip, "model": model, "record-landmarks": tmp_path / "take.jsonl"}[victim]
    before = {p: p.read_bytes() for p in (clip, model)}
    code, err = cli_main(
        capsys, "bench", str(clip), "--frames", "1", "--no-baseline", "--record", str(tmp_path / "take.mkv"),
        "--json", str(target),
    )  # fmt: skip
    assert_one_line(code, err, f"{target}: ", "is also" if victim != "model" else "is not a bench report", "choose")
    assert {p: p.read_bytes() for p in before} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mkv", "model.onnx"]


def test_a_report_or_output_the_app_wrote_is_replaced_by_the_next_run(tmp_path, tiny_model, capsys):
    out = tmp_path / "out.jsonl"
    for _ in range(2):
        assert main(["process", str(PHOTO), "--model", str(tiny_model), "-o", str(out)]) == 0
    assert [r["type"] for r in read_jsonl(out.read_text())] == ["header", "frame", "summary"]


def test_models_stand_in_never_replaces_files_in_its_folder(tmp_path, capsys):
    kept = {"meanFace.npy": b"the real basis", "facemap_3dmm.onnx": b"the real model"}
    for name, data in kept.items():
        (tmp_path / name).write_bytes(data)
    code, err = cli_main(capsys, "models", "stand-in", str(tmp_path), "--arch", "tiny")
    assert_one_line(code, err, f"{tmp_path / 'facemap_3dmm.onnx'}: already exists", "new or empty folder")
    release = tmp_path / "facemap_3dmm-onnx-float.zip"
    release.write_bytes(b"a release zip")
    code, err = cli_main(capsys, "models", "stand-in", str(tmp_path), "--as-release")
    assert_one_line(code, err, f"{release}: already exists")
    assert {n: (tmp_path / n).read_bytes() for n in kept} == kept and release.read_bytes() == b"a release zip"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([*kept, release.name])


def test_outputs_that_are_not_regular_files_are_written_through(tmp_path, tiny_model, capsys):
    target = tmp_path / "real.jsonl"
    target.write_text('{"type":"header","version":"an earlier run"}\n')  # replaced: the app wrote it
    link = tmp_path / "link.jsonl"
    link.symlink_to(target)
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    received: list[str] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_text()))
    reader.start()
    for output in (link, fifo, Path(os.devnull)):
        assert main(["process", str(PHOTO), "--model", str(tiny_model), "-o", str(output)]) == 0
    reader.join(60)
    assert link.is_symlink() and read_jsonl(target.read_text())[-1]["type"] == "summary"
    assert fifo.is_fifo() and read_jsonl(received[0])[-1]["type"] == "summary"
    assert Path(os.devnull).is_char_device()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link.jsonl", "pipe", "real.jsonl"]


def test_a_reader_that_goes_away_ends_the_run_quietly(tiny_model):
    process = cli_process("process", "demo:0", "--model", str(tiny_model))  # endless, to stdout
    assert json.loads(process.stdout.readline())["type"] == "header"
    process.stdout.close()  # as `| head -1` does
    stderr = process.stderr.read()
    assert process.wait(60) == 128 + signal.SIGPIPE
    assert "Traceback" not in stderr and "Exception ignored" not in stderr, stderr


def test_closed_stdout_is_one_line(tiny_model):
    result = subprocess.run(
        [sys.executable, "-m", "facemap_gui.cli", "process", str(PHOTO), "--model", str(tiny_model)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: os.close(1),
        timeout=300,
    )
    _one_line_error(result, "standard output is closed", "--output FILE")


@pytest.mark.parametrize(
    "content",
    [
        '{"version": 1, "smoothing_strength": NaN}',  # Python's json reads NaN/Infinity: the slider could not show it
        '{"version": 1, "smoothing_strength": 1e400}',
        '{"version": 1, "smoothing_strength": 1e300}',  # finite, but it overflowed the slider: no window
        "[]",
        "[" * 100_000,  # nested past Python's recursion limit
    ],
)
def test_settings_garbage_that_parses_still_gives_defaults_and_a_warning(content):
    # Unparsable and wrongly typed files: tests/test_gui_settings.py.
    settings_path().write_text(content)
    settings, warning = load_settings()
    assert settings == Settings()
    assert str(settings_path()) in warning and "using defaults" in warning


def test_a_data_folder_that_is_a_file_is_one_line(tmp_path, monkeypatch, capsys):
    (tmp_path / "home").write_text("not a folder")
    monkeypatch.setenv("FACEMAP_GUI_HOME", str(tmp_path / "home" / "sub"))
    code, err = cli_main(capsys, "models", "list")
    assert_one_line(code, err, "FACEMAP_GUI_HOME=", "is not a folder")


@pytest.mark.skipif(
    not Path("/proc/self").is_dir(), reason="needs Linux's /proc: a folder nobody, root included, can create in"
)
def test_a_data_folder_that_cannot_be_created_is_one_line_naming_it(monkeypatch, capsys):
    monkeypatch.setenv("FACEMAP_GUI_HOME", "/proc/facemap-gui-test")
    code, err = cli_main(capsys, "models", "stand-in", "/proc/facemap-gui-test/stand-in", "--arch", "tiny")
    assert_one_line(code, err, "/proc/facemap-gui-test", "writable")
    assert "unexpected" not in err


@pytest.fixture
def small_disk(tmp_path):
    """A 200 kB tmpfs: writes fail with ENOSPC as on a full disk (mounting needs root, as in CI's container)."""
    folder = tmp_path / "small"
    folder.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=200k", "tmpfs", str(folder)], check=False).returncode:
        pytest.skip("mounting a tmpfs needs root")
    yield folder
    subprocess.run(["umount", str(folder)], check=True)


def test_a_full_disk_ends_the_jsonl_on_a_whole_line_and_names_the_file(small_disk, tiny_model, capsys):
    kept = small_disk / "kept.jsonl"
    cases = {small_disk / "new.jsonl": small_disk / "new.jsonl", kept: small_disk / "kept.jsonl.partial"}
    for out, partial in [*cases.items(), (Path("/dev/full"), None)]:
        kept.write_text('{"type":"header","version":"an earlier run"}\n')
        code, err = cli_main(
            capsys, "process", "demo:0", "--box", "100,100,300,300", "--model", str(tiny_model), "-o", str(out)
        )
        assert code == 2 and err.strip().splitlines()[-1] == (
            f"facemap-gui: error: {out}: cannot write (No space left on device); free disk space or write to another "
            "folder (frames before this are saved)"
        ), err
        assert kept.read_text() == '{"type":"header","version":"an earlier run"}\n'  # a good file stays as it was
        if partial is not None:  # the run's own lines, every one whole, filling the disk
            text = partial.read_text()
            assert len(text) > 100_000 and text.endswith("\n"), len(text)
            records = read_jsonl(text)
            assert records[0]["type"] == "header" and {r["type"] for r in records[1:]} == {"frame"}
            partial.unlink()
    assert sorted(p.name for p in small_disk.iterdir()) == ["kept.jsonl"]
