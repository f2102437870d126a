"""Progress of a long `process` run on stderr, only when stderr is a terminal: one line rewritten in place
(frames, fps, time left), then a one-line summary. Scripts reading stderr get nothing extra."""

from __future__ import annotations

import time
from typing import IO

from facemap_gui.core.progress import ProgressLine, time_left


class TerminalProgress:
    def __init__(self, total: int | None, stream: IO[str] | None = None) -> None:
        self.line = ProgressLine(stream)
        self.total = total or None
        self._started = time.monotonic()

    def update(self, frames: int) -> None:
        """Called after every frame; shown on the first, then at most every REFRESH_S."""
        if not self.line.due():
            return
        fps = frames / max(time.monotonic() - self._started, 1e-9)
        text = f"frame {frames}" + (f"/{self.total}" if self.total else "") + f" · {fps:.1f} fps"
        if self.total and fps > 0:
            text += f" · {time_left((self.total - frames) / fps)}"
        self.line.show(text)

    def finish(self, frames: int, frames_with_face: int, note: str = "") -> None:
        if not self.line.live:
            return
        elapsed = max(time.monotonic() - self._started, 1e-9)
        self.line.keep(
            f"process: {frames} frames in {elapsed:.1f} s ({frames / elapsed:.1f} fps), a face on {frames_with_face}"
            f"{note}"
        )
