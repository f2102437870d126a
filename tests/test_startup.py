"""Start-up: what the way to a first frame imports (no onnx, no pyplot), and the launch clock `-v` reports
the first frame against."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time

from facemap_gui import store


def run_child(code: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=120, check=True
    )
    return done.stdout.strip()


def test_the_way_to_a_frame_imports_neither_onnx_nor_pyplot_and_pyplot_still_works_after():
    out = run_child(
        f"""
        import sys
        from pathlib import Path
        import facemap_gui.commands.process, facemap_gui.gui.app, facemap_gui.gui.window, facemap_gui.live.worker
        from facemap_gui.detection import MediaPipeFaceDetector
        MediaPipeFaceDetector(Path({str(store.bundled_detector_path("full"))!r})).close()
        print("onnx" in sys.modules, type(sys.modules["matplotlib.pyplot"]).__name__)
        import matplotlib.pyplot as plt  # whoever uses it gets the real module
        print(callable(plt.figure), type(sys.modules["matplotlib.pyplot"]).__name__)
        """
    )
    assert out.splitlines() == ["False _ImportedOnFirstUse", "True module"]


def test_the_launch_clock_counts_from_the_process_start():
    start = time.monotonic()
    reported = float(
        run_child("import time; time.sleep(0.3); from facemap_gui.timing import seconds_since_launch as s; print(s())")
    )
    wall = time.monotonic() - start
    assert 0.3 <= reported <= wall + 0.02  # the start tick is in hundredths of a second
