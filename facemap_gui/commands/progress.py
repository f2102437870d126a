"""Progress of a long `process` run on stderr, only when stderr is a terminal: one line rewritten in place
(frames, fps, time left), then a one-line summary. Scripts reading stderr get nothing extra."""

from __future__ import annotations

import sys
import time
from typing import IO

REFRESH_S = 0.5


class TerminalProgress:
    def __init__(self, total: int | None, stream: IO[str] | None = None) -> None:
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty()
        self.total = total or None
        self._started = time.monotonic()
        self._shown_at: float | None = None

    def update(self, frames: int) -> None:
        """Called after every frame; redraws at most every REFRESH_S (and on the first frame)."""
        now = time.monotonic()
        if not self.enabled or (self._shown_at is not None and now - self._shown_at < REFRESH_S):
            return
        self._shown_at = now
        fps = frames / max(now - self._started, 1e-9)
        line = f"frame {frames}" + (f"/{self.total}" if self.total else "") + f" · {fps:.1f} fps"
        if self.total and fps > 0:
            minutes, seconds = divmod(round(max(self.total - frames, 0) / fps), 60)
            line += f" · {minutes}:{seconds:02d} left"
        self.stream.write(f"\r\033[K{line}")
        self.stream.flush()

    def finish(self, frames: int, frames_with_face: int, note: str = "") -> None:
        if not self.enabled:
            return
        elapsed = max(time.monotonic() - self._started, 1e-9)
        self.stream.write(
            f"\r\033[Kprocess: {frames} frames in {elapsed:.1f} s ({frames / elapsed:.1f} fps), "
            f"a face on {frames_with_face}{note}\n"
        )
        self.stream.flush()
