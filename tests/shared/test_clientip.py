from __future__ import annotations

from starlette.requests import Request

from shared.clientip import client_ip, rate_subject
from shared.settings import AndreSettings

TRUSTED = ["127.0.0.1", "::1", "172.31.240.2"]


def _conn(peer: str, forwarded: str | None = None) -> Request:
    headers = [] if forwarded is None else [(b"x-forwarded-for", forwarded.encode())]
    return Request({"type": "http", "client": (peer, 5000), "headers": headers})


def test_client_ip_untrusted_peer_ignores_forwarded_for() -> None:
    assert client_ip(_conn("203.0.113.5", "127.0.0.1"), TRUSTED) == "203.0.113.5"


def test_client_ip_trusted_peer_takes_rightmost_untrusted_hop() -> None:
    conn = _conn("127.0.0.1", "127.0.0.1, 198.51.100.9, 172.31.240.2")
    assert client_ip(conn, TRUSTED) == "198.51.100.9"


def test_client_ip_mapped_trusted_peer_believes_forwarded_for() -> None:
    assert client_ip(_conn("::ffff:172.31.240.2", "198.51.100.9"), TRUSTED) == "198.51.100.9"


def test_client_ip_mapped_forwarded_hop_normalised_to_ipv4() -> None:
    assert client_ip(_conn("127.0.0.1", "::ffff:198.51.100.9"), TRUSTED) == "198.51.100.9"


def test_client_ip_mapped_untrusted_peer_normalised_to_ipv4() -> None:
    assert client_ip(_conn("::ffff:203.0.113.5", "198.51.100.9"), TRUSTED) == "203.0.113.5"


def test_client_ip_mapped_trusted_hop_skipped() -> None:
    conn = _conn("127.0.0.1", "198.51.100.9, ::ffff:127.0.0.1")
    assert client_ip(conn, TRUSTED) == "198.51.100.9"


def test_rate_subject_ipv6_keyed_by_64_prefix() -> None:
    assert rate_subject("2001:db8:1:2:aaaa::1") == rate_subject("2001:db8:1:2::ffff")
    assert rate_subject("2001:db8:1:3::1") != rate_subject("2001:db8:1:2::1")


def test_rate_subject_ipv4_and_unparsable_unchanged() -> None:
    assert rate_subject("198.51.100.9") == "198.51.100.9"
    assert rate_subject("unknown") == "unknown"


def test_client_ip_trusted_peer_malformed_hop_is_unknown_not_the_proxy() -> None:
    assert client_ip(_conn("127.0.0.1", "198.51.100.9, not-an-ip"), TRUSTED) == "unknown"


def test_client_ip_trusted_peer_without_forwarded_for_is_the_peer() -> None:
    assert client_ip(_conn("127.0.0.1"), TRUSTED) == "127.0.0.1"


def _socket_conn(forwarded: str | None) -> Request:
    headers = [] if forwarded is None else [(b"x-forwarded-for", forwarded.encode())]
    # How uvicorn describes a connection on a Unix socket: no client, no server port.
    scope = {"type": "http", "client": None, "server": ("/run/andre/api.sock", None)}
    return Request({**scope, "headers": headers})


def test_client_ip_proxy_socket_believes_forwarded_for() -> None:
    assert client_ip(_socket_conn("198.51.100.9"), []) == "198.51.100.9"
    assert client_ip(_socket_conn("garbage"), []) == "unknown"
    assert client_ip(_socket_conn(None), []) == "unknown"


def test_client_ip_loopback_peer_untrusted_by_default() -> None:
    default = AndreSettings(_env_file=None).trusted_proxies  # type: ignore[call-arg]
    assert default == []
    assert client_ip(_conn("127.0.0.1", "198.51.100.9"), default) == "127.0.0.1"
