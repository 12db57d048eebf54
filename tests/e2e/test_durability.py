import json
import os
import re
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.support.stack import LocalStack
from tests.support.stack_client import Person, bot, sign_in

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

# What Redis logs when it drops or refuses part of its AOF while loading it.
# The bot runs the room (skips songs it did not queue): its token is a moderation admin.
ENV = {"ANDRE_API_ADMIN_TOKENS": "main"}
LOAD_ERRORS = re.compile(r"NOPERM|Bad file format|Unrecoverable error|Unexpected end of file")


@dataclass
class Room:
    api: httpx.Client
    alice: Person
    bob: Person

    def close(self) -> None:
        self.api.close()
        self.alice.close()
        self.bob.close()


def _room(stack: LocalStack) -> Room:
    return Room(bot(stack), sign_in(stack, "alice@example.com"), sign_in(stack, "bob@example.com"))


def _ok(resp: httpx.Response) -> dict[str, Any]:
    assert resp.status_code in (200, 201), (resp.request.url, resp.status_code, resp.text)
    body: dict[str, Any] = resp.json()
    return body


def _eventually(check: Callable[[], bool], what: str, limit_s: float = 15) -> None:
    deadline = time.monotonic() + limit_s
    while True:
        try:
            if check():
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {limit_s} s")
        time.sleep(0.1)


def _fill(room: Room) -> None:
    """A morning in the room: adds by a bot and two people, votes, jams, comments, two plays."""
    uris = [r["uri"] for r in _ok(room.api.get("/api/search", params={"q": "e"}))["results"]]
    assert len(uris) >= 8
    ids: dict[str, list[str]] = {"bot": [], "alice": [], "bob": []}

    def add(post: Callable[[str], httpx.Response]) -> str:
        # The player may already be playing one of these (its auto-fill picks from the same
        # catalog): that add is refused with 409 by design, so the next song is taken.
        while uris:
            resp = post(uris.pop(0))
            if resp.status_code != 409 or "playing" not in resp.text:
                return str(_ok(resp)["id"])
        raise AssertionError("no song left to add")

    for _ in range(2):
        ids["bot"].append(add(lambda uri: room.api.post("/api/queue/add", json={"uri": uri})))
        ids["alice"].append(add(lambda uri: room.alice.act("/queue/add", {"uri": uri})))
        ids["bob"].append(add(lambda uri: room.bob.act("/queue/add", {"uri": uri})))
    # Two songs play and go to history.
    for expected in (1, 2):
        _ok(room.api.post("/api/queue/skip"))
        _eventually(
            lambda n=expected: len(_ok(room.api.get("/api/history"))["plays"]) >= n,
            f"play {expected} in history",
        )
    queued = [i["id"] for i in _ok(room.api.get("/api/queue"))["queue"]]
    playing = _ok(room.api.get("/api/playing"))
    alice_song = next(i for i in ids["alice"] if i in queued)
    bob_song = next(i for i in ids["bob"] if i in queued)
    bot_song = next(i for i in ids["bot"] if i in queued)
    _ok(room.bob.act("/queue/vote", {"id": alice_song, "up": True}))
    _ok(room.alice.act("/queue/vote", {"id": bot_song, "up": False}))
    _ok(room.api.post("/api/queue/vote", json={"id": bob_song, "up": True}))
    _ok(room.alice.act("/queue/jam", {"id": bob_song}))
    _ok(room.bob.act("/queue/jam", {"id": playing["id"]}))
    _ok(room.alice.act("/queue/comment", {"id": bob_song, "text": "this one ☕ again"}))
    _ok(room.bob.act("/queue/comment", {"id": playing["id"], "text": "<b>loud</b> please"}))


def _state(api: httpx.Client) -> dict[str, Any]:
    """What must come back byte for byte (the playing song without its moving clock)."""
    playing = _ok(api.get("/api/playing"))
    for moving in ("pos_ms", "server_time"):
        playing.pop(moving, None)
    return {
        "queue": api.get("/api/queue").content,
        "history": api.get("/api/history").content,
        "playing": playing,
    }


def _all_ids(state: dict[str, Any]) -> set[int]:
    found = {int(m) for m in re.findall(rb'"id":"(\d+)"', state["queue"] + state["history"])}
    return found | {int(state["playing"]["id"])}


def _check_back(stack: LocalStack, before: dict[str, Any], lines_from: int) -> None:
    with bot(stack) as api:
        _eventually(lambda: api.get("/api/queue").status_code == 200, "api serving again")
        after = _state(api)
        queue_before, queue_after = json.loads(before["queue"]), json.loads(after["queue"])
        assert queue_after["queue"] == queue_before["queue"]
        # The auto-fill preview is kept if there was one; if there was none, the player may have
        # made one since (a new suggestion, with a new id), which is not a change to what was kept.
        if queue_before["preview"] is not None:
            assert queue_after["preview"] == queue_before["preview"]
        elif queue_after["preview"] is not None:
            assert queue_after["preview"]["auto"] is True
            assert int(queue_after["preview"]["id"]) > max(_all_ids(before))
        assert after["history"] == before["history"]
        assert after["playing"] == before["playing"]
        # Ids go on from where they were: never one handed out twice.
        uri = _ok(api.get("/api/search", params={"q": "o"}))["results"][-1]["uri"]
        new_id = int(_ok(api.post("/api/queue/add", json={"uri": uri}))["id"])
        assert new_id > max(_all_ids(before))
    redis_log = "\n".join(stack.output("redis")[lines_from:])
    assert "DB loaded from append only file" in redis_log, redis_log[-2000:]
    assert not LOAD_ERRORS.search(redis_log), LOAD_ERRORS.findall(redis_log)


def _settled(room: Room) -> dict[str, Any]:
    """The state once two reads a moment apart agree (the player may still be starting a song)."""
    previous = _state(room.api)
    for _ in range(20):
        time.sleep(0.3)
        current = _state(room.api)
        if current == previous:
            return current
        previous = current
    pytest.fail("the room never settled")


def _filled_room(stack: LocalStack) -> dict[str, Any]:
    """Fill the room through the stack, then the settled state the restart must bring back."""
    room = _room(stack)
    try:
        _fill(room)
        return _settled(room)
    finally:
        room.close()


@pytest.mark.parametrize("how", ["graceful stop", "redis SIGKILL", "whole stack SIGKILL"])
def test_stack_restart_keeps_everything_acknowledged(how: str) -> None:
    stack = LocalStack.start(ENV)
    try:
        before = _filled_room(stack)
        redis_lines = 0
        if how == "graceful stop":
            assert stack.stop(keep_state=True) == 0
            stack = LocalStack.start(ENV, state=stack.state, ports=stack.ports)
        elif how == "redis SIGKILL":
            time.sleep(1.2)  # acknowledged more than a second before the kill
            old = stack.pid("redis")
            redis_lines = len(stack.output("redis"))
            os.kill(old, signal.SIGKILL)
            # A new redis-server, not the killed one before the runner has reaped it.
            _eventually(
                lambda: getattr(stack.children().get("redis"), "pid", old) != old,
                "redis restarted",
            )
        else:
            time.sleep(1.2)
            stack.kill()
            stack = LocalStack.start(ENV, state=stack.state, ports=stack.ports)
        _check_back(stack, before, redis_lines)
    finally:
        stack.stop()
