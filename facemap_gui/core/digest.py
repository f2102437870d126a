"""A file's SHA-256, the one digest the app records and compares (downloads, installs, the compiled-model cache,
stand-in manifests)."""

from __future__ import annotations

import hashlib
from pathlib import Path


def file_sha256(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()
