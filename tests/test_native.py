"""Native chatter capture (native.py): what C code writes to the descriptors is logged, never shown, even when
threads capture at overlapping times (a window's detector set-up beside its inference thread)."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading

import numpy as np

from facemap_gui.core.native import captured_native_output
from facemap_gui.core.store import bundled_detector_path
from facemap_gui.perframe.detection.mediapipe_blazeface import MediaPipeFaceDetector
from facemap_gui.sources.base import Frame


def test_overlapping_captures_from_two_threads_keep_everything_off_the_descriptor(capfd, caplog):
    caplog.set_level(logging.DEBUG, logger="facemap_gui.core.native")
    first_in, second_in, first_out = threading.Event(), threading.Event(), threading.Event()

    def first() -> None:
        with captured_native_output():
            first_in.set()
            second_in.wait()
            os.write(2, b"first\n")
        first_out.set()

    def second() -> None:
        first_in.wait()
        with captured_native_output():
            second_in.set()
            first_out.wait()  # the first capture has ended while this one still runs
            os.write(2, b"second, after the first ended\n")

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    os.write(2, b"not captured\n")
    # The descriptor is back where it pointed before. (An earlier in-process `main()` may have left the app's log
    # handler on stderr: its "facemap-gui: ..." lines are the log below, not the raw text.)
    raw = [line for line in capfd.readouterr().err.splitlines() if not line.startswith("facemap-gui: ")]
    assert raw == ["not captured"]
    logged = [r.getMessage() for r in caplog.records]
    assert logged == ["native: first", "native: second, after the first ended"]


def test_what_litert_prints_on_a_frame_is_logged_not_shown(capfd, caplog):
    """LiteRT warns on whichever call first meets a misaligned buffer of its own (chance, once a process): every
    detection call is captured, so that line never reaches the terminal."""
    caplog.set_level(logging.DEBUG, logger="facemap_gui.core.native")
    warning = b"W0000 inference_runner_litert.cc:1433] Input tensor memory is not aligned\n"

    class Chatty:
        def __init__(self, detector: object) -> None:
            self.detector = detector

        def detect_for_video(self, image: object, timestamp_ms: int) -> object:
            os.write(2, warning)
            return self.detector.detect_for_video(image, timestamp_ms)

        def close(self) -> None:
            self.detector.close()

    with MediaPipeFaceDetector(bundled_detector_path("full"), video=True) as detector:
        detector._detector = Chatty(detector._detector)
        found = detector.detect(Frame(index=0, timestamp_ms=0.0, rgb=np.zeros((120, 160, 3), np.uint8)))
    assert found == []
    # (An earlier in-process `main()` may have left the app's log handler on stderr: its "facemap-gui: ..." lines
    # are the debug log, not the raw text.)
    raw = [line for line in capfd.readouterr().err.splitlines() if not line.startswith("facemap-gui: ")]
    assert not [line for line in raw if "not aligned" in line]
    # (LiteRT's own lines, set-up, a real re-alignment note, closing, are logged alongside.)
    assert "native: " + warning.decode().strip() in [r.getMessage() for r in caplog.records]


def test_a_capture_on_one_thread_never_swallows_a_line_the_program_prints():
    """As the program, Python's stderr writes through its own descriptor: a native capture (fd 2) running at
    the same moment on the detector's thread takes the native line only."""
    script = (
        "import os, sys\n"
        "from facemap_gui.core.native import captured_native_output, python_stderr_apart\n"
        "with python_stderr_apart():\n"
        "    with captured_native_output(fds=(2,)):\n"
        "        print('facemap-gui: error: the app line', file=sys.stderr)\n"
        "        os.write(2, b'native chatter\\n')\n"
        "print('after', file=sys.stderr)\n"
    )
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert run.stderr.splitlines() == ["facemap-gui: error: the app line", "after"]
