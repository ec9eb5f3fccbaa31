"""Which addresses may be fetched: only public unicast addresses, unless a source sets
`allow_private`. The check runs where the connection is made (`PinnedBackend`): the
host is resolved once, every address it resolves to is checked, and the socket is
opened to a checked address, so DNS cannot answer differently between check and connect.
Every redirect hop opens its own connection, so each hop is checked the same way.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterable
from typing import Any

import httpcore

from textpipe.fetch.problems import FetchProblem

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], list[str]]

# NAT64's well-known prefix: 64:ff9b::a.b.c.d reaches the IPv4 address a.b.c.d.
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def address_refusal(address: Address) -> str | None:
    """Why `address` is not a public unicast address, or None when it is."""
    if isinstance(address, ipaddress.IPv6Address) and (inner := _embedded_ipv4(address)) is not None:
        reason = address_refusal(inner)
        return f"{reason} (inside {address})" if reason else None
    for test, reason in (
        ("is_loopback", "loopback"),
        ("is_link_local", "link-local"),
        ("is_multicast", "multicast"),
        ("is_unspecified", "unspecified"),
        ("is_reserved", "reserved"),
        ("is_private", "private"),
    ):
        if getattr(address, test):
            return reason
    if not address.is_global:  # shared address space (100.64.0.0/10) and the like
        return "not globally routable"
    return None


def system_resolver(host: str, port: int) -> list[str]:
    """The addresses `host` resolves to, by the system's resolver."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise FetchProblem("dns", f"cannot resolve {host}: {exc.strerror or exc}", transient=True) from None
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def checked_addresses(host: str, port: int, allow_private: bool, resolver: Resolver) -> list[str]:
    """The addresses to connect to for `host`; refuses the host if any of them is not public.

    All of them, not only the first: a name that resolves to a public and a private
    address must not reach the private one on a retry or a reconnection.
    """
    literal = host.strip("[]")
    try:
        addresses = [ipaddress.ip_address(literal).compressed]
    except ValueError:
        addresses = resolver(host, port)
    if not addresses:
        raise FetchProblem("dns", f"{host} resolves to no address", transient=True)
    if not allow_private:
        for text in addresses:
            reason = address_refusal(ipaddress.ip_address(text.split("%", 1)[0]))
            if reason is not None:
                raise FetchProblem("refused_address", f"{host} resolves to {text}, a {reason} address "
                                   "(set allow_private = true on the source to fetch from it)")
    return addresses


class PinnedBackend(httpcore.NetworkBackend):
    """httpcore's network backend with the address check in `connect_tcp`: the socket
    is opened to the checked IP literal, while TLS and the Host header keep the name."""

    def __init__(self, allow_private: bool, resolver: Resolver = system_resolver) -> None:
        self.allow_private = allow_private
        self.resolver = resolver
        self._inner = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        last_error: Exception | None = None
        for address in checked_addresses(host, port, self.allow_private, self.resolver):
            try:
                return self._inner.connect_tcp(address, port, timeout, local_address, socket_options)
            except httpcore.ConnectTimeout:
                raise
            except httpcore.ConnectError as exc:  # try the host's next address
                last_error = exc
        assert last_error is not None
        raise last_error

    def connect_unix_socket(self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None) -> httpcore.NetworkStream:
        raise FetchProblem("refused_address", "unix sockets are never fetched")

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)
