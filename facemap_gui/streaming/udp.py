"""A UDP sender that never blocks nor raises: problems become a status value and one log warning."""

from __future__ import annotations

import logging
import socket
import threading
import time

from facemap_gui.errors import reason

log = logging.getLogger(__name__)
ERROR_SHOWN_S = 2.0  # an error stays in the status this long after it last happened


class UdpSender:
    """A non-blocking UDP socket connected to host:port, so that a receiver that is not running comes back as an
    error on a later send (ICMP port unreachable), as it does on Windows. A host name is resolved on a thread of its
    own, so a slow or failing DNS never holds up a frame; frames are dropped until it has resolved."""

    def __init__(self, name: str, host: str, port: int) -> None:
        self.name = name
        self._socket: socket.socket | None = None
        self._closed = False
        self._error: str | None = None
        self._error_at = 0.0
        self._reported: str | None = None
        self._sent, self._since, self._rate = 0, time.monotonic(), 0.0
        try:
            address = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM, flags=socket.AI_NUMERICHOST)[0]
        except socket.gaierror:  # a name, not an address
            threading.Thread(target=self._resolve, args=(host, port), name=f"resolve {name}", daemon=True).start()
        else:
            self._open(address)

    def _resolve(self, host: str, port: int) -> None:
        try:
            address = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)[0]
        except OSError as exc:
            self._report(f"cannot resolve {host} ({reason(exc)}); nothing is sent")
            return
        self._open(address)

    def _open(self, address: tuple) -> None:
        family, kind, proto, _, sockaddr = address
        sock = socket.socket(family, kind, proto)
        try:
            sock.setblocking(False)
            sock.connect(sockaddr)
        except OSError as exc:
            sock.close()
            self._report(f"cannot send there ({reason(exc)}); nothing is sent")
            return
        if self._closed:  # closed while the name was resolving
            sock.close()
        else:
            self._socket = sock

    def send(self, payload: bytes) -> None:
        sock = self._socket
        if sock is None:
            return
        try:
            sock.send(payload)
        except BlockingIOError:
            self._report("the network is not keeping up; dropping packets")
        except ConnectionRefusedError:
            self._report("nothing is listening there (is the receiving app running?)")
        except OSError as exc:  # WSAECONNRESET on Windows for the same, unreachable hosts, oversized packets
            self._report(reason(exc))
        else:
            self._sent += 1
            now = time.monotonic()
            if now - self._since >= 1.0:
                self._sent, self._since, self._rate = 0, now, self._sent / (now - self._since)

    @property
    def error(self) -> str | None:
        """The last problem, while it keeps happening."""
        return self._error if time.monotonic() - self._error_at < ERROR_SHOWN_S else None

    def packets_per_s(self) -> float:
        return self._rate if time.monotonic() - self._since < 2.0 else 0.0

    def _report(self, problem: str) -> None:
        if self._closed:  # a send racing with close() from another thread: nothing to tell
            return
        self._error, self._error_at = problem, time.monotonic()
        if problem != self._reported:  # once, not once a frame
            self._reported = problem
            log.warning("%s: %s; the tracking goes on", self.name, problem)

    def close(self) -> None:
        self._closed = True
        if self._socket is not None:
            self._socket.close()
            self._socket = None
