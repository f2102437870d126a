"""`facemap-gui process DIR --output-dir OUT`: a folder of generated clips, a folder of images, a corrupt video and
a text file, through the real detector and a stand-in model; in this process, in worker processes and on Ray."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import cv2
import pytest

from facemap_gui.batch import run as batch_run
from facemap_gui.batch.discover import discover
from facemap_gui.batch.run import Progress, plan_workers
from facemap_gui.core.choices import BATCH_LOCK
from facemap_gui.sources.demo import DemoSource
from tests.conftest import write_video
from tests.helpers import assert_one_line, cli_main
from tests.test_process import run_cli

CLIPS = ["a.mp4", "b.mkv", "sub/c.mp4", "sub/deeper/d.mp4"]
RAY_MISSING = 'Ray is not installed: pip install -e ".[cluster]" (.ci/run installs it)'
OUTPUTS = {f"{name}.jsonl" for name in CLIPS} | {"stills.jsonl"}


def make_archive(root: Path, clips: list[str], frames: int) -> Path:
    source = DemoSource("", size=(320, 180))
    pan = [source.read().rgb for _ in range(frames)]
    for name in clips:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        write_video(root / name, pan)
    return root


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = make_archive(tmp_path_factory.mktemp("archive"), CLIPS, frames=6)
    (root / "stills").mkdir()
    source = DemoSource("", size=(320, 180))
    for index in range(2):
        cv2.imwrite(str(root / "stills" / f"{index}.png"), cv2.cvtColor(source.read().rgb, cv2.COLOR_RGB2BGR))
    (root / "corrupt.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"not a video" * 50)
    (root / "notes.txt").write_text("session notes, not a video\n")
    return root


def batch(archive: Path, out: Path, model: Path, *extra: str) -> tuple[int, str]:
    result = run_cli("process", str(archive), "--output-dir", str(out), "--model", str(model), *extra, check=False)
    return result.returncode, result.stderr


def outputs(out: Path) -> dict[str, list[dict]]:
    return {
        p.relative_to(out).as_posix(): [json.loads(line) for line in p.read_text().splitlines()]
        for p in out.rglob("*.jsonl")
        if p.name != "failures.jsonl"
    }


def comparable(records: list[dict]) -> list[dict]:
    """Header and frames without what is timed (the summary is only timings and the counts checked elsewhere)."""
    header, *frames, _ = records
    header = {**header, "runtime": {k: v for k, v in header["runtime"].items() if k != "session_ms"}}
    return [header, *({k: v for k, v in r.items() if k != "timings_ms"} for r in frames)]


def table_value(stderr: str, row: str) -> str:
    return next(line.split()[-1] for line in stderr.splitlines() if line.strip().startswith(row))


def test_workers_and_ray_write_the_same_outputs_and_report_the_corrupt_file(archive, tmp_path, tiny_model):
    code, err = batch(archive, tmp_path / "one", tiny_model, "--jobs", "1", "--csv")
    assert code == 1, err  # the corrupt video failed; the others went on
    one = outputs(tmp_path / "one")
    assert set(one) == OUTPUTS
    for name, records in one.items():
        header, *frames, summary = records
        assert header["batch"]["relative"] == name.removesuffix(".jsonl") and summary["type"] == "summary"
        assert len(frames) == (2 if name == "stills.jsonl" else 6) == summary["frames"]
        assert summary["faces"] > 0 and header["model"]["stand_in"] is True
    assert [json.loads(line)["input"] for line in (tmp_path / "one" / "failures.jsonl").read_text().splitlines()] == [
        "corrupt.mp4"
    ]
    assert "not a readable video" in err and "notes.txt: skipped" in err
    assert table_value(err, "files done") == "5" and table_value(err, "failed") == "1"
    assert table_value(err, "skipped (not media)") == "1"
    csv = {p.relative_to(tmp_path / "one").as_posix(): p.read_text() for p in (tmp_path / "one").rglob("*.csv")}
    assert set(csv) == {f"{n}.csv" for n in CLIPS} | {"stills.csv"}
    assert all(len(text.splitlines()) > 2 for text in csv.values())  # the column names and a row a face

    code, err = batch(archive, tmp_path / "two", tiny_model, "--jobs", "2", "--csv")
    assert code == 1, err
    two = outputs(tmp_path / "two")
    assert {n: comparable(r) for n, r in two.items()} == {n: comparable(r) for n, r in one.items()}
    assert {p.relative_to(tmp_path / "two").as_posix(): p.read_text() for p in (tmp_path / "two").rglob("*.csv")} == csv

    pytest.importorskip("ray", reason=RAY_MISSING)
    code, err = batch(archive, tmp_path / "ray", tiny_model, "--cluster", "ray")
    assert code == 1, err
    ray = outputs(tmp_path / "ray")
    assert {n: comparable(r) for n, r in ray.items()} == {n: comparable(r) for n, r in one.items()}
    assert not list(tmp_path.rglob(".*.part"))
    assert all(line.startswith(("facemap-gui: ", "  ")) for line in err.splitlines()), err  # no Ray token notice


def test_resume_skips_complete_outputs_and_redoes_changed_or_half_written_ones(archive, tmp_path, tiny_model):
    out = tmp_path / "out"
    batch(archive, out, tiny_model)
    written = {p: p.stat().st_mtime_ns for p in out.rglob("*.jsonl") if p.name != "failures.jsonl"}
    # Half-written: the summary line is missing. Changed: the input's mtime moved since its output was written.
    half = out / "sub" / "c.mp4.jsonl"
    half.write_text("".join(half.read_text().splitlines(keepends=True)[:-1]))
    stat = (archive / "a.mp4").stat()
    os.utime(archive / "a.mp4", ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    try:
        code, err = batch(archive, out, tiny_model, "--jobs", "1")
    finally:
        os.utime(archive / "a.mp4", ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert code == 1 and table_value(err, "skipped (complete)") == "3" and table_value(err, "files done") == "2"
    redone = {p for p, ns in written.items() if p.stat().st_mtime_ns != ns}
    assert redone == {half, out / "a.mp4.jsonl"}
    assert outputs(out)["sub/c.mp4.jsonl"][-1]["type"] == "summary"

    before = {p: p.stat().st_mtime_ns for p in written}
    code, err = batch(archive, out, tiny_model, "--force", "--jobs", "1")
    assert table_value(err, "files done") == "5" and table_value(err, "skipped (complete)") == "0"
    assert all(p.stat().st_mtime_ns != ns for p, ns in before.items())


def test_record_writes_the_video_beside_each_output(archive, tmp_path, tiny_model):
    out = tmp_path / "out"
    code, err = batch(archive / "sub", out, tiny_model, "--record", "--csv")
    assert code == 0, err
    assert {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()} == {
        "c.mp4.mkv",
        "c.mp4.jsonl",
        "c.mp4.csv",
        "deeper/d.mp4.mkv",
        "deeper/d.mp4.jsonl",
        "deeper/d.mp4.csv",
        "failures.jsonl",
        BATCH_LOCK,
    }
    header, *frames, summary = outputs(out)["c.mp4.jsonl"]
    assert header["recording"]["video"] == "c.mp4.mkv" and len(frames) == 6 == summary["frames"]
    code, err = batch(archive / "sub", out, tiny_model, "--record", "--csv")
    assert code == 0 and table_value(err, "skipped (complete)") == "2"


@pytest.mark.parametrize("how", [["--jobs", "1"], ["--jobs", "2"], ["--cluster", "ray"]], ids=["1", "2", "ray"])
def test_interrupted_run_leaves_only_complete_outputs_and_resumes_after_them(tmp_path, tiny_model, how):
    if how[0] == "--cluster":
        pytest.importorskip("ray", reason=RAY_MISSING)
    archive = make_archive(tmp_path / "archive", [f"clip{i}.mp4" for i in range(8)], frames=60)
    out = tmp_path / "out"
    command = [
        sys.executable,
        "-m",
        "facemap_gui.cli",
        "process",
        str(archive),
        "--output-dir",
        str(out),
        "--model",
        str(tiny_model),
        *how,
    ]
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 240  # a bound on a hung run, not what the test measures
    while len(list(out.glob("*.jsonl"))) < 2 and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 130, err
    complete = sorted(p.name for p in out.glob("*.jsonl") if p.name != "failures.jsonl")
    assert 2 <= len(complete) < 8
    for records in outputs(out).values():
        assert records[-1]["type"] == "summary" and records[-1]["frames"] == 60
    assert [p.name for p in out.glob(".*")] == [BATCH_LOCK]  # no part folder left behind
    code, err = batch(archive, out, tiny_model, "--jobs", "1")
    assert code == 0, err
    assert table_value(err, "skipped (complete)") == str(len(complete))
    assert table_value(err, "files done") == str(8 - len(complete))


@pytest.mark.parametrize(
    ("address", "problem"),
    [
        ("ray://127.0.0.1:99999", "Port out of range 0-65535"),
        ("ray://[::1", "Invalid IPv6 URL"),
        ("ray://my host:10001", "spaces or control characters in it"),
        ("ray://39600:10001", "'39600' is a number"),
        ("ray://head", "not a cluster address"),
        ("ray://u:secret@head:10001", "a user name or password"),
        ("http://head:10001", "not a cluster address"),
    ],
)
def test_a_bad_cluster_address_is_one_line_before_ray_is_asked(
    archive, tmp_path, address, problem, monkeypatch, capsys
):
    """Ray took 30 s and 13-18 lines to give up on these; none of them reaches Ray now (it is not even imported)."""
    monkeypatch.setitem(sys.modules, "ray", None)
    code, err = cli_main(capsys, "process", str(archive), "--output-dir", str(tmp_path / "out"), "--cluster", address)
    shown = address.replace("u:secret@", "***@")
    assert_one_line(code, err, f"--cluster {shown}: {problem}", "; expected ray (a local Ray instance) or ray://")
    assert "secret" not in err
    assert not (tmp_path / "out").exists()


def test_batch_errors_are_one_line(archive, tmp_path, tiny_model, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # as where the cluster extra is not installed
    code, err = batch(archive, tmp_path / "out", tiny_model, "--cluster", "ray")
    assert code == 2 and err.strip().splitlines() == [
        'facemap-gui: error: --cluster ray: Ray is not installed; pip install "facemap-gui[cluster]"'
    ]
    result = run_cli("process", str(archive / "a.mp4"), str(archive / "b.mkv"), check=False)
    assert result.returncode == 2 and "needs --output-dir OUT" in result.stderr
    code, err = batch(archive, tmp_path / "out", tiny_model, "--output", str(tmp_path / "x.jsonl"))
    assert code == 2 and "--output: not with --output-dir" in err
    code, err = batch(tmp_path / "missing", tmp_path / "out", tiny_model)
    assert code == 2 and "missing: no such file or folder" in err


def test_workers_times_threads_fill_the_cores():
    assert plan_workers(files=20, jobs=0, cores=8) == (8, 1)
    assert plan_workers(files=3, jobs=0, cores=8) == (3, 2)
    assert plan_workers(files=20, jobs=2, cores=8) == (2, 4)
    assert plan_workers(files=0, jobs=0, cores=2) == (1, 2)


def test_globs_are_named_from_their_folder_and_fifos_are_skipped(archive, tmp_path):
    found = discover([f"{archive}/**/*.mp4"], tmp_path / "out")
    assert found.jobs == {name: archive / name for name in ("a.mp4", "corrupt.mp4", "sub/c.mp4", "sub/deeper/d.mp4")}
    fifo = tmp_path / "live.mp4"
    os.mkfifo(fifo)
    found = discover([str(fifo), str(archive / "stills")], tmp_path / "out")
    assert found.jobs == {"stills": archive / "stills"}
    assert found.skipped == [(str(fifo), "a named pipe (FIFO), not an image or video file")]


def test_progress_line_counts_files_frames_and_the_time_left(monkeypatch):
    clock = SimpleNamespace(monotonic=lambda: 100.0)
    monkeypatch.setattr(batch_run, "time", clock)  # a fixed clock: the figures below do not depend on load
    progress = Progress(4)  # stderr is not a terminal here: nothing is drawn
    progress.done, progress.frames = 1, 30
    clock.monotonic = lambda: 110.0
    assert progress.line() == "1/4 files, 30 frames, 3.0 fps, 0:30 left"
    progress.close()
