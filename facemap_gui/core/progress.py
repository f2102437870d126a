"""The one progress line of the terminal commands (`process`, a batch, `models download`) on stderr."""

from __future__ import annotations

import os
import sys
import time
from typing import IO

REFRESH_S = 0.5  # often enough to see it move, seldom enough to cost nothing


def time_left(seconds: float) -> str:
    """e.g. `1:05 left`"""
    minutes, rest = divmod(round(max(seconds, 0.0)), 60)
    return f"{minutes}:{rest:02d} left"


class ProgressLine:
    """One line rewritten in place on a terminal, at most every REFRESH_S and cut to the terminal's width (a
    wrapped line could not be rewritten). On a stream that is not a terminal only `keep` writes: scripts and logs
    reading stderr get no carriage returns and no line a frame."""

    def __init__(self, stream: IO[str] | None = None) -> None:
        self.stream = stream or sys.stderr  # None in a windowed app without a console
        self.live = self.stream is not None and self.stream.isatty()
        self._shown_at: float | None = None

    def due(self) -> bool:
        """Whether `show` draws now: on a terminal, the first line, then once REFRESH_S has passed."""
        return self.live and (self._shown_at is None or time.monotonic() - self._shown_at >= REFRESH_S)

    def show(self, line: str, at_once: bool = False) -> None:
        """Redraws the line when it is `due`, or at once on a terminal (a line that must not wait, such as why a
        download is retried)."""
        if not (self.due() or (at_once and self.live)):
            return
        self._shown_at = time.monotonic()
        self._write(f"\r\033[K{line[: self._columns() - 1]}")

    def keep(self, line: str) -> None:
        """`line` for good, on its own line (in place of the progress line on a terminal); the next `show` draws at
        once."""
        self._write(f"\r\033[K{line}\n" if self.live else f"{line}\n")
        self._shown_at = None

    def clear(self) -> None:
        if self.live:
            self._write("\r\033[K")

    def _columns(self) -> int:
        """The terminal's width (stderr's own: stdout may go to a file), 80 when it does not say."""
        try:
            return os.get_terminal_size(self.stream.fileno()).columns or 80
        except (AttributeError, OSError, ValueError):
            return 80

    def _write(self, text: str) -> None:
        if self.stream is None:
            return
        self.stream.write(text)
        self.stream.flush()
