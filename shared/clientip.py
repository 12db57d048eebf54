"""The client's IP: X-Forwarded-For is believed only when the peer is a trusted proxy (Caddy)."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from starlette.requests import HTTPConnection


def _is_trusted(peer: str, trusted: Iterable[str]) -> bool:
    try:
        addr = ipaddress.ip_address(peer)
    except ValueError:
        return False
    for entry in trusted:
        try:
            if addr in ipaddress.ip_network(entry, strict=False):
                return True
        except ValueError:
            continue
    return False


def client_ip(conn: HTTPConnection, trusted_proxies: Iterable[str]) -> str:
    peer = conn.client.host if conn.client else ""
    trusted = list(trusted_proxies)
    if peer and _is_trusted(peer, trusted):
        forwarded = conn.headers.get("x-forwarded-for", "")
        # Walk from the right: the last hop our proxy saw is the one it vouches for.
        hops = [h.strip() for h in forwarded.split(",") if h.strip()]
        for hop in reversed(hops):
            if not _is_trusted(hop, trusted):
                try:
                    return str(ipaddress.ip_address(hop))
                except ValueError:
                    break
    return peer or "unknown"
