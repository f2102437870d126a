"""A UDP sender that never blocks nor raises: problems become a status value and one log warning."""

from __future__ import annotations

import socket
import threading

from facemap_gui.core.errors import reason
from facemap_gui.sinks.streaming.status import SenderStatus


class UdpSender(SenderStatus):
    """A non-blocking UDP socket connected to host:port, so that a receiver that is not running comes back as an
    error on a later send (ICMP port unreachable), as it does on Windows. A host name is resolved on a thread of its
    own, so a slow or failing DNS never holds up a frame; frames are dropped until it has resolved."""

    def __init__(self, name: str, host: str, port: int) -> None:
        super().__init__(name)
        self._socket: socket.socket | None = None
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
            self._count_sent()

    def close(self) -> None:
        self._closed = True
        if self._socket is not None:
            self._socket.close()
            self._socket = None
