"""Keeps chatter that native libraries (LiteRT, QNN) print from C off the user's terminal.

Their lines are captured and logged at debug level (`facemap-gui -vv` shows them), so errors the app
reports stay one line.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import tempfile
from collections.abc import Iterator

log = logging.getLogger("facemap_gui.native")


@contextlib.contextmanager
def captured_native_output(fds: tuple[int, ...] = (1, 2)) -> Iterator[None]:
    """Point the given file descriptors at a temporary file for the duration, then log what arrived."""
    for stream in (sys.stdout, sys.stderr):
        if stream is not None:  # None when the program was started with it closed
            stream.flush()
    with tempfile.TemporaryFile() as sink:
        saved = {fd: os.dup(fd) for fd in fds}
        try:
            for fd in fds:
                os.dup2(sink.fileno(), fd)
            yield
        finally:
            for fd, copy in saved.items():
                os.dup2(copy, fd)
                os.close(copy)
            sink.seek(0)
            for line in sink.read().decode(errors="replace").splitlines():
                log.debug("native: %s", line)
