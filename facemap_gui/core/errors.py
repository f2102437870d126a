"""User-facing errors: each carries one line that names the file or device and what to do."""

import errno
import logging


class FacemapError(Exception):
    """An error the user can act on; front ends show its message as one line, never a traceback."""


class InputError(FacemapError):
    """A source (image, video, camera) cannot be opened or read."""


class ModelError(FacemapError):
    """A model or basis file is missing, corrupt or of the wrong shape."""


class RuntimeUnavailable(FacemapError):
    """The requested runtime (NPU, GPU, CPU) cannot run here, or not fully."""


def reason(exc: BaseException) -> str:
    """The short human part of an OS or FFmpeg error ("No space left on device"), for one-line messages."""
    return getattr(exc, "strerror", None) or str(exc) or type(exc).__name__


def shown(name: object) -> str:
    """A file name (or any text) as one-line messages print it: control characters such as a newline in a file
    name are escaped (`a\\nb.mp4`), so the message stays one line and names the file exactly."""
    return "".join(c if c.isprintable() or c == " " else repr(c)[1:-1] for c in str(name))


class OneLineMessages(logging.Filter):
    """On a log handler: every message one line, its control characters escaped as `shown` does (a file name
    with a newline in a warning), whatever formatted it."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = shown(record.getMessage()), None
        return True


def write_fix(exc: BaseException) -> str:
    """What to do about a write that failed part-way through a run (a full disk, a file-size limit)."""
    if getattr(exc, "errno", None) in (errno.ENOSPC, errno.EFBIG, errno.EDQUOT):
        return "free disk space or write to another folder (frames before this are saved)"
    return "check the disk and the folder (frames before this are saved)"
