"""CPU time per frame (`bench --cpu`, and the by-thread split of every bench run): the figures are attributed to
the thread or process that spent them (amounts of work, never durations, are what the tests fix)."""

from __future__ import annotations

import json
import sys
import threading
import time

import pytest

from facemap_gui.bench.cpu import PLAIN_LOOP, WARM_FRAMES, ThreadCpu, child_cpu_s, per_frame_ms
from facemap_gui.cli import main
from facemap_gui.core.errors import FacemapError
from facemap_gui.sources.demo import DemoSource
from tests.conftest import PHOTO, write_video


def test_thread_cpu_counts_a_finished_threads_work_under_its_name():
    cpu = ThreadCpu()
    cpu.sample()
    before = cpu.by_name()
    used: list[float] = []

    def work() -> None:
        start = time.thread_time()
        while time.thread_time() - start < 0.2:  # 0.2 s of this thread's own CPU, however fast the machine
            sum(i * i for i in range(10_000))
        cpu.sample()  # its last reading, taken while it still runs: the thread then ends
        used.append(time.thread_time())

    worker = threading.Thread(target=work, name="burner")
    worker.start()
    worker.join()
    cpu.sample()  # the burner is gone now and keeps the figure it had
    spent = per_frame_ms(before, cpu.by_name(), frames=10)
    # The burner's own CPU clock, against a figure the OS keeps in 10 ms ticks for user and system time each
    assert spent["burner"] * 10 / 1000 == pytest.approx(used[0], abs=0.03)
    assert next(iter(spent)) == "burner"  # largest first; this thread only waited meanwhile


def test_child_cpu_is_the_childs_own_and_a_failure_is_one_line(tmp_path):
    own = tmp_path / "own.txt"
    burn = f"""
import time
while time.process_time() < 0.3:  # 0.3 s of its own CPU, however fast the machine
    sum(i * i for i in range(10_000))
open({str(own)!r}, "w").write(str(time.process_time()))
"""
    busy = child_cpu_s([sys.executable, "-c", burn], {})
    idle = child_cpu_s([sys.executable, "-c", "pass"], {})
    assert idle < float(own.read_text()) <= busy  # what the child counted itself (the idle one only started)
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
