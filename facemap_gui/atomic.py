"""Whole-file writes that never leave a half-written file under the real name (written beside, then renamed)."""

from __future__ import annotations

import os
from pathlib import Path


def write_atomic(path: Path, data: bytes | str) -> None:
    """Write `data` (str as UTF-8) to `.NAME.part` beside `path`, then rename it over `path`. On failure the
    part file is removed and the exception propagates; an existing `path` is left as it was."""
    part = path.with_name(f".{path.name}.part")
    try:
        part.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
        os.replace(part, path)
    except BaseException:
        part.unlink(missing_ok=True)
        raise
