"""The SSRF guard: webhook URLs must lead to public addresses.

Checked at registration and again at connect time, on the very addresses the connection uses,
so a name that re-resolves to a private address later (DNS rebinding) is still refused.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Collection
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class ForbiddenDestination(Exception):
    """The URL is not acceptable, or resolves to an address we refuse to call."""


# IPv6 ranges that carry an IPv4 address in their last 32 bits, so reach that address:
# IPv4-compatible (::a.b.c.d, deprecated but still routed by some stacks), IPv4-translated
# (::ffff:0:a.b.c.d, RFC 2765) and NAT64's well-known prefix (64:ff9b::/96, RFC 6052).
_EMBEDDING_V4 = tuple(
    ipaddress.IPv6Network(n) for n in ("::/96", "::ffff:0:0:0/96", "64:ff9b::/96")
)
# Never public whatever Python's tables say: site-local (deprecated, fec0::/10), unique-local
# (fc00::/7) and NAT64's local-use prefix (64:ff9b:1::/48, RFC 8215).
_NEVER_PUBLIC = tuple(ipaddress.IPv6Network(n) for n in ("fec0::/10", "fc00::/7", "64:ff9b:1::/48"))


def _unwrap(address: IPAddress) -> IPAddress:
    """The IPv4 address an IPv6 address leads to, if it embeds one."""
    if not isinstance(address, ipaddress.IPv6Address):
        return address
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if any(address in network for network in _EMBEDDING_V4):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return address


def address_is_public(address: IPAddress) -> bool:
    """False for loopback, private, link-local (cloud metadata), shared, reserved, multicast,
    site- and unique-local, and IPv6 forms of any of these IPv4 addresses."""
    if isinstance(address, ipaddress.IPv6Address) and any(
        address in network for network in _NEVER_PUBLIC
    ):
        return False
    plain = _unwrap(address)
    return plain.is_global and not plain.is_multicast


def check_url_syntax(url: str) -> tuple[str, int]:
    """Host and port of an acceptable webhook URL, or ForbiddenDestination."""
    if any(c.isspace() or not c.isprintable() for c in url):
        # urlsplit drops tabs and line breaks silently; what is stored must be what is called.
        raise ForbiddenDestination("the URL contains spaces or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise ForbiddenDestination(f"not a valid URL: {exc}") from exc
    if parts.scheme not in ("http", "https"):
        raise ForbiddenDestination("the URL must start with https:// or http://")
    if not parts.hostname:
        raise ForbiddenDestination("the URL has no host")
    if parts.username or parts.password:
        raise ForbiddenDestination("credentials in the URL are not accepted; use the signature")
    if port == 0:
        raise ForbiddenDestination("port 0 is not a port one can call")
    return parts.hostname.lower(), port or (443 if parts.scheme == "https" else 80)


async def resolve_public(host: str, port: int, *, allowed: Collection[str]) -> list[str]:
    """The addresses to connect to; refuses if any of them is not public.

    Refusing when *any* address is private (not only the first) stops a name that lists a
    public and a private address from sneaking through on a second connection attempt.
    """
    host = host.lower().strip("[]")
    try:
        literal: IPAddress | None = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if literal is not None:
        candidates = [str(literal)]
    else:
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(
                host, port, type=socket.SOCK_STREAM
            )
        except socket.gaierror as exc:
            raise ForbiddenDestination(f"{host} does not resolve") from exc
        except UnicodeError as exc:  # the IDNA codec: an empty or over-long label
            raise ForbiddenDestination(f"{host} is not a valid host name") from exc
        candidates = list(dict.fromkeys(str(info[4][0]) for info in infos))
    if host in allowed:
        return candidates
    for candidate in candidates:
        address = ipaddress.ip_address(candidate.split("%")[0])
        if candidate not in allowed and not address_is_public(address):
            raise ForbiddenDestination(
                f"{host} resolves to {candidate}, a private, loopback or link-local address"
            )
    return candidates
