"""Unpacks a model zip without trusting it: no path escapes, no links, bounded size."""

from __future__ import annotations

import re
import shutil
import stat
import zipfile
import zlib
from pathlib import Path, PurePosixPath

from facemap_gui.errors import ModelError

# The real float model is ~21 MB; anything near this limit is not a facemap_3dmm download.
MAX_UNPACKED_BYTES = 512 * 2**20
# Model weights barely compress (~1.1:1); a member that shrank this much is padding, i.e. a zip bomb.
MAX_RATIO = 100
RATIO_MIN_BYTES = 2**20  # small members (text files) may compress well without harm
_DRIVE = re.compile(r"^[A-Za-z]:")


def _member_path(info: zipfile.ZipInfo, archive: Path) -> PurePosixPath:
    """The member's relative path, or ModelError if it could land outside the destination."""
    name = info.filename.replace("\\", "/")  # zips made on Windows may use either separator
    path = PurePosixPath(name)
    if not path.parts and not info.is_dir():
        raise ModelError(f"{archive}: refusing to unpack, member {info.filename!r} has no name")
    if name.startswith("/") or _DRIVE.match(name):
        raise ModelError(f"{archive}: refusing to unpack, member {info.filename!r} has an absolute path")
    if ".." in path.parts:
        raise ModelError(f"{archive}: refusing to unpack, member {info.filename!r} points outside the folder")
    if stat.S_ISLNK(info.external_attr >> 16):
        raise ModelError(f"{archive}: refusing to unpack, member {info.filename!r} is a symbolic link")
    return path


def unpack_zip(archive: Path, destination: Path, max_bytes: int = MAX_UNPACKED_BYTES) -> list[Path]:
    """Check every member first, then extract the regular files under `destination`; returns their paths.

    Sizes are checked from the zip's directory before anything is written. zipfile never yields more bytes
    than a member declares and checks its CRC, so a member that lies about its size fails instead of
    filling the disk."""
    try:
        with zipfile.ZipFile(archive) as zf:
            infos = zf.infolist()
            members = [(info, _member_path(info, archive)) for info in infos]
            total = sum(info.file_size for info in infos)
            if total > max_bytes:
                raise ModelError(
                    f"{archive}: refusing to unpack, it expands to {total / 2**20:.0f} MB "
                    f"(limit {max_bytes / 2**20:.0f} MB): not a model download"
                )
            for info in infos:
                ratio = info.file_size / max(info.compress_size, 1)
                if info.file_size >= RATIO_MIN_BYTES and ratio > MAX_RATIO:
                    raise ModelError(
                        f"{archive}: refusing to unpack, {info.filename!r} is compressed {ratio:.0f}:1 (a zip bomb?)"
                    )
            written = []
            for info, relative in members:
                target = destination.joinpath(*relative.parts)
                if info.is_dir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(info) as src, open(target, "wb") as dst:
                    shutil.copyfileobj(src, dst, 1 << 20)
                written.append(target)
            return written
    # RuntimeError: an encrypted member; zlib.error: corrupt compressed data; ValueError: garbled header fields.
    except (
        zipfile.BadZipFile,
        zipfile.LargeZipFile,
        NotImplementedError,
        EOFError,
        RuntimeError,
        zlib.error,
        ValueError,
    ) as exc:
        raise ModelError(f"{archive}: damaged or unsupported zip ({exc}); download it again") from exc
    except OSError as exc:
        raise ModelError(f"{archive}: could not unpack into {destination} ({exc})") from exc
