"""What every sender reports: packets a second, the last problem and what it waits for the user to do, each told
once in the log."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator

log = logging.getLogger("facemap_gui.sinks.streaming")
ERROR_SHOWN_S = 2.0  # an error stays in the status this long after it last happened


class SenderStatus:
    def __init__(self, name: str) -> None:
        self.name = name
        self._closed = False
        self._error: str | None = None
        self._error_at = 0.0
        self._reported: str | None = None
        self._waiting: str | None = None
        self._sent, self._since, self._rate = 0, time.monotonic(), 0.0

    def _count_sent(self) -> None:
        self._sent += 1
        now = time.monotonic()
        if now - self._since >= 1.0:
            self._sent, self._since, self._rate = 0, now, self._sent / (now - self._since)

    @property
    def error(self) -> str | None:
        """The last problem, while it keeps happening."""
        return self._error if time.monotonic() - self._error_at < ERROR_SHOWN_S else None

    @property
    def waiting(self) -> str | None:
        """What the user must do before anything is sent (answer a prompt), while the sender waits for it."""
        return self._waiting

    @contextlib.contextmanager
    def _waiting_for_user(self, action: str) -> Iterator[None]:
        """Waiting for the user to `action`: not a problem, so not an error, but told, as nothing flows till then.
        Any earlier problem is over (the sender got as far as asking): the next one is news, told again."""
        self._waiting, self._error, self._reported = action, None, None
        log.warning("%s: waiting for you to %s", self.name, action)
        try:
            yield
        finally:
            self._waiting = None

    def packets_per_s(self) -> float:
        return self._rate if time.monotonic() - self._since < 2.0 else 0.0

    def _report(self, problem: str) -> None:
        if self._closed:  # a send racing with close() from another thread: nothing to tell
            return
        self._error, self._error_at = problem, time.monotonic()
        if problem != self._reported:  # once, not once a frame
            self._reported = problem
            log.warning("%s: %s; the tracking goes on", self.name, problem)
