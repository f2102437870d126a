"""Unpacks a model zip without trusting it: no path escapes, no links, bounded size."""

from __future__ import annotations

import bz2
import lzma
import re
import stat
import struct
import sys
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import BinaryIO, Protocol

from facemap_gui.core.errors import ModelError

# The real float model is ~21 MB; anything near this limit is not a facemap_3dmm download.
MAX_UNPACKED_BYTES = 512 * 2**20
# Model weights barely compress (~1.1:1); a member that shrank this much is padding, i.e. a zip bomb.
MAX_RATIO = 100
RATIO_MIN_BYTES = 2**20  # small members (text files) may compress well without harm
_DRIVE = re.compile(r"^[A-Za-z]:")
_CHUNK = 256 * 1024  # compressed bytes read, and decompressed bytes made, at a time
# LZMA's largest preset dictionary (-9): the decoder allocates what a member declares before decoding a byte.
MAX_LZMA_DICTIONARY = 64 * 2**20


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


class _Decompressor(Protocol):
    """What the bz2 and lzma decompressors share: at most `max_length` bytes out a call, whatever the input."""

    @property
    def eof(self) -> bool: ...
    @property
    def needs_input(self) -> bool: ...

    def decompress(self, data: bytes, max_length: int = -1) -> bytes: ...


class _Inflate:
    """Raw deflate with the bz2/lzma interface (zlib keeps the input it has not used in a tail instead)."""

    def __init__(self) -> None:
        self._z = zlib.decompressobj(-zlib.MAX_WBITS)

    eof = property(lambda self: self._z.eof)
    needs_input = property(lambda self: not self._z.unconsumed_tail)

    def decompress(self, data: bytes, max_length: int = -1) -> bytes:
        return self._z.decompress(self._z.unconsumed_tail + data, max_length)


class _Stored:
    eof, needs_input = False, True

    def decompress(self, data: bytes, max_length: int = -1) -> bytes:
        return data


_METHODS: dict[int, type[_Decompressor]] = {
    zipfile.ZIP_STORED: _Stored,
    zipfile.ZIP_DEFLATED: _Inflate,
    zipfile.ZIP_BZIP2: bz2.BZ2Decompressor,
}
if sys.version_info >= (3, 14):  # zipfile.ZIP_ZSTANDARD
    from compression import zstd

    _METHODS[zipfile.ZIP_ZSTANDARD] = zstd.ZstdDecompressor


def _lzma(props: bytes, archive: Path, name: str) -> lzma.LZMADecompressor:
    """LZMA1 from its 5 property bytes (lc/lp/pb packed in one, then the dictionary size), its dictionary bounded."""
    if len(props) != 5 or props[0] >= 9 * 5 * 5:
        raise zipfile.BadZipFile(f"member {name!r} has no valid LZMA properties")
    dict_size = int.from_bytes(props[1:], "little")
    if dict_size > MAX_LZMA_DICTIONARY:
        raise ModelError(
            f"{archive}: refusing to unpack, member {name!r} declares an LZMA dictionary of "
            f"{dict_size / 2**20:.0f} MB (limit {MAX_LZMA_DICTIONARY / 2**20:.0f} MB): not a model download"
        )
    lc, lp, pb = props[0] % 9, props[0] // 9 % 5, props[0] // 45
    lzma1 = {"id": lzma.FILTER_LZMA1, "dict_size": dict_size, "lc": lc, "lp": lp, "pb": pb}
    return lzma.LZMADecompressor(lzma.FORMAT_RAW, filters=[lzma1])


def _open_member(file: BinaryIO, info: zipfile.ZipInfo, archive: Path) -> tuple[_Decompressor, int]:
    """Seek to the member's data (after its local header: 30 bytes, its name and extra field); returns its
    decompressor and how many compressed bytes follow."""
    file.seek(info.header_offset)
    header = file.read(30)
    if len(header) != 30 or header[:4] != b"PK\x03\x04":
        raise zipfile.BadZipFile(f"bad local header of {info.filename!r}")
    name_length, extra_length = struct.unpack("<HH", header[26:30])
    file.seek(info.header_offset + 30 + name_length + extra_length)
    if info.compress_type == zipfile.ZIP_LZMA:  # zipfile's LZMA: version (2 bytes), size of the properties (2)
        (size,) = struct.unpack("<H", file.read(4)[2:].rjust(2, b"\0"))
        return _lzma(file.read(size), archive, info.filename), info.compress_size - 4 - size
    if info.compress_type not in _METHODS:
        raise NotImplementedError(f"compression method {info.compress_type} of {info.filename!r}")
    return _METHODS[info.compress_type](), info.compress_size


def _member_bytes(file: BinaryIO, info: zipfile.ZipInfo, archive: Path) -> Iterator[bytes]:
    """The member's bytes, decompressed a bounded chunk at a time and never past the size its header declares
    (zipfile's own reader decompresses a bzip2 or LZMA block whole: a kilobyte can become gigabytes)."""
    decompressor, left = _open_member(file, info, archive)
    made, crc = 0, 0
    while not decompressor.eof:
        data = b""
        if decompressor.needs_input:
            if left <= 0:
                break
            data = file.read(min(left, _CHUNK))
            if not data:
                raise EOFError(f"{info.filename!r} is cut short")
            left -= len(data)
        try:
            out = decompressor.decompress(data, _CHUNK)
        except OSError as exc:  # bz2's word for corrupt data
            raise zipfile.BadZipFile(f"{info.filename!r}: {exc}") from exc
        made += len(out)
        if made > info.file_size:
            raise ModelError(
                f"{archive}: refusing to unpack, member {info.filename!r} holds more than the "
                f"{info.file_size} bytes it declares (a zip bomb?)"
            )
        crc = zlib.crc32(out, crc)
        yield out
    if made != info.file_size or crc != info.CRC:
        raise zipfile.BadZipFile(f"{info.filename!r} does not match its size or CRC")


def unpack_zip(archive: Path, destination: Path, max_bytes: int = MAX_UNPACKED_BYTES) -> list[Path]:
    """Check every member first, then extract the regular files under `destination`; returns their paths.

    Sizes are checked from the zip's directory before anything is written, and bound what is decompressed:
    a member that holds more than it declares is refused after at most one chunk past it, so neither memory
    nor the disk fills."""
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
            with open(archive, "rb") as src:
                for info, relative in members:
                    target = destination.joinpath(*relative.parts)
                    if info.is_dir():
                        target.mkdir(parents=True, exist_ok=True)
                        continue
                    if info.flag_bits & 1:
                        raise NotImplementedError(f"{info.filename!r} is encrypted")
                    target.parent.mkdir(parents=True, exist_ok=True)
                    with open(target, "wb") as dst:
                        for chunk in _member_bytes(src, info, archive):
                            dst.write(chunk)
                    written.append(target)
            return written
    # zlib.error, LZMAError: corrupt compressed data; ValueError: garbled header fields.
    except (
        zipfile.BadZipFile,
        zipfile.LargeZipFile,
        NotImplementedError,
        EOFError,
        zlib.error,
        lzma.LZMAError,
        ValueError,
    ) as exc:
        raise ModelError(f"{archive}: damaged or unsupported zip ({exc}); download it again") from exc
    except OSError as exc:
        raise ModelError(f"{archive}: could not unpack into {destination} ({exc})") from exc
