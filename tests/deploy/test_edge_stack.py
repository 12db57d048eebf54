import gzip
import json
import ssl
import time
from collections.abc import Iterator

import httpx
import pytest

from deploy import verify
from tests.support.stack import LocalStack

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

HEADERS = {
    "strict-transport-security": "max-age=31536000; includeSubDomains",
    "x-content-type-options": "nosniff",
    "referrer-policy": "strict-origin-when-cross-origin",
    "x-frame-options": "DENY",
}


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    running = LocalStack.start()
    yield running
    running.stop()


@pytest.fixture
def client(stack: LocalStack) -> Iterator[httpx.Client]:
    context = ssl.create_default_context(cafile=str(stack.ca_file))
    with httpx.Client(verify=context, timeout=10, follow_redirects=False) as c:
        yield c


@pytest.mark.parametrize("path", ["/health", "/api/health", "/api/queue", "/no-such-page", "/"])
def test_edge_security_headers_on_every_response(
    client: httpx.Client, stack: LocalStack, path: str
) -> None:
    resp = client.get(f"{stack.https}{path}")
    for name, value in HEADERS.items():
        assert resp.headers.get(name) == value, (path, name)
    csp = resp.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp and "default-src 'self'" in csp
    assert "camera=()" in resp.headers["permissions-policy"]
    assert "server" not in resp.headers


@pytest.mark.parametrize("path", ["/", "/api/health", "/queue?x=1&y=2"])
def test_edge_http_redirects_to_https(stack: LocalStack, path: str) -> None:
    resp = httpx.get(f"{stack.http}{path}", follow_redirects=False, timeout=10)
    assert resp.status_code == 308
    assert resp.headers["location"] == f"{stack.https}{path}"
    assert "server" not in resp.headers


