"""Host names and addresses the user gives (download mirrors, stream targets, Ray clusters), checked before use.

One check for every front end, so that `my host`, `-rf`, a bare number (`39600`, which the C library reads as the
address 0.0.154.176) or a URL with a password in it never reaches the resolver or a socket."""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import SplitResult, urlsplit

MAX_NAME = 253
_LABEL = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?", re.IGNORECASE)  # letters, digits, hyphens (RFC 1123)
_NUMERIC = re.compile(r"(0x[0-9a-f]*|[0-9]+)", re.IGNORECASE)  # what inet_aton would read as part of an address


def check_host(host: str) -> None:
    """Raises ValueError saying why `host` is neither a DNS name nor an address packets may be sent to."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        address = None
    if address is not None:
        if (
            address.is_multicast
            or address in ipaddress.ip_network("0.0.0.0/8")  # "this network", 0.0.0.0 included
            or address in (ipaddress.IPv4Address("255.255.255.255"), ipaddress.IPv6Address("::"))
        ):
            raise ValueError(f"{host} is not the address of one host (unspecified, broadcast or multicast)")
        return
    name = host.removesuffix(".")
    labels = name.split(".")
    if not name or len(name) > MAX_NAME or not all(_LABEL.fullmatch(label) for label in labels):
        raise ValueError(
            f"{host[:80]!r} is not a host name (letters, digits and hyphens, labels of at most 63 characters, "
            f"{MAX_NAME} in all) nor an IPv4 or IPv6 address"
        )
    if _NUMERIC.fullmatch(labels[-1]):  # `39600`, `127.1`, `0x7f.1`: numbers, but not a dotted-quad address
        raise ValueError(f"{host!r} is a number, not a host name nor a whole IPv4 address (a.b.c.d)")


def is_loopback(host: str | None) -> bool:
    """`host` is this machine (localhost, 127.0.0.0/8, ::1): what is sent there never crosses a network."""
    if host is None:
        return False
    if host.lower().removesuffix(".") == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def split_url(url: str) -> SplitResult:
    """`urllib.parse.urlsplit`, with the host and port checked. Raises ValueError saying what is wrong, without
    repeating a user name or password (a URL holding one is refused: it would be printed and logged)."""
    if any(c.isspace() or not c.isprintable() for c in url):  # urlsplit silently drops tabs and newlines
        raise ValueError("spaces or control characters in it")
    parts = urlsplit(url)  # ValueError for a bracket left open ("Invalid IPv6 URL")
    if "@" in parts.netloc:
        raise ValueError("a user name or password in the URL is not supported; remove the part before '@'")
    if parts.port == 0:  # .port raises ValueError for a port past 65535 or not a number
        raise ValueError("port 0")
    if parts.hostname:
        check_host(parts.hostname)
    return parts


def redact(url: str) -> str:
    """`url` fit to print: any user name and password replaced by `***`."""
    scheme, at, rest = url.partition("://")
    netloc, slash, path = rest.partition("/")
    return f"{scheme}{at}***@{netloc.rpartition('@')[2]}{slash}{path}" if at and "@" in netloc else url
