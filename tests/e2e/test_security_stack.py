import os
import ssl
import stat
import time
from collections.abc import Iterator

import httpx
import psutil
import pytest
from redis import Redis

from tests.support.stack import LocalStack

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    running = LocalStack.start()
    try:
        _wait_for_tls(running)
        yield running
    finally:
        running.stop()


def _wait_for_tls(stack: LocalStack) -> None:
    # Caddy opens its port a few milliseconds before its internal certificate is ready (a race
    # of the stack's start-up, seen on main too): wait for a handshake, not just the port.
    context = ssl.create_default_context(cafile=str(stack.ca_file))
    deadline = time.monotonic() + 10
    while True:
        try:
            httpx.get(f"{stack.https}/health", verify=context, timeout=2)
            return
        except httpx.ConnectError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


@pytest.fixture
def client(stack: LocalStack) -> Iterator[httpx.Client]:
    context = ssl.create_default_context(cafile=str(stack.ca_file))
    with httpx.Client(verify=context, timeout=10, follow_redirects=False) as c:
        yield c


def test_stack_forwarded_for_straight_to_service_port_not_believed(
    stack: LocalStack, client: httpx.Client
) -> None:
    api = f"http://127.0.0.1:{stack.ports['api']}"
    statuses = []
    with httpx.Client(base_url=api, timeout=10) as direct:
        for n in range(11):  # ANDRE_API_BAD_TOKEN_MAX is 10
            headers = {"Authorization": "Bearer wrong", "X-Forwarded-For": f"10.9.8.{n}"}
            statuses.append(direct.get("/api/queue", headers=headers).status_code)
    assert statuses == [403] * 10 + [429]
    # Through Caddy (its Unix socket) the right token still works for that same client.
    token = stack.secret("ANDRE_API_TOKEN")
    ok = client.get(f"{stack.https}/api/queue", headers={"Authorization": f"Bearer {token}"})
    assert ok.status_code == 200


def test_stack_trailing_slash_redirect_never_from_host(
    stack: LocalStack, client: httpx.Client
) -> None:
    plain = client.get(f"{stack.https}/login")
    assert plain.status_code == 307 and plain.headers["location"] == "/login/"
    hostile = client.get(
        f"{stack.https}/login", headers={"Host": f"localhost:{stack.ports['https']}@evil.com"}
    )
    assert hostile.status_code in (307, 400, 421)
    location = hostile.headers.get("location", "")
    assert "evil" not in location and "127.0.0.1" not in location and "http:" not in location
    web = f"http://127.0.0.1:{stack.ports['web']}"
    direct = httpx.get(f"{web}/login", headers={"Host": "evil.example"}, timeout=10)
    assert direct.status_code == 307 and direct.headers["location"] == "/login/"


def test_stack_access_log_carries_no_csrf_token(stack: LocalStack, client: httpx.Client) -> None:
    marker = "csrf-token-that-must-not-be-logged-7f3a"
    client.post(
        f"{stack.https}/queue/skip?probe=csrf-log",
        headers={"X-CSRF-Token": marker, "Origin": stack.https},
    )
    deadline = time.monotonic() + 5
    while not any("csrf-log" in line for line in stack.lines) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert any("csrf-log" in line for line in stack.lines), "no access-log line for the probe"
    assert not any(marker in line for line in stack.lines)


def test_stack_redis_data_owner_only(stack: LocalStack) -> None:
    admin = Redis(
        host="127.0.0.1",
        port=stack.ports["redis"],
        username="andre-admin",
        password=stack.secret("ANDRE_REDIS_PASSWORD_ANDRE_ADMIN"),
    )
    try:
        before = admin.lastsave()
        admin.bgsave()
        deadline = time.monotonic() + 10
        while admin.lastsave() == before and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        admin.close()
    data = stack.state / "redis" / "data"
    entries = [data, *data.rglob("*")]
    assert any(p.name == "dump.rdb" for p in entries)
    assert any(p.parent.name == "appendonlydir" for p in entries)
    for path in entries:
        mode = stat.S_IMODE(os.stat(path).st_mode)
        assert mode == (0o700 if path.is_dir() else 0o600), f"{path} is {oct(mode)}"


def test_stack_unknown_host_refused_and_caddy_on_loopback_only(
    stack: LocalStack, client: httpx.Client
) -> None:
    resp = client.get(f"{stack.https}/", headers={"Host": "evil.example"})
    assert resp.status_code == 421 and resp.json() == {"error": "Unknown host"}
    assert "server" not in resp.headers
    assert resp.headers["x-content-type-options"] == "nosniff"
    plain = httpx.get(f"http://127.0.0.1:{stack.ports['http']}/", timeout=10)
    assert plain.status_code == 421 and "server" not in plain.headers
    caddy = next(p for p in stack.descendants if p.name() == "caddy")
    listening = [  # TCP listeners and UDP sockets (HTTP/3)
        c.laddr
        for c in caddy.net_connections(kind="inet")
        if c.status in (psutil.CONN_LISTEN, psutil.CONN_NONE)
    ]
    assert listening
    assert all(addr.ip in ("127.0.0.1", "::1") for addr in listening), listening
