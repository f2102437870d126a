"""HTTPS downloads that resume (HTTP Range), time out, retry with backoff and check a checksum.

Qt-free: a front end follows a download through the `progress` callback and stops it with the `cancel`
event (the CLI draws a bar on stderr, the GUI a dialog). Bytes go to a hidden `.NAME.part` beside the
destination, which is renamed to its real name only when complete and matching its checksum; a cut or
cancelled download leaves only that `.part` file, and `.NAME.validator` (the server's ETag or Last-Modified
for it), which the next attempt resumes with `If-Range`: a file that changed on the server in between starts
over instead of being spliced from two versions (and then trusted on first use).
"""

from __future__ import annotations

import http.client
import logging
import math
import os
import re
import shutil
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from facemap_gui import __version__
from facemap_gui.core.digest import file_sha256
from facemap_gui.core.errors import FacemapError
from facemap_gui.core.network import is_loopback, redact, split_url
from facemap_gui.core.progress import time_left
from facemap_gui.models.catalogue import MIRROR_ENV

log = logging.getLogger(__name__)

CHUNK_BYTES = 1 << 16
PROGRESS_INTERVAL_S = 0.1
MAX_BACKOFF_S = 30.0
# A server that drips (a byte a second never trips the per-read timeout) is cut off below this average rate
# over each window; the response headers must arrive within the timeout in all.
MIN_RATE = 2000.0
RATE_WINDOW_S = 30.0
RETRY_HTTP_CODES = frozenset({408, 429, 500, 502, 503, 504})
# A mirror that streams forever must not fill the disk: a file of unknown size stops here (the largest model
# this app installs is ~20 MB), a file of known size at that size. The free space is checked before writing.
MAX_UNKNOWN_BYTES = 1 << 30
SPARE_DISK_BYTES = 50 << 20
_CONTENT_RANGE = re.compile(r"bytes (\d+)-\d+/(\d+|\*)")


class DownloadError(FacemapError):
    """A file could not be fetched. The message adds how to install it, and `missing` (the files still to
    fetch, `url` first), without this machine's network; `reason` is the failure alone (for a front end that
    explains the offline way itself)."""

    def __init__(self, url: str, reason: str, missing: tuple[str, ...] = ()) -> None:
        super().__init__(f"{url}: {reason}; {offline_hint(missing or (url,))}")
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
        return f"{size}, {format_size(self.rate)}/s, {time_left((self.total - self.done) / self.rate)}"


