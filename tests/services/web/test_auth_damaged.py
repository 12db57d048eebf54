from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from redis.asyncio import Redis

from services.web.app import create_app
from services.web.auth.flows import take_flow
from services.web.identity.sessions import digest
from shared import keys
from tests.services.web.conftest import SignedIn, build_settings, dev_sign_in, make_client, running
from tests.services.web.test_auth_guests import ADMIN, guest_post, issue
from tests.support.redis_server import RedisServer


@pytest.fixture
async def app(redis_clean: RedisServer) -> AsyncIterator[FastAPI]:
    async with running(create_app(build_settings(redis_clean, admin_emails=ADMIN))) as application:
        yield application


@pytest.fixture
async def redis_web(redis_clean: RedisServer) -> AsyncIterator[Redis]:
    client = redis_clean.client("andre-web")
    yield client
    await client.aclose()


@pytest.mark.parametrize(
    "damage",
    [
        lambda record: b"\xff" + json.dumps(record).encode(),
        lambda record: json.dumps({**record, "is_admin": "false", "expires_at": "soon"}).encode(),
    ],
)
async def test_session_damaged_record_reads_signed_out_reported_once(
    app: FastAPI,
    redis_clean: RedisServer,
    redis_web: Redis,
    caplog: pytest.LogCaptureFixture,
    damage: object,
) -> None:
    caplog.set_level(logging.WARNING, logger="shared.queue.records")
    who: SignedIn = await dev_sign_in(app, redis_clean, "alice@example.com")
    try:
        key = keys.session(digest(who.session_id))
        record = json.loads(await redis_web.get(key) or "")
        await redis_web.set(key, damage(record))  # type: ignore[operator]
        resp = await who.client.get("/queue")
        assert resp.status_code == 401 and resp.json() == {"error": "Not signed in"}
        assert not await redis_web.exists(key)
    finally:
        await who.client.aclose()
    reports = [r.getMessage() for r in caplog.records if "damaged session record" in r.getMessage()]
    assert len(reports) == 1


async def test_admin_guests_damaged_invite_listed_without_it(
    app: FastAPI, redis_clean: RedisServer, redis_web: Redis
) -> None:
    admin = await dev_sign_in(app, redis_clean, ADMIN)
    try:
        await issue(admin, "good@partner.example")
        await redis_web.hset(keys.GUESTS, "bad@partner.example", b"\xff\xfe")
        resp = await admin.client.get("/admin/guests")
        assert resp.status_code == 200
        assert "good@partner.example" in resp.text and "bad@partner.example" not in resp.text
        async with make_client(app) as client:
            resp = await guest_post(client, "bad@partner.example", "any-passphrase-at-all")
        assert resp.status_code == 401
    finally:
        await admin.client.aclose()


async def test_guest_session_damaged_invite_ends_session(
    app: FastAPI, redis_clean: RedisServer, redis_web: Redis
) -> None:
    admin = await dev_sign_in(app, redis_clean, ADMIN)
    try:
        passphrase = await issue(admin, "guest@partner.example")
    finally:
        await admin.client.aclose()
    async with make_client(app) as client:
        assert (await guest_post(client, "guest@partner.example", passphrase)).status_code == 303
        await redis_web.hset(keys.GUESTS, "guest@partner.example", b'{"expires_at": \xff}')
        resp: httpx.Response = await client.get("/", follow_redirects=False)
        # Signed out as for a revoked invite, and told so on the guest sign-in page.
        assert resp.status_code == 302 and resp.headers["location"] == "/guest/?ended=1"


async def test_take_flow_damaged_value_none_and_gone(redis_web: Redis) -> None:
    key = keys.oauth_flow(digest("state-123"))
    await redis_web.set(key, b'{"kind": "\xff"}', ex=60)
    assert await take_flow(redis_web, "state-123", "login") is None
    assert not await redis_web.exists(key)
