from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from redis.asyncio import Redis

from services.api.app import create_app
from services.api.auth import ApiIdentity, token_scope
from services.api.moderation import api_actor
from shared import keys
from shared.queue import queue as domain
from shared.spotify.demo import DemoCatalog
from tests.services.api.conftest import AUTH, BOT_TOKEN, build_settings, running
from tests.shared.queue.helpers import set_playing, track
from tests.support.redis_server import RedisServer

BOT = {"Authorization": f"Bearer {BOT_TOKEN}"}


@pytest.fixture
async def plain(redis_clean: RedisServer) -> AsyncIterator[httpx.AsyncClient]:
    settings = build_settings(redis_clean, api_admin_tokens="", moderation_skip_votes=2)
    async with running(create_app(settings), AUTH) as client:
        yield client


def test_api_actor_admin_only_for_listed_token_names(redis_clean: RedisServer) -> None:
    settings = build_settings(redis_clean, api_admin_tokens="bot")
    bot = ApiIdentity("bot@api", "bot", token_scope("bot", settings))
    main = ApiIdentity("openclaw@api", "main", token_scope("main", settings))
    assert api_actor(bot, settings).is_admin is True
    assert api_actor(main, settings).is_admin is False


async def test_skip_others_song_with_plain_tokens_needs_two_votes(
    plain: httpx.AsyncClient, redis_api: Redis
) -> None:
    await set_playing(redis_api, "np1", user="dj@example.com")
    first = (await plain.post("/api/queue/skip")).json()
    assert first == {"ok": True, "done": False, "how": "voted", "votes": 1, "needed": 2}
    assert not await redis_api.exists(keys.SKIP)
    second = (await plain.post("/api/queue/skip", headers=BOT)).json()
    assert second["done"] is True and second["how"] == "vote"
    assert await redis_api.get(keys.SKIP) == "1"


async def test_remove_and_clear_with_plain_token_are_refused_or_voted(
    plain: httpx.AsyncClient, redis_api: Redis
) -> None:
    item = await domain.add_item(redis_api, track(1), "a@example.com")
    r = await plain.post("/api/queue/remove", json={"id": item.id})
    assert r.status_code == 200 and r.json()["done"] is False
    r = await plain.post("/api/queue/clear")
    assert r.status_code == 403
    assert r.json() == {"error": "This token has the control scope; this request needs admin"}
    assert await domain.get_queue_ids(redis_api) == [item.id]


async def test_remove_own_song_with_plain_token_removes(
    plain: httpx.AsyncClient, redis_api: Redis
) -> None:
    added = await plain.post("/api/queue/add", json={"uri": DemoCatalog().tracks[0].uri})
    assert added.status_code == 201
    r = await plain.post("/api/queue/remove", json={"id": added.json()["id"]})
    assert r.json()["done"] is True and r.json()["how"] == "own"
    assert await domain.get_queue_ids(redis_api) == []
