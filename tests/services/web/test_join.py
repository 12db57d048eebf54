from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator

import pytest
from fastapi import FastAPI

from services.web.app import create_app
from tests.services.web.conftest import (
    PUBLIC_URL,
    SignedIn,
    build_settings,
    dev_sign_in,
    form_token,
    make_client,
    running,
    same_origin,
)
from tests.support.redis_server import RedisServer

ADMIN = "root@example.com"
_LINK = re.compile(r'id="join-link">([^<]+)<')


@pytest.fixture
async def app(redis_clean: RedisServer) -> AsyncIterator[FastAPI]:
    async with running(create_app(build_settings(redis_clean, admin_emails=ADMIN))) as app:
        yield app


@pytest.fixture
async def admin(app: FastAPI, redis_clean: RedisServer) -> AsyncIterator[SignedIn]:
    who = await dev_sign_in(app, redis_clean, ADMIN)
    yield who
    await who.client.aclose()


async def issue(admin: SignedIn, email: str = "visitor@guest.test") -> str:
    resp = await admin.client.post(
        "/admin/join", data={"email": email, "days": "1", "csrf_token": admin.csrf_token}
    )
    assert resp.status_code == 201, resp.text
    assert '<div class="qr" role="img"' in resp.text and "<svg" in resp.text
    match = _LINK.search(resp.text)
    assert match
    link = html.unescape(match.group(1))
    assert link.startswith(f"{PUBLIC_URL}/join#")
    return link.partition("#")[2]


async def join(app: FastAPI, token: str) -> tuple[int, str, bool]:
    async with make_client(app) as client:
        page = await client.get("/join")
        resp = await client.post(
            "/join",
            data={"token": token, "csrf_token": form_token(page.text)},
            headers=same_origin(),
        )
        signed_in = (await client.get("/queue")).status_code == 200
    return resp.status_code, resp.text, signed_in


async def test_join_link_signs_guest_in_once(app: FastAPI, admin: SignedIn) -> None:
    token = await issue(admin)
    status, _, signed_in = await join(app, token)
    assert status == 303 and signed_in
    status, body, signed_in = await join(app, token)
    assert status == 400 and "expired or was already used" in body and not signed_in


async def test_join_with_unknown_token_returns_400(app: FastAPI) -> None:
    status, body, signed_in = await join(app, "nope")
    assert status == 400 and not signed_in


async def test_admin_join_for_non_admin_says_how_to_become_one(
    app: FastAPI, redis_clean: RedisServer
) -> None:
    bob = await dev_sign_in(app, redis_clean, "bob@example.com")
    try:
        resp = await bob.client.get("/admin/join", headers={"Accept": "text/html"})
        assert resp.status_code == 403
        assert "ANDRE_ADMIN_EMAILS" in resp.text
    finally:
        await bob.client.aclose()


async def test_admin_join_for_admin_address_is_refused(admin: SignedIn) -> None:
    resp = await admin.client.post(
        "/admin/join", data={"email": ADMIN, "days": "1", "csrf_token": admin.csrf_token}
    )
    assert resp.status_code == 400 and "admin" in resp.text


async def test_admin_join_without_csrf_returns_403(admin: SignedIn) -> None:
    resp = await admin.client.post(
        "/admin/join", data={"email": "v@guest.test", "days": "1", "csrf_token": "x"}
    )
    assert resp.status_code == 403
