"""SSRF protection: which addresses a web tool may connect to, and a resolver pinned to them.

An address is refused unless it is global unicast: private (10/8, 172.16/12, 192.168/16,
fc00::/7), loopback, link-local (169.254/16 with the cloud metadata address 169.254.169.254,
fe80::/10), multicast, reserved, unspecified (0.0.0.0, ::), shared (100.64/10) and IPv4-mapped
IPv6 (::ffff:10.0.0.1) are all refused. A host name is resolved here, every address it
resolves to is checked (one refused address refuses the host), and the connection then goes
to the checked addresses only (`PinnedResolver`), so DNS cannot answer differently the second
time (DNS rebinding). `WebPolicy.allowed_hosts` lets chosen internal hosts or networks through.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from aiohttp.abc import AbstractResolver, ResolveResult

from agenthost.core.errors import ConfigError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolve = Callable[[str, int], Awaitable[list[str]]]


class BlockedAddress(Exception):
    """A URL's host is, or resolves to, an address the policy refuses."""


@dataclass(frozen=True)
class WebPolicy:
    """Where web tools may connect. `allow_private=True` permits every address (for a host on
    a trusted network only); `allowed_hosts` permits host names ("intranet.local") and
    addresses or networks ("127.0.0.1", "10.0.0.0/8") that would be refused otherwise."""

    allow_private: bool = False
    allowed_hosts: Sequence[str] = ()
    _names: frozenset[str] = field(init=False, repr=False)
    _networks: tuple[Network, ...] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        names: set[str] = set()
        networks: list[Network] = []
        for index, entry in enumerate(self.allowed_hosts):
            text = entry.strip().lower()
            if not text:
                raise ConfigError(f"allowed_hosts[{index}] is empty; give a host, IP or CIDR.")
            try:
                networks.append(ipaddress.ip_network(text, strict=False))
            except ValueError:
                if "/" in text:
                    raise ConfigError(
                        f"allowed_hosts[{index}]: {entry!r} is not a valid network; write "
                        f"e.g. '10.0.0.0/8'."
                    ) from None
                names.add(text.rstrip("."))
        object.__setattr__(self, "_names", frozenset(names))
        object.__setattr__(self, "_networks", tuple(networks))

    def host_allowed(self, host: str) -> bool:
        return self.allow_private or host.lower().rstrip(".") in self._names

    def address_allowed(self, address: IPAddress) -> bool:
        if self.allow_private or is_public(address):
            return True
        return any(address.version == n.version and address in n for n in self._networks)


def is_public(address: IPAddress) -> bool:
    """Global unicast, and not an IPv4 address in IPv6 clothing."""
    if isinstance(address, ipaddress.IPv6Address) and (
        address.ipv4_mapped is not None or address.sixtofour is not None or address.teredo
    ):
        return False
    return address.is_global and not address.is_multicast


def parse_ip(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


async def system_resolve(host: str, port: int) -> list[str]:
    """Every address the system resolver gives for the host (IPv4 and IPv6)."""
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise BlockedAddress(f"cannot resolve {host!r}: {exc.strerror}") from exc
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


async def checked_addresses(
    host: str, port: int, policy: WebPolicy, resolve: Resolve = system_resolve
) -> list[str]:
    """The addresses to connect to for the host; BlockedAddress if any of them is refused."""
    literal = parse_ip(host)
    if literal is not None:
        _check(host, literal, policy)
        return [str(literal)]
    if host.lower().rstrip(".") == "localhost" and not policy.host_allowed(host):
        raise BlockedAddress("localhost is not allowed (a loopback host)")
    addresses = await resolve(host, port)
    if not addresses:
        raise BlockedAddress(f"{host!r} resolves to no address")
    if not policy.host_allowed(host):
        for text in addresses:
            address = parse_ip(text)
            if address is None:
                raise BlockedAddress(f"{host!r} resolved to a non-address {text!r}")
            _check(host, address, policy)
    return addresses


def _check(host: str, address: IPAddress, policy: WebPolicy) -> None:
    if not policy.address_allowed(address):
        shown = host if host.strip("[]") == str(address) else f"{host!r} ({address})"
        raise BlockedAddress(
            f"{shown} is a private, loopback, link-local or reserved address; web tools may "
            f"only reach public addresses unless allowed_hosts or allow_private permits it"
        )


class PinnedResolver(AbstractResolver):
    """aiohttp's resolver for one fetch: a host resolves only to the addresses checked for it
    (`pin` them first); an unpinned host is refused, so no connection skips the check."""

    def __init__(self) -> None:
        self._pinned: dict[str, list[str]] = {}

    def pin(self, host: str, addresses: list[str]) -> None:
        self._pinned[host.lower()] = addresses

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        addresses = self._pinned.get(host.lower())
        if not addresses:
            raise OSError(f"{host!r} was not checked before connecting")
        results: list[ResolveResult] = []
        for text in addresses:
            version = ipaddress.ip_address(text).version
            results.append(
                ResolveResult(
                    hostname=host,
                    host=text,
                    port=port,
                    family=socket.AF_INET if version == 4 else socket.AF_INET6,
                    proto=0,
                    flags=socket.AI_NUMERICHOST,
                )
            )
        return results

    async def close(self) -> None:
        self._pinned.clear()
