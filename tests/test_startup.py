"""Start-up: what the way to a first frame imports (no onnx, no pyplot), and the launch clock `-v` reports
the first frame against."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time

from facemap_gui.core import store


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
        from facemap_gui.perframe.detection import MediaPipeFaceDetector
        MediaPipeFaceDetector(Path({str(store.bundled_detector_path("full"))!r})).close()
        print("onnx" in sys.modules, type(sys.modules["matplotlib.pyplot"]).__name__)
        import matplotlib.pyplot as plt  # whoever uses it gets the real module
        print(callable(plt.figure), type(sys.modules["matplotlib.pyplot"]).__name__)
        """
    )
    assert out.splitlines() == ["False _ImportedOnFirstUse", "True module"]


def test_the_launch_clock_counts_from_the_process_start():
    spawned = time.monotonic()
    first_line, launch = map(
        float,
        run_child(
            """
            import time
            first_line = time.monotonic()
            from facemap_gui.core.timing import seconds_since_launch
            print(first_line, time.monotonic() - seconds_since_launch())
            """
        ).split(),
    )
    # The launch instant it implies lies between the spawn and the child's first line, so the interpreter's
    # start-up counts (an ordering of instants on one clock; the start tick is in hundredths of a second).
    assert spawned - 0.02 <= launch <= first_line