def test_edge_oversized_body_refused(client: httpx.Client, stack: LocalStack) -> None:
    token = stack.secret("ANDRE_API_TOKEN")
    resp = client.post(
        f"{stack.https}/api/queue/add",
        content=b'{"uri": "' + b"x" * (2 * 1024 * 1024) + b'"}',
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    assert resp.status_code == 413
    assert resp.json() == {"error": "Request body too large"}


@pytest.mark.parametrize("path", ["/api/queue/add", "/queue/add"])
def test_edge_oversized_chunked_body_413_json(
    client: httpx.Client, stack: LocalStack, path: str
) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(40):  # 2.5 MB, no Content-Length: the limit trips while it streams
            yield b"x" * 65536

    token = stack.secret("ANDRE_API_TOKEN")
    resp = client.post(
        f"{stack.https}{path}",
        content=chunks(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    assert resp.status_code == 413
    assert resp.headers["content-type"] == "application/json"
    assert resp.json() == {"error": "Request body too large"}
    assert resp.headers.get("strict-transport-security") == HEADERS["strict-transport-security"]


def test_edge_api_events_stream_unbuffered(client: httpx.Client, stack: LocalStack) -> None:
    token = stack.secret("ANDRE_API_TOKEN")
    auth = {"Authorization": f"Bearer {token}"}
    with client.stream("GET", f"{stack.https}/api/events", headers=auth) as resp:
        assert resp.status_code == 200
        assert resp.headers["content-type"].startswith("text/event-stream")
        lines = resp.iter_lines()
        started = time.monotonic()
        # The snapshot is written at once and the stream stays open: a buffering proxy would
        # hold it back until the (never-ending) response finished or a buffer filled.
        seen = []
        while not any(line.startswith("event: queue_update") for line in seen):
            seen.append(next(lines))
        # Generous bounds: a buffering proxy holds a never-ending stream back indefinitely, while
        # a loaded 2-core machine may take a few seconds to serve it.
        assert time.monotonic() - started < 8
        results = client.get(f"{stack.https}/api/search", params={"q": "a"}, headers=auth)
        for found_song in results.json()["results"]:
            added_at = time.monotonic()
            add = client.post(
                f"{stack.https}/api/queue/add", json={"uri": found_song["uri"]}, headers=auth
            )
            # The auto-fill may be playing this very song (a 409 by design): take the next one.
            if not (add.status_code == 409 and "playing" in add.text):
                break
        assert add.status_code == 201, add.text
        new_id = add.json()["id"]
        event, found = None, False
        for line in lines:
            if line.startswith("event: "):
                event = line
            elif line.startswith("data: ") and event in (
                "event: queue_update",
                "event: now_playing",
            ):
                payload = json.loads(line[6:])
                # The player (auto-fill is running in this stack) may start the new song at once,
                # so it can arrive as now playing rather than in the queue.
                items = payload["queue"] if event == "event: queue_update" else [payload]
                if any(item.get("id") == new_id for item in items):
                    found = True
                    break
            if time.monotonic() - added_at > 8:
                break
        assert found, "the new queue item did not arrive on the stream"
        assert time.monotonic() - added_at < 8, "the event was held back"


def test_edge_json_compressed_when_asked(client: httpx.Client, stack: LocalStack) -> None:
    auth = {"Authorization": f"Bearer {stack.secret('ANDRE_API_TOKEN')}"}
    params = {"q": "a", "limit": 20}
    plain = client.get(
        f"{stack.https}/api/search", params=params, headers={**auth, "Accept-Encoding": "identity"}
    )
    assert plain.status_code == 200 and "content-encoding" not in plain.headers
    with client.stream(
        "GET",
        f"{stack.https}/api/search",
        params=params,
        headers={**auth, "Accept-Encoding": "gzip"},
    ) as resp:
        assert resp.headers["content-encoding"] == "gzip"
        assert "accept-encoding" in resp.headers["vary"].lower()
        wire = b"".join(resp.iter_raw())
    # What crossed the wire is smaller than the JSON it carries, and decodes to the same answer.
    assert len(wire) < len(plain.content) / 2, (len(wire), len(plain.content))
    assert json.loads(gzip.decompress(wire)) == plain.json()
    page = client.get(f"{stack.https}/static/app.css", headers={"Accept-Encoding": "zstd, gzip"})
    assert page.status_code == 200 and page.headers["content-encoding"] in ("zstd", "gzip")


def test_edge_event_stream_never_compressed(client: httpx.Client, stack: LocalStack) -> None:
    auth = {"Authorization": f"Bearer {stack.secret('ANDRE_API_TOKEN')}"}
    headers = {**auth, "Accept-Encoding": "zstd, gzip"}
    started = time.monotonic()
    with client.stream("GET", f"{stack.https}/api/events", headers=headers) as resp:
        assert resp.status_code == 200
        assert resp.headers["content-type"].startswith("text/event-stream")
        assert "content-encoding" not in resp.headers
        # The first event arrives as plain text at once: nothing holds it back to fill a block.
        first = next(resp.iter_raw())
        assert first.startswith((b"event:", b":", b"id:", b"retry:", b"data:")), first[:40]
    assert time.monotonic() - started < 8


def test_edge_demo_artwork_through_caddy(client: httpx.Client, stack: LocalStack) -> None:
    auth = {"Authorization": f"Bearer {stack.secret('ANDRE_API_TOKEN')}"}
    found = client.get(f"{stack.https}/api/search", params={"q": "a"}, headers=auth)
    url = found.json()["results"][0]["img"]
    assert url.startswith("/art/demo/") and url.endswith(".svg")
    resp = client.get(f"{stack.https}{url}", headers={"Accept-Encoding": "gzip"})
    assert resp.status_code == 200
    assert resp.headers["content-type"] == "image/svg+xml"
    assert resp.content.startswith(b"<svg ")
    # Listed for compression, but these SVGs (~480 bytes) are under Caddy's 512-byte minimum.
    assert len(resp.content) < 512 and "content-encoding" not in resp.headers
    assert "immutable" in resp.headers["cache-control"]
    # Caddy's site-wide policy does not replace the artwork's own strict one.
    assert resp.headers["content-security-policy"].startswith("default-src 'none'")
    assert "server" not in resp.headers
    assert resp.headers["strict-transport-security"] == HEADERS["strict-transport-security"]
    etag = resp.headers["etag"]
    again = client.get(
        f"{stack.https}{url}", headers={"Accept-Encoding": "gzip", "If-None-Match": etag}
    )
    assert again.status_code == 304 and again.content == b""
    missing = client.get(f"{stack.https}/art/demo/{'0' * 20}.svg")
    assert missing.status_code == 404 and missing.headers["cache-control"] == "no-store"


def test_edge_verify_http_checks_pass_against_local_stack(stack: LocalStack) -> None:
    context = ssl.create_default_context(cafile=str(stack.ca_file))
    with httpx.Client(verify=context, timeout=10, follow_redirects=False) as c:
        results = verify.http_checks(c, stack.https, stack.http, stack.secret("ANDRE_API_TOKEN"))
    assert [r.line() for r in results if r.ok is not True] == []
