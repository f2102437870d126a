"""The one progress line of the terminal commands (facemap_gui/core/progress.py) and the download bar drawn with it."""

from __future__ import annotations

import io
from types import SimpleNamespace

import pytest

from facemap_gui.commands.models import ProgressBar
from facemap_gui.core import progress as progress_module
from facemap_gui.core.progress import REFRESH_S, ProgressLine, time_left
from facemap_gui.models.download import Progress


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
def clock(monkeypatch):
    """A clock the test moves: what is drawn does not depend on how fast the machine is."""
    clock = SimpleNamespace(now=100.0)
    monkeypatch.setattr(progress_module, "time", SimpleNamespace(monotonic=lambda: clock.now))
    return clock


def test_on_a_terminal_the_line_is_redrawn_in_place_at_most_every_refresh(clock):
    terminal = Terminal()
    line = ProgressLine(terminal)
    line.show("frame 1")  # the first at once
    clock.now += REFRESH_S / 2
    line.show("frame 2")  # too soon: skipped
    line.show("retrying", at_once=True)
    clock.now += REFRESH_S
    line.show("frame 4")
    line.show("x" * 200)  # too soon again
    clock.now += REFRESH_S
    line.show("x" * 200)  # cut to the width (80 columns when the stream does not say), so \r can rewrite it
    line.keep("done: 4 frames")
    line.show("next")  # after a kept line the next one is drawn at once
    line.clear()
    assert terminal.getvalue() == (
        "\r\033[Kframe 1\r\033[Kretrying\r\033[Kframe 4\r\033[K" + "x" * 79 + "\r\033[Kdone: 4 frames\n"
        "\r\033[Knext\r\033[K"
    )


def test_off_a_terminal_only_kept_lines_are_written(clock):
    log = io.StringIO()  # stderr going to a file or a pipe
    line = ProgressLine(log)
    for frame in range(100):
        clock.now += REFRESH_S
        line.show(f"frame {frame}", at_once=True)
    assert not line.due()
    line.keep("done: 100 frames")
    line.clear()
    assert log.getvalue() == "done: 100 frames\n"


def test_no_stderr_at_all_writes_nothing(monkeypatch):
    monkeypatch.setattr("sys.stderr", None)  # a windowed app started without a console
    line = ProgressLine()
    line.show("frame 1", at_once=True)
    line.keep("done")
    assert not line.live


def test_time_left_in_minutes_and_seconds():
    assert [time_left(s) for s in (0, 5.4, 65, 3600, -3)] == [
        "0:00 left",
        "0:05 left",
        "1:05 left",
        "60:00 left",
        "0:00 left",
    ]


def test_the_download_bar_shows_bytes_at_the_refresh_pace_and_notes_and_completions_at_once(clock):
    terminal = Terminal()
    bar = ProgressBar(terminal)
    bar(Progress("a.onnx", 0, 1000, 0.0, note="connecting (attempt 1 of 5)"))
    bar(Progress("a.onnx", 100, 1000, 100.0))  # 0.1 s later, as the downloader reports: not drawn yet
    bar(Progress("a.onnx", 200, 1000, 100.0, note="retrying (attempt 2 of 5)"))
    clock.now += REFRESH_S
    bar(Progress("a.onnx", 500, 1000, 100.0))
    bar(Progress("a.onnx", 1000, 1000, 100.0, finished=True))
    drawn = terminal.getvalue().split("\r\033[K")[1:]
    assert drawn == [
        "a.onnx  [........................]   0%  connecting (attempt 1 of 5)",
        "a.onnx  [#####...................]  20%  retrying (attempt 2 of 5)",
        "a.onnx  [############............]  50%  500 B / 1.0 kB, 100 B/s, 0:05 left",
        "a.onnx  [########################] 100%  1.0 kB / 1.0 kB, 100 B/s\n",
    ]


def test_the_download_bar_off_a_terminal_prints_each_file_once_complete(clock):
    log = io.StringIO()
    bar = ProgressBar(log)
    for done in range(0, 1001, 100):
        clock.now += REFRESH_S
        bar(Progress("a.onnx", done, 1000, 100.0, finished=done == 1000))
    assert log.getvalue() == "a.onnx  [########################] 100%  1.0 kB / 1.0 kB, 100 B/s\n"
