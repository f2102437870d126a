"""The window over hundreds of frames and hundreds of switches: nothing a C extension holds may pile up or drain.

PySide6-Essentials 6.12.0 on CPython 3.11 dropped a reference to None on every Qt call returning nothing, and the
window aborted with "none_dealloc" after minutes (issue 26); the guard below drives the real window, since the bug
lives in its Qt calls. The long run on a real X server is in test_gui_xvfb.py."""

from __future__ import annotations

import sys

from tests.test_gui import WAIT_MS

NONE_FRAMES = 300
NONE_LOSS_PER_FRAME = 2.0  # a sound binding loses none; the known bug loses several a frame (repaint, HUD, labels)


def test_the_window_does_not_drain_references_to_none(qtbot, open_window):
    """On CPython < 3.12 (from 3.12 on None's count is fixed and this reads 0)."""
    window = open_window("demo")

    def at(frames: int) -> tuple[int, int]:
        qtbot.waitUntil(lambda: window.latest is not None and window.latest.processed >= frames, timeout=WAIT_MS * 3)
        return window.latest.processed, sys.getrefcount(None)

    first_frame, first_count = at(30)  # models loaded, the HUD filled once
    last_frame, last_count = at(30 + NONE_FRAMES)
    lost = (first_count - last_count) / (last_frame - first_frame)
    print(f"None's count {first_count} at frame {first_frame}, {last_count} at {last_frame}: {lost:.2f} lost a frame")
    assert lost < NONE_LOSS_PER_FRAME, f"the window loses {lost:.2f} references to None a frame"


SWITCHES = 200
WARM_SWITCHES = 20  # sessions, allocator arenas and Qt's caches settle over the first switches


def test_two_hundred_switches_leave_memory_threads_files_and_sessions_flat(qtbot, open_window, tiny_w8a8, fake_sources):
    """Precision switched 200 times in one window (each switch a new ONNX Runtime session), with a runtime that
    cannot run here asked for every tenth time: nothing a switch creates may outlive the next one."""
    import gc

    import onnxruntime as ort
    import psutil

    window = open_window("fakecam:0", model=tiny_w8a8)
    process = psutil.Process()

    def switch(number: int) -> None:
        precision = ("w8a8", "float")[number % 2]
        window.choice.precision_actions[precision].trigger()
        qtbot.waitUntil(
            lambda: window.latest is not None and window.latest.runtime.precision == precision, timeout=WAIT_MS
        )
        if number % 10 == 0:
            window.choice.runtime_actions["gpu"].trigger()  # unavailable here: said why, the CPU session kept
            assert window.choice.runtime_actions["cpu"].isChecked()

    def sample() -> tuple[float, int, int, int]:
        gc.collect()
        sessions = sum(isinstance(o, ort.InferenceSession) for o in gc.get_objects())
        return process.memory_info().rss / 1e6, process.num_threads(), process.num_fds(), sessions

    for number in range(WARM_SWITCHES):
        switch(number)
    before = sample()
    for number in range(WARM_SWITCHES, SWITCHES):
        switch(number)
    after = sample()
    print(
        f"{SWITCHES} switches: RSS {before[0]:.0f} -> {after[0]:.0f} MB, threads {before[1]} -> {after[1]}, "
        f"open files {before[2]} -> {after[2]}, ONNX Runtime sessions alive {before[3]} -> {after[3]}"
    )
    assert after[0] - before[0] < 30  # a leaked session of even the tiny model is ~2 MB: 180 of them show
    # A leak grows with the switches (180 between the samples); a pool thread Qt or ONNX Runtime starts once does not.
    assert after[1] <= before[1] + 2 and after[2] <= before[2] + 2 and after[3] <= before[3]
