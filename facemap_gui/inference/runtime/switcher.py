"""Live runtime/precision switching: a new session is built off to the side and swapped in between frames."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

from facemap_gui.core.errors import FacemapError
from facemap_gui.inference.runtime.session import LandmarkSession

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SwitchOutcome:
    """The end of one switch request: a new session to swap in, or a one-line error (the old one stays)."""

    runtime: str
    precision: str
    session: LandmarkSession | None = None
    error: str | None = None


class SessionSwitcher:
    """Builds sessions on a background thread; the worker calls `poll()` between frames to pick them up.

    A request made while a build runs is remembered and built next; older pending requests are dropped,
    so the newest choice always wins and a build never runs twice at once.
    """

    def __init__(self, open_session: Callable[[str, str], LandmarkSession]) -> None:
        self._open_session = open_session
        self._lock = threading.Lock()
        self._pending: tuple[str, str] | None = None
        self._thread: threading.Thread | None = None
        self._outcome: SwitchOutcome | None = None

    @property
    def busy(self) -> bool:
        with self._lock:
            return self._thread is not None or self._pending is not None

    def request(self, runtime: str, precision: str) -> None:
        with self._lock:
            self._pending = (runtime, precision)
            if self._thread is None:
                self._start_locked()

    def _start_locked(self) -> None:
        assert self._pending is not None
        runtime, precision = self._pending
        self._pending = None
        self._thread = threading.Thread(
            target=self._build, args=(runtime, precision), name="session-build", daemon=True
        )
        self._thread.start()

    def _build(self, runtime: str, precision: str) -> None:
        try:
            outcome = SwitchOutcome(runtime, precision, session=self._open_session(runtime, precision))
        except FacemapError as exc:
            outcome = SwitchOutcome(runtime, precision, error=str(exc))
        except Exception as exc:  # a bug must not kill the app: report it like any failed switch
            log.exception("building a %s/%s session failed", runtime, precision)
            outcome = SwitchOutcome(runtime, precision, error=f"{type(exc).__name__}: {exc}")
        with self._lock:
            self._thread = None
            if self._pending is not None:
                # A newer request arrived meanwhile: this result is already stale.
                self._start_locked()
            else:
                self._outcome = outcome

    def poll(self) -> SwitchOutcome | None:
        """Non-blocking: the finished switch, once, or None."""
        with self._lock:
            outcome, self._outcome = self._outcome, None
            return outcome

    def wait(self, timeout: float | None = None) -> None:
        """Block until no build is running or pending (tests and shutdown)."""
        while True:
            with self._lock:
                thread = self._thread
            if thread is None:
                return
            thread.join(timeout)
            if timeout is not None and thread.is_alive():
                return
