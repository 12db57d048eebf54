"""`make up` with ANDRE_API_REPLICAS=2 ANDRE_WEB_REPLICAS=2: both replicas of each service serve
through Caddy, events made on one reach streams on the other, the open-stream caps count both,
and a SIGKILLed replica restarts alone while the other keeps serving."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager

import httpx
import psutil
import pytest

from tests.support.stack import LocalStack
from tests.support.stack_client import bot, https_client, sign_in

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

REPLICAS = {"api": ["api", "api-2"], "web": ["web", "web-2"]}
CAP = 2  # streams per token (api) and per user (web), lowered so the test can fill it


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    running = LocalStack.start(
        {
            "ANDRE_API_REPLICAS": "2",
            "ANDRE_WEB_REPLICAS": "2",
            "ANDRE_API_SSE_STREAMS_PER_TOKEN": str(CAP),
            "ANDRE_SSE_STREAMS_PER_USER": str(CAP),
        },
        timeout_s=90,
    )
    yield running
    code = running.stop()
    assert code == 0
    assert running.stragglers == []


def _port(stack: LocalStack, name: str) -> int:
    """A replica's own loopback port (the first's is the documented one)."""
    return int(stack.children()[name].environ()["ANDRE_PORT"])


def _within(seconds: float, check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, f"not within {seconds} s: {what}"
        time.sleep(0.05)


def _requests_seen(stack: LocalStack, name: str, path: str, start: int) -> int:
    """Access-log lines of one replica for ``path`` since line ``start`` of the stack's output,
    counting only requests that came through Caddy: on the proxy's Unix socket uvicorn logs no
    client address, on the loopback port (the stack's own health checks) it logs 127.0.0.1."""
    prefix = f"{name:<7}| "
    return sum(
        1
        for line in stack.lines[start:]
        if line.startswith(prefix) and f"GET {path} " in line and "127.0.0.1" not in line
    )


def test_replicas_start_named_with_own_sockets_and_the_count_printed(stack: LocalStack) -> None:
    children = stack.children()
    assert {"api", "api-2", "web", "web-2", "player", "caddy", "redis"} == set(children)
    assert _port(stack, "api") == stack.ports["api"] and _port(stack, "web") == stack.ports["web"]
    assert _port(stack, "api-2") not in stack.ports.values()
    for name in ("api", "api-2", "web", "web-2"):
        sock = stack.state / "run" / f"{name}.sock"
        assert sock.is_socket() and oct(sock.stat().st_mode & 0o777) == "0o600", name
    plan = next(line for line in stack.output("stack") if line.startswith("replicas: "))
    assert plan.startswith("replicas: api x2 (api :") and "web x2" in plan and "player x1" in plan


def test_both_replicas_of_each_service_serve_through_caddy(stack: LocalStack) -> None:
    mark = len(stack.lines)
    with bot(stack) as api, https_client(stack) as web:
        for _ in range(30):
            assert api.get("/api/health").status_code == 200
            assert web.get("/health").status_code == 200
    for service, path in (("api", "/api/health"), ("web", "/health")):

        def served(name: str, path: str = path) -> int:
            return _requests_seen(stack, name, path, mark)

        _within(5, lambda svc=service: sum(map(served, REPLICAS[svc])) >= 30, f"{service} logs")
        counts = {name: served(name) for name in REPLICAS[service]}
        # Random among idle replicas: both get some of 30 (each missing out: 2 ** -29).
        assert all(n > 0 for n in counts.values()), counts


class Listener:
    """An SSE client on a thread, collecting lines (``status N`` first); ``close`` ends it."""

    def __init__(self, url: str, headers: dict[str, str]) -> None:
        self.lines: list[str] = []
        self._client = httpx.Client(timeout=30)
        self._thread = threading.Thread(target=self._run, args=(url, headers), daemon=True)
        self._thread.start()

    def _run(self, url: str, headers: dict[str, str]) -> None:
        try:
            with self._client.stream("GET", url, headers=headers) as resp:
                self.lines.append(f"status {resp.status_code}")
                for n, line in enumerate(resp.iter_lines()):
                    self.lines.append(line)
                    if n > 500:
                        return
        except (httpx.HTTPError, RuntimeError, OSError) as exc:
            self.lines.append(f"ended {exc!r}")

    def close(self) -> None:
        self._client.close()  # drops the connection under the reading thread
        self._thread.join(timeout=10)
        assert not self._thread.is_alive()


@contextmanager
def listening(url: str, headers: dict[str, str]) -> Iterator[Listener]:
    listener = Listener(url, headers)
    try:
        yield listener
    finally:
        listener.close()


def test_stream_on_one_replica_sees_a_change_made_through_the_other(stack: LocalStack) -> None:
    token = {"Authorization": f"Bearer {stack.secret('ANDRE_API_TOKEN')}"}
    with listening(f"http://127.0.0.1:{_port(stack, 'api')}/api/events", token) as listener:
        _check_delivery(stack, token, listener.lines)


def _check_delivery(stack: LocalStack, token: dict[str, str], lines: list[str]) -> None:
    _within(10, lambda: "event: queue_update" in lines, "the stream's snapshot")
    seen = len(lines)
    on_b = f"http://127.0.0.1:{_port(stack, 'api-2')}"
    results = httpx.get(f"{on_b}/api/search", params={"q": "a"}, headers=token).json()["results"]
    added_uri = None
    for result in results[:5]:  # the first may be playing already (Bender's auto-fill)
        added = httpx.post(f"{on_b}/api/queue/add", json={"uri": result["uri"]}, headers=token)
        if added.status_code == 201:
            added_uri = result["uri"]
            break
        assert added.status_code == 409, added.text
    assert added_uri is not None

    def delivered() -> bool:
        # Whatever shape the event takes (a whole queue or a delta), it names the new song.
        return any(ln.startswith("data: ") and added_uri in ln for ln in lines[seen:])

    _within(10, delivered, "the add made on api-2 reaching the stream on api")


def test_stream_caps_hold_across_replicas(stack: LocalStack) -> None:
    token = {"Authorization": f"Bearer {stack.secret('ANDRE_API_TOKEN')}"}
    person = sign_in(stack, "dana@example.com")
    session = person.client.cookies.get("andre_session")
    assert session
    cookie = {"Cookie": f"andre_session={session}"}
    try:
        for service, path, headers in (
            ("api", "/api/events", token),
            ("web", "/events", cookie),
        ):
            with ExitStack() as streams:
                # One stream on each replica: together they are the cap.
                for name in REPLICAS[service]:
                    url = f"http://127.0.0.1:{_port(stack, name)}{path}"
                    listener = streams.enter_context(listening(url, headers))
                    _within(10, lambda x=listener: "status 200" in x.lines, f"a stream on {name}")
                for name in REPLICAS[service]:
                    url = f"http://127.0.0.1:{_port(stack, name)}{path}"
                    refused = httpx.get(url, headers=headers)
                    assert refused.status_code == 429, (name, refused.text)
                    assert int(refused.headers["retry-after"]) > 0
                # Through Caddy too, whichever replica it picks.
                with https_client(stack) as client:
                    through = client.get(path, headers=headers)
                assert through.status_code == 429, through.text
            # Both closed: their leases are given back, a stream opens again.
            url = f"http://127.0.0.1:{_port(stack, REPLICAS[service][1])}{path}"

            def reopens(url: str = url, headers: dict[str, str] = headers) -> bool:
                with httpx.Client(timeout=10) as c, c.stream("GET", url, headers=headers) as r:
                    return r.status_code == 200

            _within(10, reopens, f"a {service} stream after the others closed")
    finally:
        person.close()


def test_sigkilled_replica_restarts_alone_while_the_other_serves(stack: LocalStack) -> None:
    before = {name: p.pid for name, p in stack.children().items()}
    mark = len(stack.lines)
    failures: list[str] = []
    done = threading.Event()
    rounds = [0]

    def watch() -> None:
        with bot(stack, timeout_s=8) as api:
            for _ in range(2000):  # bounded; the test ends it long before
                try:
                    status = api.get("/api/health").status_code
                except httpx.HTTPError as exc:
                    failures.append(repr(exc))
                else:
                    if status != 200:
                        failures.append(str(status))
                rounds[0] += 1
                if done.wait(0.05):
                    return

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        _within(5, lambda: rounds[0] >= 3, "the watcher running")
        psutil.Process(before["api-2"]).kill()
        assert stack.wait_for_line(
            "api-2 exited unexpectedly (killed by SIGKILL); restart 1 in 0.5 s", 5, start=mark
        ), "\n".join(stack.lines[-20:])

        def back() -> bool:
            child = stack.children().get("api-2")
            if child is None or child.pid == before["api-2"]:
                return False
            try:
                port = int(child.environ()["ANDRE_PORT"])
                return httpx.get(f"http://127.0.0.1:{port}/api/health").status_code == 200
            except (httpx.HTTPError, psutil.Error):
                return False

        _within(15, back, "api-2 restarted and healthy")
        seen = rounds[0]
        _within(5, lambda: rounds[0] >= seen + 5, "more rounds after the restart")
    finally:
        done.set()
        watcher.join(timeout=10)
    assert failures == [], failures
    after = {name: p.pid for name, p in stack.children().items()}
    assert {n: p for n, p in after.items() if n != "api-2"} == {
        n: p for n, p in before.items() if n != "api-2"
    }
    restarted = [line for line in stack.output("stack")[-50:] if re.match(r"api-2 started", line)]
    assert restarted, "no restart line for api-2"


def test_bad_replica_count_stops_make_up_before_anything_starts() -> None:
    bad = LocalStack.launch({"ANDRE_WEB_REPLICAS": "12"})
    try:
        code = bad.proc.wait(timeout=30)
    finally:
        final = bad.stop()
    assert code == final == 2
    runner = bad.output("stack")
    assert "cannot start: ANDRE_WEB_REPLICAS must be a whole number from 1 to 8, not '12'" in runner
    assert not any("started (pid" in line for line in runner)
    assert bad.stragglers == []
