from collections.abc import AsyncIterator

import pytest
from fastapi import FastAPI

from services.web.app import create_app
from tests.services.web.conftest import build_settings, dev_sign_in, make_client, running
from tests.support.outage import redis_stopped, timed
from tests.support.redis_server import RedisServer

UNAVAILABLE = "The queue store is unavailable; try again in a few seconds"


@pytest.fixture()
async def app(own_redis: RedisServer) -> AsyncIterator[FastAPI]:
    async with running(create_app(build_settings(own_redis))) as a:
        yield a


async def test_web_redis_hung_actions_and_pages_503_within_2s_then_recover(
    own_redis: RedisServer, app: FastAPI
) -> None:
    alice = await dev_sign_in(app, own_redis, "alice@example.com")
    bob = await dev_sign_in(app, own_redis, "bob@example.com")
    try:
        added = await alice.client.post(
            "/queue/add", json={"uri": "spotify:track:6N12TI1PH4NRpe0Bw4bw8z"}
        )
        assert added.status_code in (200, 201), added.text
        item_id = added.json()["id"]
        with redis_stopped(own_redis):
            async with make_client(app) as anonymous:
                health, took = await timed(lambda: anonymous.get("/health"))
            assert health.status_code == 503 and took < 2.0
            for call in (
                lambda: bob.client.post("/queue/vote", json={"id": item_id, "up": True}),
                lambda: bob.client.get("/queue"),
                lambda: bob.client.get("/events"),
            ):
                resp, took = await timed(call)
                assert resp.status_code == 503, resp.text
                assert resp.json() == {"error": UNAVAILABLE}
                assert resp.headers["retry-after"] == "2"
                assert "content-security-policy" in resp.headers  # through the headers layer
                assert took < 2.0
            page, took = await timed(lambda: bob.client.get("/", headers={"Accept": "text/html"}))
            assert page.status_code == 503 and "text/html" in page.headers["content-type"]
            assert UNAVAILABLE in page.text and took < 2.0
        # Recovered without a restart; the failed vote left nothing behind.
        queue = await bob.client.get("/queue")
        assert queue.status_code == 200 and queue.json()["queue"][0]["votes"] == 0
        vote = await bob.client.post("/queue/vote", json={"id": item_id, "up": True})
        assert vote.status_code == 200, vote.text
    finally:
        await alice.client.aclose()
        await bob.client.aclose()


async def test_web_redis_down_health_names_it(own_redis: RedisServer, app: FastAPI) -> None:
    own_redis.halt()
    async with make_client(app) as client:
        resp = await client.get("/health")
    assert resp.status_code == 503 and resp.json() == {
        "status": "error",
        "error": "redis unavailable",
    }
    own_redis.launch()
    async with make_client(app) as client:
        assert (await client.get("/health")).status_code == 200