def format_size(n: float) -> str:
    """Decimal units, as the model card gives sizes (20.7 MB)."""
    power = min(int(math.log10(max(n, 1)) // 3), 3)
    return f"{n:.0f} B" if power == 0 else f"{n / 1000**power:.1f} {('kB', 'MB', 'GB')[power - 1]}"


def offline_hint(urls: tuple[str, ...]) -> str:
    filenames = " ".join(urlsplit(url).path.rsplit("/", 1)[-1] for url in urls)
    return (
        f"on a machine with internet access download {' '.join(urls)} and install "
        f"{'them' if len(urls) > 1 else 'it'} here with `facemap-gui models install {filenames}`"
    )


def check_url(url: str) -> None:
    """Raises FacemapError unless `url` is https (or http on the loopback, where nothing crosses a network: tests
    and a local mirror serve files without a certificate) to a valid host, without a password."""
    mirror = f" (check {MIRROR_ENV}={redact(os.environ[MIRROR_ENV])})" if os.environ.get(MIRROR_ENV) else ""
    try:
        parts = split_url(url)
    except ValueError as exc:  # also a bad IPv6 literal, a port out of range, a user name
        raise FacemapError(f"{redact(url)}: not a valid URL ({exc}){mirror}") from exc
    if not (parts.scheme == "https" or (parts.scheme == "http" and is_loopback(parts.hostname))):
        raise FacemapError(
            f"{url}: refusing to download over {parts.scheme or 'an unknown scheme'}; "
            f"only https is allowed (plain http only from this machine, 127.0.0.1){mirror}"
        )
    if not parts.hostname:
        raise FacemapError(f"{url}: not a valid URL (no host name){mirror}")


class _CheckedRedirects(urllib.request.HTTPRedirectHandler):
    """Follows redirects only to URLs check_url accepts, so https cannot be downgraded to http."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        check_url(newurl)
        return super().redirect_request(req, fp, code, msg, headers, newurl)


class _Deadline:
    """Shuts the connections' sockets once `seconds` have passed: a server sending its headers a byte at a
    time would otherwise never trip the per-read timeout. `cancel()` once the headers are in."""

    def __init__(self, seconds: float) -> None:
        self.expired = False
        self._connections: list[http.client.HTTPConnection] = []
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True
        self._timer.start()

    def handlers(self) -> list[urllib.request.BaseHandler]:
        return [_WatchedHttp(self), _WatchedHttps(self)]

    def watch(self, http_class: type[http.client.HTTPConnection]) -> Callable[..., http.client.HTTPConnection]:
        def connection(*args: Any, **kwargs: Any) -> http.client.HTTPConnection:
            self._connections.append(http_class(*args, **kwargs))
            return self._connections[-1]

        return connection

    def _expire(self) -> None:
        self.expired = True
        for connection in self._connections:
            if (sock := connection.sock) is not None:
                socket.socket.shutdown(sock, socket.SHUT_RDWR)  # the plain socket's: wakes a blocked read, TLS too

    def cancel(self) -> None:
        self._timer.cancel()


class _Watched(urllib.request.AbstractHTTPHandler):
    def __init__(self, deadline: _Deadline) -> None:
        super().__init__()
        self.deadline = deadline

    def do_open(self, http_class, req, **http_conn_args):
        return super().do_open(self.deadline.watch(http_class), req, **http_conn_args)


class _WatchedHttp(_Watched, urllib.request.HTTPHandler):
    pass


class _WatchedHttps(_Watched, urllib.request.HTTPSHandler):
    pass


@dataclass
class Downloader:
    timeout_s: float = 30.0  # for connecting, for each read and for the whole response header
    attempts: int = 5
    backoff_s: float = 1.0  # wait before the first retry; doubled after each failure, at most MAX_BACKOFF_S
    min_rate: float = MIN_RATE  # bytes a second, averaged over each rate_window_s
    rate_window_s: float = RATE_WINDOW_S
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
                raise FacemapError(f"{part.parent}: cannot write the download of {url} ({exc})") from exc
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
        _validator_path(part).unlink(missing_ok=True)
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

    def _open(self, url: str, offset: int, validator: str | None) -> http.client.HTTPResponse:
        headers = {"User-Agent": f"facemap-gui/{__version__}"}
        if offset and validator:  # the rest of the file the first part came from, else the whole new file
            headers.update({"Range": f"bytes={offset}-", "If-Range": validator})
        deadline = _Deadline(self.timeout_s)
        handlers: list[urllib.request.BaseHandler] = [_CheckedRedirects(), *deadline.handlers()]
        if is_loopback(urlsplit(url).hostname):
            handlers.append(urllib.request.ProxyHandler({}))  # a proxy cannot reach this machine's loopback
        opener = urllib.request.build_opener(*handlers)
        try:
            response = opener.open(urllib.request.Request(url, headers=headers), timeout=self.timeout_s)
        except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
            if deadline.expired:
                raise _Retry(f"no complete response within {self.timeout_s:g} s") from exc
            raise
        finally:
            deadline.cancel()
        if deadline.expired:  # in the instant between the headers and cancel(): the socket is shut already
            response.close()
            raise _Retry(f"no complete response within {self.timeout_s:g} s")
        return response

    def _request(self, url: str, offset: int, validator: str | None) -> http.client.HTTPResponse:
        """The response to GET `url` (from `offset` if the file is still the one `validator` names); failures
        worth another attempt raise _Retry, the others DownloadError."""
        try:
            return self._open(url, offset, validator)
        except urllib.error.HTTPError as exc:
            exc.close()
            if exc.code == 416 and offset:
                raise  # the partial file is not a prefix of what the server has now: handled by the caller
            if exc.code in RETRY_HTTP_CODES:
                raise _Retry(f"server error HTTP {exc.code} {exc.reason}") from exc
            raise DownloadError(url, f"HTTP {exc.code} {exc.reason}") from exc
        except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
            reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
            if isinstance(reason, socket.gaierror):  # offline or no such name: asking again will not help
                host = urlsplit(url).hostname
                raise DownloadError(url, f"cannot resolve the host name {host} ({reason.strerror})") from exc
            raise _Retry(f"cannot connect ({reason})") from exc

    def _transfer(self, url: str, part: Path, size: int | None) -> None:
        """One attempt: append to `part` from where it ends (or start over if the server cannot resume), up
        to `size` bytes when known, else MAX_UNKNOWN_BYTES."""
        limit = MAX_UNKNOWN_BYTES if size is None else size
        offset = part.stat().st_size if part.exists() else 0
        stored = _validator_path(part)
        validator = stored.read_text(encoding="utf-8") if offset and stored.is_file() else None
        try:
            response = self._request(url, offset, validator)
        except urllib.error.HTTPError:
            _discard(part)
            offset, validator, response = 0, None, self._request(url, 0, None)
        with response:
            if response.status == 206:
                match = _CONTENT_RANGE.fullmatch(response.headers.get("Content-Range", ""))
                if not match or int(match.group(1)) != offset:
                    _discard(part)
                    raise _Retry(f"server resumed at the wrong place ({response.headers.get('Content-Range')!r})")
                if _validator(response.headers) != validator:  # a server that ignores If-Range
                    _discard(part)
                    raise _Retry("the file changed on the server since the first part arrived; starting over")
                total = None if match.group(2) == "*" else int(match.group(2))
            else:  # the server sent the whole file (a new one, if it changed since the first part)
                length = response.headers.get("Content-Length", "")
                offset, total = 0, int(length) if length.isdigit() else None
                _discard(part)
            if total is not None and total > limit:
                raise DownloadError(
                    url,
                    f"the server announces {total} bytes, more than the {limit} expected; "
                    "nothing downloaded. If it persists the file changed on the server",
                )
            _check_free_space(part, (total if total is not None else size or 0) - offset, url)
            if not offset and (validator := _validator(response.headers)):  # kept for resuming this version
                stored.write_text(validator, encoding="utf-8")
            self._copy(response, url, part, offset, total, limit)

    def _copy(
        self, response: http.client.HTTPResponse, url: str, part: Path, offset: int, total: int | None, limit: int
    ) -> None:
        name = part.name.removeprefix(".").removesuffix(".part")
        done, started, reported = offset, time.monotonic(), 0.0
        window_start, window_done = started, done
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
                        url,
                        f"the server sent more than the {limit} bytes expected; stopped and deleted, nothing installed",
                    )
                if (now := time.monotonic()) - window_start >= self.rate_window_s:
                    if done - window_done < self.min_rate * (now - window_start):
                        raise _Retry(
                            f"slower than {format_size(self.min_rate)}/s over {now - window_start:.0f} s "
                            f"({done - window_done} bytes) after {done} bytes"
                        )
                    window_start, window_done = now, done
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


def _validator_path(part: Path) -> Path:
    return part.with_name(part.name.removesuffix(".part") + ".validator")


def _validator(headers: http.client.HTTPMessage) -> str | None:
    """What identifies this version of the file: a strong ETag, else Last-Modified (If-Range takes either)."""
    etag = headers.get("ETag")
    return etag if etag and not etag.startswith("W/") else headers.get("Last-Modified")


def _discard(part: Path) -> None:
    part.unlink(missing_ok=True)
    _validator_path(part).unlink(missing_ok=True)


def _check_free_space(part: Path, needed: int, url: str) -> None:
    free = shutil.disk_usage(part.parent).free
    if free < needed + SPARE_DISK_BYTES:
        raise DownloadError(
            url,
            f"{part.parent}: only {format_size(free)} free, the download needs "
            f"{format_size(needed)}; free some disk space or point FACEMAP_GUI_HOME elsewhere",
        )
