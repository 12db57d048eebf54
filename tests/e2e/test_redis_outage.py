import os
import signal
import threading
import time
from collections.abc import Callable, Iterator

import httpx
import psutil
import pytest

from tests.support.stack import LocalStack
from tests.support.stack_client import Person, bot, sign_in

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]

UNAVAILABLE = "The queue store is unavailable; try again in a few seconds"


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    running = LocalStack.start()
    yield running
    running.stop()


def _redis_pid(stack: LocalStack) -> int:
    children = psutil.Process(stack.proc.pid).children(recursive=True)
    return next(p.pid for p in children if p.name() == "redis-server")


def _within(limit_s: float, check: Callable[[], bool], what: str, step_s: float = 0.1) -> float:
    """Poll until ``check`` holds; the seconds it took, or fail after ``limit_s``."""
    start = time.monotonic()
    while not check():
        if time.monotonic() - start > limit_s:
            pytest.fail(f"{what}: not within {limit_s:.1f} s")
        time.sleep(step_s)
    return time.monotonic() - start


def _status(call: Callable[[], httpx.Response]) -> int:
    try:
        return call().status_code
    except httpx.HTTPError:
        return 0


def test_stack_redis_sigstop_10s_answers_503_within_2s_and_recovers_within_5s(
    stack: LocalStack,
) -> None:
    api = bot(stack, timeout_s=8)
    person: Person = sign_in(stack, "carol@example.com")
    player_health = f"http://127.0.0.1:{stack.ports['player']}/health"
    events: list[str] = []
    try:
        # Two songs: the player takes the first, the second waits in the queue to be voted on.
        results = api.get("/api/search", params={"q": "a"}).json()["results"]
        for result in results[:2]:
            added = api.post("/api/queue/add", json={"uri": result["uri"]})
            assert added.status_code == 201, added.text
        item_id = added.json()["id"]

        def votes() -> int:
            queue = api.get("/api/queue").json()["queue"]
            return int(next(i["votes"] for i in queue if i["id"] == item_id))

        # A live stream opened before the outage must carry events again after it.
        def listen() -> None:
            try:
                with (
                    bot(stack, timeout_s=40) as listener,
                    listener.stream("GET", "/api/events") as r,
                ):
                    for line in r.iter_lines():
                        events.append(line)
                        if len(events) > 2000:
                            return
                events.append("stream ended")
            except httpx.HTTPError as exc:
                events.append(f"stream failed: {exc!r}")

        threading.Thread(target=listen, daemon=True).start()
        _within(5, lambda: any(e.startswith("event: queue_update") for e in events), "snapshot")

        pid = _redis_pid(stack)
        stopped_at = time.monotonic()
        os.kill(pid, signal.SIGSTOP)
        try:
            checks: dict[str, Callable[[], httpx.Response]] = {
                "api health": lambda: api.get("/api/health"),
                "api queue": lambda: api.get("/api/queue"),
                "web action": lambda: person.act("/queue/vote", {"id": item_id, "up": True}),
                "web health": lambda: person.client.get("/health"),
                "player health": lambda: httpx.get(player_health, timeout=8),
            }
            for name, call in checks.items():
                start = time.monotonic()
                resp = call()
                took = time.monotonic() - start
                assert resp.status_code == 503, (name, resp.status_code, resp.text)
                assert took < 2.0, (name, took)
                if name in ("api queue", "web action"):
                    assert resp.json() == {"error": UNAVAILABLE}, name
            time.sleep(max(0.0, 10 - (time.monotonic() - stopped_at)))
        finally:
            os.kill(pid, signal.SIGCONT)
        resumed_at = time.monotonic()
        seen = len(events)
        recovered: dict[str, Callable[[], httpx.Response]] = {
            "api health": lambda: api.get("/api/health"),
            "api queue": lambda: api.get("/api/queue"),
            "web queue": lambda: person.client.get("/queue"),
            "player health": lambda: httpx.get(player_health, timeout=3),
        }
        for name, call in recovered.items():
            left_s = 5 - (time.monotonic() - resumed_at)
            _within(left_s, lambda c=call: _status(c) == 200, name)
        # The failed vote changed nothing; the same vote now goes through.
        assert votes() == 0
        assert person.act("/queue/vote", {"id": item_id, "up": True}).status_code == 200
        _within(
            5 - (time.monotonic() - resumed_at),
            lambda: any(e.startswith("event: queue_update") for e in events[seen:]),
            f"live event after the outage (seen {events[seen:][-12:]})",
        )
        assert _redis_pid(stack) == pid  # recovered, not restarted
    finally:
        api.close()
        person.close()
