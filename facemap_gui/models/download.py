"""HTTPS downloads that resume (HTTP Range), time out, retry with backoff and check a checksum.

Qt-free: a front end follows a download through the `progress` callback and stops it with the `cancel`
event (the CLI draws a bar on stderr, the GUI a dialog). Bytes go to a hidden `.NAME.part` beside the
destination, which is renamed to its real name only when complete and matching its checksum; a cut or
cancelled download leaves only that `.part` file, which the next attempt resumes.
"""

from __future__ import annotations

import http.client
import logging
import math
import os
import re
import shutil
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from facemap_gui import __version__
from facemap_gui.errors import FacemapError
from facemap_gui.landmarks.model import file_sha256
from facemap_gui.models.catalogue import MIRROR_ENV

log = logging.getLogger(__name__)

# Plain http is refused except on the loopback interface, where nothing crosses a network: tests (and a
# local mirror) serve files from 127.0.0.1 without a certificate.
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
CHUNK_BYTES = 1 << 16
PROGRESS_INTERVAL_S = 0.1
MAX_BACKOFF_S = 30.0
RETRY_HTTP_CODES = frozenset({408, 429, 500, 502, 503, 504})
# A mirror that streams forever must not fill the disk: a file of unknown size stops here (the largest model
# this app installs is ~20 MB), a file of known size at that size. The free space is checked before writing.
MAX_UNKNOWN_BYTES = 1 << 30
SPARE_DISK_BYTES = 50 << 20
_CONTENT_RANGE = re.compile(r"bytes (\d+)-\d+/(\d+|\*)")


class DownloadError(FacemapError):
    """A file could not be fetched. The message adds how to install it without this machine's network;
    `reason` is the failure alone (for a front end that explains the offline way itself)."""

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"{url}: {reason}; {offline_hint(url)}")
        self.url = url
        self.reason = reason


class DownloadCancelled(FacemapError):
    """The user stopped the download; what arrived is kept for the next attempt to resume."""


class _Retry(Exception):
    """A failure worth another attempt (timeout, cut connection, server error)."""


@dataclass(frozen=True)
class Progress:
    filename: str
    done: int  # bytes on disk, including what an earlier attempt left
    total: int | None  # None when the server does not say
    rate: float  # bytes per second during this attempt
    finished: bool = False  # the last report for this file: all its bytes arrived
    note: str = ""  # about the attempt instead of bytes: "connecting (attempt 1 of 5)", or why it is retried

    @property
    def fraction(self) -> float | None:
        return min(self.done / self.total, 1.0) if self.total else None

    def describe(self) -> str:
        """e.g. `8.5 / 20.7 MB, 2.3 MB/s, 0:05 left`, or the note"""
        if self.note:
            return self.note
        size = f"{format_size(self.done)} / {format_size(self.total)}" if self.total else format_size(self.done)
        if self.finished or not self.total or self.rate <= 0:
            return f"{size}, {format_size(self.rate)}/s"
        minutes, seconds = divmod(round(max(self.total - self.done, 0) / self.rate), 60)
        return f"{size}, {format_size(self.rate)}/s, {minutes}:{seconds:02d} left"


