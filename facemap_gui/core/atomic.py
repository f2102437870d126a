"""Whole-file writes that never leave a half-written file under the real name (written beside, then renamed).

Every writer of a finished file goes through `replacing`, so each gets the same rules: a symlink is followed
(the link stays a link), a destination that is not a regular file (a FIFO, /dev/null, /dev/stdout) is written
through instead of being replaced by a file, and a failure leaves the old file as it was."""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from pathlib import Path

log = logging.getLogger(__name__)


def is_special(path: Path) -> bool:
    """True when `path` exists and is not a regular file (a device, a FIFO, a socket, a folder)."""
    return path.exists() and not path.is_file()


@contextlib.contextmanager
def replacing(path: Path, *, keep_partial: bool = False) -> Iterator[Path]:
    """Yield a hidden part file beside `path` to write; when the block completes, rename it over `path`.

    On an exception the part file is removed, or with `keep_partial` kept: under `path` itself when there was
    no file there to lose, else beside it as `NAME.partial` (said in a warning). A block that leaves no part
    file changes nothing. A non-regular `path` is yielded as it is (written through, nothing renamed)."""
    target = path.resolve() if path.is_symlink() else path
    if is_special(target):
        yield target
        return
    part = target.with_name(f".{target.name}.{os.getpid()}.part")
    try:
        yield part
    except BaseException:
        if keep_partial and part.is_file():
            kept = target.with_name(f"{target.name}.partial") if target.exists() else target
            os.replace(part, kept)
            if kept != target:
                log.warning("%s: left as it was; the partial output of this run is in %s", path, kept)
        else:
            with contextlib.suppress(OSError):  # the folder may not even exist
                part.unlink(missing_ok=True)
        raise
    if not part.exists():  # the writer declined to write (ONNX Runtime may): nothing changes
        return
    try:
        os.replace(part, target)
    except BaseException:
        part.unlink(missing_ok=True)
        raise


def write_atomic(path: Path, data: bytes | str) -> None:
    """Write `data` (str as UTF-8) to `path` through `replacing`."""
    with replacing(path) as part:
        part.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
