"""The client's IP: X-Forwarded-For is believed only from the proxy (Caddy): a connection on its
own Unix socket (the local stack) or a TCP peer in ``trusted_proxies`` (compose), nobody else.

Addresses are normalised first: a dual-stack listener reports IPv4 peers as IPv4-mapped IPv6
(``::ffff:127.0.0.1``), which must match an IPv4 trusted-proxy entry (else every client behind
the proxy would look like the proxy itself, a loopback address in the local stack) and is
returned as plain IPv4, so one client has one rate-limit bucket whichever way it arrives.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from functools import lru_cache

from starlette.requests import HTTPConnection

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


# Parsing an address is most of what working out the client costs, and a process sees the same
# few (its peers, the proxy's hops) again and again: remembered, within a bound.
@lru_cache(maxsize=4096)
def parse_ip(value: str) -> Address | None:
    """An address, IPv4-mapped IPv6 unwrapped to IPv4; None for anything else."""
    try:
        addr = ipaddress.ip_address(value.strip())
    except ValueError:
        return None
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        return addr.ipv4_mapped
    return addr


@lru_cache(maxsize=16)
def _networks(trusted: tuple[str, ...]) -> tuple[Network, ...]:
    nets: list[Network] = []
    for entry in trusted:
        try:
            net = ipaddress.ip_network(entry.strip(), strict=False)
        except ValueError:
            continue
        if isinstance(net, ipaddress.IPv6Network) and net.network_address.ipv4_mapped:
            mapped = net.network_address.ipv4_mapped
            prefix = max(0, net.prefixlen - 96)
            net = ipaddress.ip_network(f"{mapped}/{prefix}", strict=False)
        nets.append(net)
    return tuple(nets)


@lru_cache(maxsize=4096)
def _is_trusted(addr: Address, nets: tuple[Network, ...]) -> bool:
    return any(addr.version == net.version and addr in net for net in nets)


def via_proxy_socket(conn: HTTPConnection) -> bool:
    """The request came in on the proxy's Unix socket (shared.serve): uvicorn reports such a
    connection with no client and a server address without a port."""
    server = conn.scope.get("server")
    return conn.client is None and isinstance(server, tuple | list) and server[1] is None


def _forwarded(conn: HTTPConnection, nets: tuple[Network, ...]) -> str | None:
    """The client our proxy vouches for in X-Forwarded-For; None when it names nobody."""
    forwarded = conn.headers.get("x-forwarded-for", "")
    # Walk from the right: the last hop our proxy saw is the one it vouches for.
    hops = [h.strip() for h in forwarded.split(",") if h.strip()]
    for hop in reversed(hops):
        addr = parse_ip(hop)
        if addr is None:
            # Not an address where our proxy vouches for one: nobody we can name (never
            # the proxy itself, which would pass as loopback in the local stack).
            return "unknown"
        if not _is_trusted(addr, nets):
            return str(addr)
    return None


def client_ip(conn: HTTPConnection, trusted_proxies: Iterable[str]) -> str:
    nets = _networks(tuple(trusted_proxies))  # parsed once per distinct setting
    if via_proxy_socket(conn):
        return _forwarded(conn, nets) or "unknown"
    raw_peer = conn.client.host if conn.client else ""
    peer = parse_ip(raw_peer) if raw_peer else None
    if peer is None:
        return raw_peer or "unknown"
    if _is_trusted(peer, nets):
        return _forwarded(conn, nets) or str(peer)
    return str(peer)


def rate_subject(ip: str) -> str:
    """What a per-client rate limit counts: the address, or for IPv6 its /64 (one host is
    usually given a whole /64, so per-address buckets would let it rotate past any limit)."""
    addr = parse_ip(ip)
    if isinstance(addr, ipaddress.IPv6Address):
        return str(ipaddress.IPv6Network(f"{addr}/64", strict=False))
    return ip
