"""`process` as a person at a terminal sees it: progress and a summary on a terminal's stderr (nothing extra
otherwise), and `--stand-in` when the real model is missing."""

from __future__ import annotations

import json
import os
import pty
import shutil
import subprocess
import sys

from facemap_gui.core import store
from tests.conftest import PHOTO
from tests.test_process import run_cli


def run_on_a_terminal(*args: str) -> tuple[int, str]:
    """Run the CLI with stderr on a pseudo-terminal; its exit code and everything written there."""
    master, slave = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "facemap_gui.cli", *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=slave,
    )
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    return process.wait(timeout=300), b"".join(chunks).decode()


def test_progress_and_a_summary_on_a_terminal(tmp_path, tiny_model, pan_video):
    code, terminal = run_on_a_terminal(
        "process", str(pan_video), "--model", str(tiny_model), "--output", str(tmp_path / "out.jsonl")
    )
    assert code == 0, terminal
    assert "\r\x1b[Kframe 1/30 · " in terminal and " left" in terminal  # the first frame, then every half second
    summary = terminal.rstrip().rsplit("\r\x1b[K", 1)[-1]
    assert summary.startswith("process: 30 frames in ") and summary.endswith(
        "a face on 30 (STAND-IN model: landmarks are not real)"
    )


def test_nothing_extra_on_stderr_when_it_is_not_a_terminal(tmp_path, tiny_model, pan_video):
    result = run_cli("process", str(pan_video), "--model", str(tiny_model), "--output", str(tmp_path / "o.jsonl"))
    [line] = result.stderr.splitlines()  # only the stand-in warning, as ever
    assert "STAND-IN" in line and "frame" not in line and "\r" not in result.stderr


def test_stand_in_option_runs_the_generated_stand_in_labelled(tiny_model, tmp_path):
    # The stand-in `demo` makes, put in place beforehand (the tiny one, to spare the CPU a full generation).
    shutil.copytree(tiny_model.parent, store.stand_in_dir("full"))
    out = tmp_path / "out.jsonl"
    result = run_cli("process", str(PHOTO), "--stand-in", "-o", str(out))
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert records[0]["model"]["stand_in"] and records[0]["model"]["path"].startswith(str(store.stand_in_dir("full")))
    assert records[-1]["type"] == "summary" and records[-1]["stand_in"] and records[-1]["frames_with_face"] == 1
    assert "STAND-IN" in result.stderr and len(result.stderr.splitlines()) == 1


def test_stand_in_and_model_together_are_refused(tiny_model):
    result = run_cli("process", str(PHOTO), "--stand-in", "--model", str(tiny_model), check=False)
    assert result.returncode == 2 and result.stderr.strip() == (
        "facemap-gui: error: --stand-in: not with --model (the stand-in is the model)"
    )
