"""A batch's outputs never collide with its inputs, with each other or with its own files (the failure list, the
lock), and what every file needs is checked once before anything is created."""

from __future__ import annotations

import errno
from pathlib import Path

import cv2
import filelock
import numpy as np
import pytest

from facemap_gui.batch import run as batch_run
from facemap_gui.batch.discover import discover
from facemap_gui.core.choices import BATCH_LOCK
from facemap_gui.core.errors import FacemapError
from tests.test_batch import make_archive, table_value
from tests.test_process import run_cli


def batch(inputs: list[str], out: Path, *extra: str) -> tuple[int, str]:
    result = run_cli("process", *inputs, "--output-dir", str(out), "--jobs", "1", *extra, check=False)
    return result.returncode, result.stderr


def one_error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("facemap-gui: error: "), err
    return lines[0]


def tree(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}


def test_an_input_named_like_the_failure_list_is_refused_before_anything_runs(tmp_path, tiny_model):
    (tmp_path / "in" / "failures").mkdir(parents=True)  # a folder of images: OUT/failures.jsonl
    cv2.imwrite(str(tmp_path / "in" / "failures" / "0.png"), np.zeros((64, 64, 3), np.uint8))
    code, err = batch([str(tmp_path / "in")], tmp_path / "out", "--model", str(tiny_model))
    assert code == 2 and "failures: its output would be OUT/failures.jsonl" in one_error_line(err)
    assert not (tmp_path / "out").exists()


def test_the_output_folder_is_never_read_as_input(tmp_path, tiny_model):
    inputs = make_archive(tmp_path / "in", ["a.mp4"], frames=2)
    code, err = batch([str(inputs)], inputs, "--model", str(tiny_model))
    assert code == 2 and "is the folder of the inputs" in one_error_line(err)
    code, err = batch([f"{inputs}/*.mp4"], inputs, "--model", str(tiny_model))
    assert code == 2 and "is the folder of the inputs" in one_error_line(err)
    assert tree(inputs) == {"a.mp4"}
    out = inputs / "out"  # inside the glob's folder: its outputs are left out of the matches
    for run in range(2):
        code, err = batch([f"{inputs}/*"], out, "--model", str(tiny_model), "--record")
        assert code == 0, err
        assert table_value(err, "files done") == ("1" if run == 0 else "0")
    assert tree(out) == {"a.mp4.jsonl", "a.mp4.mkv", "failures.jsonl", BATCH_LOCK}
    (inputs / "a.mp4.mkv").write_bytes((out / "a.mp4.mkv").read_bytes())  # files given one by one, OUT beside
    with pytest.raises(FacemapError, match=r"a\.mp4\.mkv: is where the output of a\.mp4 would go"):
        discover([str(inputs / "a.mp4"), str(inputs / "a.mp4.mkv")], inputs)


def test_a_second_batch_into_the_same_folder_is_refused_while_the_first_runs(tmp_path, tiny_model):
    inputs = make_archive(tmp_path / "in", ["a.mp4"], frames=2)
    out = tmp_path / "out"
    out.mkdir()
    (out / "failures.jsonl").write_text('{"input": "x.mp4", "error": "the first batch\'s"}\n')
    with filelock.FileLock(out / BATCH_LOCK):  # as the first batch holds it
        code, err = batch([str(inputs)], out, "--model", str(tiny_model))
    assert code == 2 and "another batch is writing there" in one_error_line(err)
    assert tree(out) == {"failures.jsonl", BATCH_LOCK}
    assert "the first batch's" in (out / "failures.jsonl").read_text()


def test_a_missing_model_is_one_line_before_any_folder_is_made(tmp_path):
    inputs = make_archive(tmp_path / "in", ["a.mp4", "b.mp4", "c.mp4"], frames=2)
    code, err = batch([str(inputs)], tmp_path / "out" / "deeper")
    assert code == 2 and "model is not installed" in one_error_line(err)
    assert not (tmp_path / "out").exists()


def test_warnings_stay_one_line_and_an_unwritable_failure_list_keeps_the_table(tmp_path, tiny_model, monkeypatch):
    inputs = make_archive(tmp_path / "in", ["a.mp4"], frames=2)
    (inputs / "two\nlines.txt").write_text("notes, not a video\n")

    def disk_full(path: Path, data: str) -> None:
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(batch_run, "write_atomic", disk_full)
    code, err = batch([str(inputs)], tmp_path / "out", "--model", str(tiny_model))
    lines = err.strip().splitlines()
    named = [line for line in lines if "lines.txt" in line]
    assert len(named) == 1 and named[0].startswith(f"facemap-gui: WARNING: {inputs}/two\\nlines.txt: skipped, ")
    assert table_value(err, "files done") == "1"
    assert code == 2 and lines[-1] == (
        f"facemap-gui: error: {tmp_path}/out/failures.jsonl: cannot write the failure list (No space left on "
        "device); the table above lists them"
    )
