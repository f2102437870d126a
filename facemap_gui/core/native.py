"""Keeps chatter that native libraries (LiteRT, QNN) print from C off the user's terminal.

Their lines are captured and logged at debug level (`facemap-gui -vv` shows them), so errors the app
reports stay one line. While the program runs, Python's own stderr writes through a copy of the descriptor
(`python_stderr_apart`), so a capture on one thread never swallows a line the app prints on another.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO

log = logging.getLogger("facemap_gui.core.native")


@dataclass
class _Redirect:
    saved: int  # a copy of what the descriptor pointed at before, put back when the last user leaves
    sink: IO[bytes]
    users: int = 0


# A descriptor is process-wide: threads that open detectors at once (the window's worker, a switch, a
# batch) share one redirect, counted, instead of each saving the other's sink as "the original" and
# leaving stderr pointed at a closed file or the terminal in the middle of another's capture.
_lock = threading.Lock()
_redirects: dict[int, _Redirect] = {}


@contextlib.contextmanager
def captured_native_output(fds: tuple[int, ...] = (1, 2)) -> Iterator[None]:
    """Point the given file descriptors at a temporary file for the duration, then log what arrived.
    Safe from several threads at once: the first to enter redirects, the last to leave restores."""
    with _lock:
        for stream in (sys.stdout, sys.stderr):
            if _descriptor(stream) in fds:  # what Python holds for a captured descriptor goes out first
                stream.flush()
        for fd in fds:
            if fd not in _redirects:
                _redirects[fd] = _Redirect(os.dup(fd), tempfile.TemporaryFile())  # noqa: SIM115 - the last user closes it
                os.dup2(_redirects[fd].sink.fileno(), fd)
            _redirects[fd].users += 1
    try:
        yield
    finally:
        with _lock:
            for fd in fds:
                redirect = _redirects[fd]
                redirect.users -= 1
                if redirect.users:
                    continue
                del _redirects[fd]
                os.dup2(redirect.saved, fd)
                os.close(redirect.saved)
                with redirect.sink as sink:
                    sink.seek(0)
                    for line in sink.read().decode(errors="replace").splitlines():
                        log.debug("native: %s", line)


def _descriptor(stream: IO[str] | None) -> int | None:
    """The descriptor a Python stream writes to; None when it has none (closed at start, a test's capture)."""
    try:
        return stream.fileno() if stream is not None else None
    except (AttributeError, OSError, ValueError):  # io.UnsupportedOperation is an OSError and a ValueError
        return None


@contextlib.contextmanager
def python_stderr_apart() -> Iterator[None]:
    """For the duration, `sys.stderr` writes to a duplicate of descriptor 2 rather than to 2 itself, which
    captures redirect for native code only. A stderr that is not descriptor 2 (a test capturing it, no
    console) is left alone."""
    stream = sys.stderr
    if _descriptor(stream) != 2:
        yield
        return
    stream.flush()
    sys.stderr = open(  # noqa: SIM115 - closed below, after the caller's last line
        os.dup(2), "w", encoding=stream.encoding, errors=stream.errors, buffering=1
    )
    try:
        yield
    finally:
        sys.stderr.close()
        sys.stderr = stream
