from __future__ import annotations

import hashlib
import json
import re
from collections.abc import AsyncIterator

import pytest
from fastapi import FastAPI

from services.web.app import create_app
from services.web.auth.deps import SCREEN_EMAIL
from shared import keys
from tests.services.web.conftest import (
    PUBLIC_URL,
    SignedIn,
    build_settings,
    dev_sign_in,
    running,
)
from tests.support.redis_server import RedisServer

ADMIN = "root@example.com"


@pytest.fixture
async def app(redis_clean: RedisServer) -> AsyncIterator[FastAPI]:
    async with running(create_app(build_settings(redis_clean, admin_emails=ADMIN))) as app:
        yield app


@pytest.fixture
async def admin(app: FastAPI, redis_clean: RedisServer) -> AsyncIterator[SignedIn]:
    who = await dev_sign_in(app, redis_clean, ADMIN)
    yield who
    await who.client.aclose()


async def test_tv_page_has_join_qr_and_no_inline_script(admin: SignedIn) -> None:
    resp = await admin.client.get("/tv")
    assert resp.status_code == 200
    assert '<div class="qr" role="img" aria-label="QR code: open Andre to add songs">' in resp.text
    assert f"{PUBLIC_URL}/" in resp.text
    assert re.search(r"<script[^>]*>\s*[^<\s]", resp.text) is None
    assert " style=" not in resp.text


async def test_tv_without_session_redirects_to_sign_in(app: FastAPI) -> None:
    from tests.services.web.conftest import make_client

    async with make_client(app) as client:
        resp = await client.get("/tv")
    assert resp.status_code == 302 and resp.headers["location"] == "/login/"


async def test_screen_session_reads_but_every_action_is_refused(
    admin: SignedIn, redis_clean: RedisServer
) -> None:
    resp = await admin.client.post("/admin/tv", data={"csrf_token": admin.csrf_token})
    assert resp.status_code == 303 and resp.headers["location"] == "/tv"
    cookie = admin.client.cookies.get("andre_session")
    assert cookie
    redis = redis_clean.client("andre-web")
    try:
        raw = await redis.get(keys.session(hashlib.sha256(cookie.encode()).hexdigest()))
    finally:
        await redis.aclose()
    assert raw is not None
    record = json.loads(raw)
    assert record["email"] == SCREEN_EMAIL and record["is_admin"] is False
    admin.client.headers["X-CSRF-Token"] = record["csrf_token"]
    assert (await admin.client.get("/tv")).status_code == 200
    assert (await admin.client.get("/queue")).status_code == 200
    for path in ("/queue/skip", "/queue/clear", "/airhorn/free"):
        refused = await admin.client.post(path)
        assert refused.status_code == 403, path
        assert refused.json() == {"error": "This screen is read-only"}


async def test_make_screen_by_non_admin_returns_403(app: FastAPI, redis_clean: RedisServer) -> None:
    bob = await dev_sign_in(app, redis_clean, "bob@example.com")
    try:
        resp = await bob.client.post("/admin/tv", data={"csrf_token": bob.csrf_token})
        assert resp.status_code == 403
    finally:
        await bob.client.aclose()
