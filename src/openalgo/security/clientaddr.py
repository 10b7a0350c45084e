"""Who is on the other end of a connection.

The socket peer is the client unless the peer is one of our own reverse proxies
(``OPENALGO_TRUSTED_PROXIES``); only then is ``X-Forwarded-For`` read, right to left, skipping
further trusted hops, so a client cannot pick its own address by sending the header itself. OpenAlgo
keys its limiter on the raw peer, which behind a proxy puts every client in one bucket; honouring the
header from anyone would let an attacker dodge limits and bans. Both are avoided here.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
UNKNOWN = "unknown"


def parse_networks(value: str | Iterable[str]) -> tuple[Network, ...]:
    """Comma-separated addresses or CIDR networks; a ValueError naming the bad entry."""
    items = value.split(",") if isinstance(value, str) else list(value)
    networks: list[Network] = []
    for raw in items:
        item = raw.strip()
        if not item:
            continue
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ValueError(f"not an IP address or network: {item!r}") from None
    return tuple(networks)


def normalize(address: str) -> str:
    """A canonical text form (``::ffff:1.2.3.4`` -> ``1.2.3.4``); other strings unchanged.

    Called for every request: a dotted IPv4 address (what servers hand us) is returned as is, the
    rest goes through a small cache.
    """
    if ":" not in address and address.count(".") == 3 and address.replace(".", "").isdigit():
        return address
    return _normalize(address)


@lru_cache(maxsize=4096)
def _normalize(address: str) -> str:
    try:
        ip = ipaddress.ip_address(address.strip().strip("[]"))
    except ValueError:
        return address.strip()
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    return str(ip)


@dataclass(frozen=True)
class AddressSet:
    """A fast membership test for a few addresses and networks."""

    networks: tuple[Network, ...]

    @classmethod
    def parse(cls, value: str) -> AddressSet:
        return cls(parse_networks(value))

    def __bool__(self) -> bool:
        return bool(self.networks)

    def __contains__(self, address: object) -> bool:
        if not self.networks or not isinstance(address, str):
            return False
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in net for net in self.networks)


def client_from_forwarded(peer: str, forwarded_for: str | None, trusted: AddressSet) -> str:
    """The client address given the socket peer and its ``X-Forwarded-For`` header."""
    peer = normalize(peer)
    if not forwarded_for or peer not in trusted:
        return peer
    hops = [normalize(h) for h in forwarded_for.split(",") if h.strip()]
    for hop in reversed(hops):
        if hop not in trusted:
            return hop if _is_ip(hop) else peer
    # Every hop is one of ours: the left-most one is as close to the client as we can see.
    return hops[0] if hops else peer


def _is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True
