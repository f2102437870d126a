"""CPU time per frame (`bench --cpu`, and the by-thread split of every bench run): the figures are attributed to
the thread or process that spent them (amounts of work, never durations, are what the tests fix)."""

from __future__ import annotations

import json
import sys
import threading

import pytest

from facemap_gui.bench.cpu import PLAIN_LOOP, WARM_FRAMES, ThreadCpu, child_cpu_s, per_frame_ms
from facemap_gui.cli import main
from facemap_gui.errors import FacemapError
from facemap_gui.sources.demo import DemoSource
from tests.conftest import PHOTO, write_video


def burn(rounds: int) -> int:
    return sum(i * i for i in range(rounds))


def test_thread_cpu_counts_a_finished_threads_work_under_its_name():
    cpu = ThreadCpu()
    cpu.sample()
    before = cpu.by_name()
    done = threading.Event()

    def work() -> None:
        burn(3_000_000)
        cpu.sample()  # its last reading, taken while it still runs: the thread then ends
        done.set()

    worker = threading.Thread(target=work, name="burner")
    worker.start()
    worker.join()
    assert done.is_set()
    cpu.sample()  # the burner is gone now and keeps the figure it had
    spent = per_frame_ms(before, cpu.by_name(), frames=10)
    assert spent["burner"] > 5.0  # 3 M squares are >= 50 ms of CPU on any machine, so >= 5 ms a "frame"
    assert next(iter(spent)) == "burner"  # largest first; this thread only waited meanwhile


def test_child_cpu_is_the_childs_own_and_a_failure_is_one_line():
    busy = child_cpu_s([sys.executable, "-c", "sum(i * i for i in range(5_000_000))"], {})
    idle = child_cpu_s([sys.executable, "-c", "pass"], {})
    assert busy > idle + 0.1  # 5 M squares take well over 0.1 s of CPU beyond the interpreter's start
    with pytest.raises(FacemapError, match=r"exit 3: no such thing$"):
        child_cpu_s([sys.executable, "-c", "import sys; print('no such thing', file=sys.stderr); sys.exit(3)"], {})


def test_bench_cpu_reports_both_paths_and_the_run_by_thread(tmp_path, tiny_model, capsys):
    source = DemoSource("", photo=PHOTO, size=(320, 180))
    clip = write_video(tmp_path / "clip.mp4", [source.read().rgb for _ in range(WARM_FRAMES + 10)])
    out = tmp_path / "bench.json"
    assert (
        main(
            [
                "bench",
                str(clip),
                "--model",
                str(tiny_model),
                "--frames",
                "10",
                "--no-baseline",
                "--cpu",
                "--json",
                str(out),
            ]
        )
        == 0
    )
    report = json.loads(out.read_text())
    (run,) = report["runs"]
    by_thread = run["cpu_ms_per_frame"]
    assert by_thread["process"] > 0 and "MainThread" in by_thread  # the pipeline's thread
    paths = report["cpu_ms_per_frame"]
    assert {path.split(",")[0] for path in paths} == {"headless (process)", "window (gui)", PLAIN_LOOP}
    for figures in paths.values():
        assert figures["runs"] == 1 and figures["low"] == figures["median"] == figures["high"]
    printed = capsys.readouterr().out
    assert "CPU a frame: " in printed and "headless (process): " in printed