def format_size(n: float) -> str:
    """Decimal units, as the model card gives sizes (20.7 MB)."""
    power = min(int(math.log10(max(n, 1)) // 3), 3)
    return f"{n:.0f} B" if power == 0 else f"{n / 1000**power:.1f} {('kB', 'MB', 'GB')[power - 1]}"


def offline_hint(url: str) -> str:
    filename = urlsplit(url).path.rsplit("/", 1)[-1]
    return (
        f"on a machine with internet access download {url} and install it here with "
        f"`facemap-gui models install {filename}`"
    )


def check_url(url: str) -> None:
    mirror = f" (check {MIRROR_ENV}={os.environ[MIRROR_ENV]})" if os.environ.get(MIRROR_ENV) else ""
    try:
        parts = urlsplit(url)
        _ = parts.port  # raises for a port out of range
    except ValueError as exc:  # also a bad IPv6 literal
        raise FacemapError(f"{url}: not a valid URL ({exc}){mirror}") from exc
    if not (parts.scheme == "https" or (parts.scheme == "http" and parts.hostname in LOOPBACK_HOSTS)):
        raise FacemapError(
            f"{url}: refusing to download over {parts.scheme or 'an unknown scheme'}; "
            f"only https is allowed (plain http only from this machine, 127.0.0.1){mirror}"
        )
    if not parts.hostname or any(c.isspace() for c in url):
        raise FacemapError(f"{url}: not a valid URL (no host name, or spaces in it){mirror}")


class _CheckedRedirects(urllib.request.HTTPRedirectHandler):
    """Follows redirects only to URLs check_url accepts, so https cannot be downgraded to http."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):  # type: ignore[no-untyped-def]
        check_url(newurl)
        return super().redirect_request(req, fp, code, msg, headers, newurl)


@dataclass
class Downloader:
    timeout_s: float = 30.0  # for connecting and for each read: a stalled server counts as a failure
    attempts: int = 5
    backoff_s: float = 1.0  # wait before the first retry; doubled after each failure, at most MAX_BACKOFF_S
    progress: Callable[[Progress], None] | None = None
    cancel: threading.Event = field(default_factory=threading.Event)

    def fetch(self, url: str, destination: Path, sha256: str | None = None, size: int | None = None) -> str:
        """Download `url` to `destination`, resuming an earlier partial download; returns the file's sha256.

        With `sha256` (or `size`) given, a file that does not match is deleted and DownloadError raised:
        `destination` then does not exist."""
        check_url(url)
        destination.parent.mkdir(parents=True, exist_ok=True)
        part = destination.with_name(f".{destination.name}.part")
        name = destination.name
        for attempt in range(1, self.attempts + 1):
            self._report(
                name,
                part.stat().st_size if part.exists() else 0,
                size,
                0.0,
                note=f"connecting (attempt {attempt} of {self.attempts})",
            )
            try:
                self._transfer(url, part, size)
                break
            except OSError as exc:  # network failures became _Retry already: this is the local disk
                raise FacemapError(f"{part}: cannot write the download ({exc})") from exc
            except _Retry as exc:
                if attempt == self.attempts:
                    raise DownloadError(url, f"{exc} (gave up after {attempt} attempt{'s' * (attempt > 1)})") from exc
                delay = min(self.backoff_s * 2 ** (attempt - 1), MAX_BACKOFF_S)
                log.warning(
                    "%s: %s; retrying in %.1f s (attempt %d of %d)", url, exc, delay, attempt + 1, self.attempts
                )
                self._report(
                    name,
                    part.stat().st_size if part.exists() else 0,
                    size,
                    0.0,
                    note=f"{exc}; retrying in {delay:.0f} s",
                )
                if self.cancel.wait(delay):
                    raise DownloadCancelled(f"download of {url} cancelled") from exc
        digest = file_sha256(part)
        found = part.stat().st_size
        if (sha256 and digest != sha256) or (size is not None and found != size):
            part.unlink()
            raise DownloadError(
                url,
                f"the downloaded file does not match the expected checksum (sha256 {digest}, "
                f"{found} bytes; expected {sha256 or 'any'}, {size or 'any'} bytes): deleted, "
                "nothing installed. Try again; if it persists the file changed on the server",
            )
        os.replace(part, destination)
        return digest

    def _open(self, url: str, offset: int) -> http.client.HTTPResponse:
        headers = {"User-Agent": f"facemap-gui/{__version__}"}
        if offset:
            headers["Range"] = f"bytes={offset}-"
        handlers: list[urllib.request.BaseHandler] = [_CheckedRedirects()]
        if urlsplit(url).hostname in LOOPBACK_HOSTS:
            handlers.append(urllib.request.ProxyHandler({}))  # a proxy cannot reach this machine's loopback
        opener = urllib.request.build_opener(*handlers)
        try:
            return opener.open(urllib.request.Request(url, headers=headers), timeout=self.timeout_s)
        except urllib.error.HTTPError as exc:
            exc.close()
            if exc.code == 416 and offset:
                raise  # the partial file is not a prefix of what the server has now: handled by the caller
            if exc.code in RETRY_HTTP_CODES:
                raise _Retry(f"server error HTTP {exc.code} {exc.reason}") from exc
            raise DownloadError(url, f"HTTP {exc.code} {exc.reason}") from exc
        except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
            reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
            raise _Retry(f"cannot connect ({reason})") from exc

    def _transfer(self, url: str, part: Path, size: int | None) -> None:
        """One attempt: append to `part` from where it ends (or start over if the server cannot resume), up
        to `size` bytes when known, else MAX_UNKNOWN_BYTES."""
        limit = MAX_UNKNOWN_BYTES if size is None else size
        offset = part.stat().st_size if part.exists() else 0
        try:
            response = self._open(url, offset)
        except urllib.error.HTTPError:
            part.unlink()
            offset, response = 0, self._open(url, 0)
        with response:
            if response.status == 206:
                match = _CONTENT_RANGE.fullmatch(response.headers.get("Content-Range", ""))
                if not match or int(match.group(1)) != offset:
                    part.unlink()
                    raise _Retry(f"server resumed at the wrong place ({response.headers.get('Content-Range')!r})")
                total = None if match.group(2) == "*" else int(match.group(2))
            else:  # the server sent the whole file
                length = response.headers.get("Content-Length", "")
                offset, total = 0, int(length) if length.isdigit() else None
            if total is not None and total > limit:
                raise DownloadError(
                    url,
                    f"the server announces {total} bytes, more than the {limit} expected; "
                    "nothing downloaded. If it persists the file changed on the server",
                )
            _check_free_space(part, (total if total is not None else size or 0) - offset, url)
            self._copy(response, part, offset, total, limit)

    def _copy(self, response: http.client.HTTPResponse, part: Path, offset: int, total: int | None, limit: int) -> None:
        name = part.name.removeprefix(".").removesuffix(".part")
        done, started, reported = offset, time.monotonic(), 0.0
        with open(part, "ab" if offset else "wb") as out:
            while True:
                if self.cancel.is_set():
                    raise DownloadCancelled(f"download of {name} cancelled ({done} bytes kept to resume)")
                try:
                    chunk = response.read1(CHUNK_BYTES)  # what has arrived: a stall keeps it for resuming
                except (OSError, http.client.HTTPException) as exc:
                    raise _Retry(f"connection lost after {done} bytes ({exc or type(exc).__name__})") from exc
                if not chunk:
                    break
                out.write(chunk)
                done += len(chunk)
                if done > limit:
                    out.close()
                    part.unlink()
                    raise DownloadError(
                        response.url,
                        f"the server sent more than the {limit} bytes expected; stopped and deleted, nothing installed",
                    )
                if time.monotonic() - reported >= PROGRESS_INTERVAL_S:
                    reported = time.monotonic()
                    self._report(name, done, total, (done - offset) / max(reported - started, 1e-6))
        if total is not None and done < total:
            raise _Retry(f"connection closed after {done} of {total} bytes")
        self._report(name, done, total, (done - offset) / max(time.monotonic() - started, 1e-6), finished=True)

    def _report(
        self, name: str, done: int, total: int | None, rate: float, finished: bool = False, note: str = ""
    ) -> None:
        if self.progress:
            self.progress(Progress(name, done, total, rate, finished, note))


def _check_free_space(part: Path, needed: int, url: str) -> None:
    free = shutil.disk_usage(part.parent).free
    if free < needed + SPARE_DISK_BYTES:
        raise DownloadError(
            url,
            f"{part.parent}: only {format_size(free)} free, the download needs "
            f"{format_size(needed)}; free some disk space or point FACEMAP_GUI_HOME elsewhere",
        )
