from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import httpx
from redis.asyncio import Redis

from services.api.app import create_app
from shared import keys
from shared.queue import queue as domain
from shared.queue.delta import apply
from tests.services.api.conftest import AUTH, BOT_TOKEN, build_settings, live
from tests.shared.queue.helpers import track
from tests.support.redis_server import RedisServer


async def _read_events(lines: AsyncIterator[str], count: int) -> list[dict[str, str]]:
    events: list[dict[str, str]] = []
    fields: dict[str, str] = {}
    async with asyncio.timeout(10):
        async for line in lines:
            if line == "":
                if "event" in fields:
                    events.append(fields)
                    if len(events) == count:
                        return events
                fields = {}
                continue
            name, _, value = line.partition(": ")
            fields[name] = value
    return events


async def test_stream_events_resume_with_last_event_id_misses_nothing(
    live_api: str, redis_api: Redis
) -> None:
    async with httpx.AsyncClient(base_url=live_api, headers=AUTH, timeout=10) as client:
        async with client.stream("GET", "/api/events") as r:
            assert r.status_code == 200
            assert r.headers["content-type"].startswith("text/event-stream")
            assert r.headers["cache-control"].startswith("no-cache")
            lines = r.aiter_lines()
            await _read_events(lines, 2)  # snapshot
            await domain.add_item(redis_api, track(1), "a@example.com")
            first = (await _read_events(lines, 1))[0]
            assert first["event"] == "queue_update"
        for n in range(2, 5):
            await domain.add_item(redis_api, track(n), "b@example.com")
        missed = [e[0] for e in await redis_api.xrange(keys.EVENTS, min=f"({first['id']}")]
        assert len(missed) == 3
        headers = {"Last-Event-ID": first["id"]}
        async with client.stream("GET", "/api/events", headers=headers) as r:
            # The three queue_updates missed replay as one current queue (at most one more if
            # the process's tail had not read the newest yet when the client came back).
            lines = r.aiter_lines()
            replay = await _read_events(lines, 1)
            if replay[-1]["id"] != missed[-1]:
                replay += await _read_events(lines, 1)
            assert replay[-1]["id"] == missed[-1] and len(replay) <= 2
            assert all(e["event"] == "queue_update" for e in replay)
            assert len(json.loads(replay[-1]["data"])["queue"]) == 4


async def test_stream_events_delta_mode_sends_the_queue_once_then_changes(
    live_api: str, redis_api: Redis
) -> None:
    for n in range(1, 6):
        await domain.add_item(redis_api, track(n), f"u{n}@example.com")
    async with httpx.AsyncClient(base_url=live_api, headers=AUTH, timeout=10) as client:
        async with client.stream("GET", "/api/events", params={"queue": "delta"}) as r:
            assert r.status_code == 200
            lines = r.aiter_lines()
            snapshot = await _read_events(lines, 2)
            assert [e["event"] for e in snapshot] == ["queue_update", "now_playing"]
            view = json.loads(snapshot[0]["data"])
            while len(view["queue"]) < 5:  # the tail may not have read the last add yet
                frame = (await _read_events(lines, 1))[0]
                data = json.loads(frame["data"])
                view = data if frame["event"] == "queue_update" else apply(view, data)
            ids = [item["id"] for item in view["queue"]]
            # A first change: a delta, or the whole view if this process kept no snapshot.
            await domain.vote(redis_api, ids[-2], "warm@example.com", True)
            warm = (await _read_events(lines, 1))[0]
            data = json.loads(warm["data"])
            view = data if warm["event"] == "queue_update" else apply(view, data)
            ids = [item["id"] for item in view["queue"]]
            await domain.vote(redis_api, ids[-1], "voter@example.com", True)
            change = (await _read_events(lines, 1))[0]
            assert change["event"] == "queue_delta"
            delta = json.loads(change["data"])
            assert delta["base"] == view["version"]
            assert [item["id"] for item in delta["items"]] == [ids[-1]]
            assert delta["items"][0]["votes"] == 1 and len(delta["moves"]) == 1
        bad = await client.get("/api/events", params={"queue": "diff"})
        assert bad.status_code == 400


async def test_stream_events_past_per_token_cap_429(redis_clean: RedisServer) -> None:
    app = create_app(build_settings(redis_clean, api_sse_streams_per_token=2))
    async with live(app) as url, httpx.AsyncClient(base_url=url, headers=AUTH, timeout=10) as c:
        async with c.stream("GET", "/api/events") as first, c.stream("GET", "/api/events") as two:
            assert first.status_code == two.status_code == 200
            third = await c.get("/api/events")
            assert third.status_code == 429 and int(third.headers["retry-after"]) > 0
            assert "error" in third.json()
            # Another token has its own count.
            other = {"Authorization": f"Bearer {BOT_TOKEN}"}
            async with c.stream("GET", "/api/events", headers=other) as bot:
                assert bot.status_code == 200
        # Closed streams are counted out.
        async with asyncio.timeout(5):
            while True:
                async with c.stream("GET", "/api/events") as again:
                    if again.status_code == 200:
                        break
                await asyncio.sleep(0.05)


async def test_stream_cap_holds_across_two_replicas(redis_clean: RedisServer) -> None:
    # Two api processes' apps on one Redis: the token's cap counts the streams of both.
    settings = build_settings(redis_clean, api_sse_streams_per_token=2)
    async with (
        live(create_app(settings)) as url_a,
        live(create_app(settings)) as url_b,
        httpx.AsyncClient(headers=AUTH, timeout=10) as c,
    ):
        async with (
            c.stream("GET", f"{url_a}/api/events") as on_a,
            c.stream("GET", f"{url_b}/api/events") as on_b,
        ):
            assert on_a.status_code == on_b.status_code == 200
            for url in (url_a, url_b):
                refused = await c.get(f"{url}/api/events")
                assert refused.status_code == 429, url
                assert "too many open event streams" in refused.json()["error"].lower()
        # Both closed: either replica serves a stream again.
        async with asyncio.timeout(5):
            while True:
                async with c.stream("GET", f"{url_b}/api/events") as again:
                    if again.status_code == 200:
                        break
                await asyncio.sleep(0.05)
