from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Iterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import respx
from fastapi import FastAPI

from services.web.app import create_app
from services.web.state import web_state
from shared import keys
from shared.spotify.oauth import code_challenge
from shared.spotify.tokens import TokenSet, UserTokenStore
from tests.services.web.conftest import (
    TEST_SECRET_KEY,
    SignedIn,
    build_settings,
    dev_sign_in,
    make_client,
    running,
)
from tests.support.redis_server import RedisServer

TOKEN_URL = "https://accounts.spotify.com/api/token"


@pytest.fixture
def spotify_accounts() -> Iterator[respx.MockRouter]:
    with respx.mock(assert_all_called=False) as mock:
        yield mock


@pytest.fixture
async def app(redis_clean: RedisServer) -> AsyncIterator[FastAPI]:
    settings = build_settings(
        redis_clean, spotify_client_id="spotify-app-id", spotify_client_secret="spotify-app-secret"
    )
    async with running(create_app(settings)) as app:
        yield app


@pytest.fixture
async def alice(app: FastAPI, redis_clean: RedisServer) -> AsyncIterator[SignedIn]:
    who = await dev_sign_in(app, redis_clean, "alice@example.com")
    yield who
    await who.client.aclose()


async def link(alice: SignedIn, mock: respx.MockRouter) -> httpx.Response:
    start = await alice.client.get("/spotify/connect")
    assert start.status_code == 302
    query = parse_qs(urlsplit(start.headers["location"]).query)
    route = mock.post(TOKEN_URL).respond(
        json={
            "access_token": "user-access-token-1",
            "refresh_token": "user-refresh-token-1",
            "expires_in": 3600,
            "scope": "streaming",
        }
    )
    resp = await alice.client.get(
        "/spotify/callback", params={"state": query["state"][0], "code": "spotify-code"}
    )
    sent = parse_qs(route.calls.last.request.content.decode())
    assert code_challenge(sent["code_verifier"][0]) == query["code_challenge"][0]
    return resp


async def test_spotify_connect_redirects_with_state_and_s256(alice: SignedIn) -> None:
    resp = await alice.client.get("/spotify/connect")
    url = urlsplit(resp.headers["location"])
    query = {k: v[0] for k, v in parse_qs(url.query).items()}
    assert url.netloc == "accounts.spotify.com"
    assert query["code_challenge_method"] == "S256"
    assert query["redirect_uri"] == "https://andre.test/spotify/callback"
    assert len(query["state"]) >= 32


async def test_spotify_connect_anonymous_redirects_to_login(app: FastAPI) -> None:
    async with make_client(app) as client:
        resp = await client.get("/spotify/connect")
    assert resp.status_code == 302
    assert resp.headers["location"] == "/login/"


async def test_spotify_callback_good_link_stores_encrypted_and_serves_token(
    alice: SignedIn, spotify_accounts: respx.MockRouter, redis_clean: RedisServer
) -> None:
    resp = await link(alice, spotify_accounts)
    assert resp.status_code == 303
    redis = redis_clean.client("andre-web")
    try:
        stored = await redis.get(keys.user_tokens("alice@example.com"))
    finally:
        await redis.aclose()
    assert stored is not None and "user-access-token-1" not in stored
    assert "user-refresh-token-1" not in stored
    token = await alice.client.get("/spotify/token")
    assert token.status_code == 200
    body = token.json()
    assert body["access_token"] == "user-access-token-1"
    assert 3500 < body["expires_in"] <= 3600
    assert "refresh_token" not in body


async def test_spotify_callback_unknown_state_refused(
    alice: SignedIn, spotify_accounts: respx.MockRouter
) -> None:
    route = spotify_accounts.post(TOKEN_URL).respond(json={"access_token": "x"})
    resp = await alice.client.get("/spotify/callback", params={"state": "forged", "code": "c"})
    assert resp.status_code == 400
    assert not route.called


async def test_spotify_callback_state_of_other_user_refused(
    app: FastAPI, alice: SignedIn, redis_clean: RedisServer, spotify_accounts: respx.MockRouter
) -> None:
    route = spotify_accounts.post(TOKEN_URL).respond(json={"access_token": "x"})
    start = await alice.client.get("/spotify/connect")
    state = parse_qs(urlsplit(start.headers["location"]).query)["state"][0]
    bob = await dev_sign_in(app, redis_clean, "bob@example.com")
    resp = await bob.client.get("/spotify/callback", params={"state": state, "code": "c"})
    await bob.client.aclose()
    assert resp.status_code == 400
    assert not route.called


async def test_spotify_token_not_linked_404(alice: SignedIn) -> None:
    resp = await alice.client.get("/spotify/token")
    assert resp.status_code == 404
    assert resp.json() == {"error": "Spotify not linked"}


async def test_spotify_token_anonymous_401(app: FastAPI) -> None:
    async with make_client(app) as client:
        resp = await client.get("/spotify/token")
    assert resp.status_code == 401


async def test_spotify_token_revoked_link_409(
    alice: SignedIn, spotify_accounts: respx.MockRouter, redis_clean: RedisServer
) -> None:
    redis = redis_clean.client("andre-web")
    try:
        await UserTokenStore(redis, TEST_SECRET_KEY).save(
            "alice@example.com",
            TokenSet(access_token="old", refresh_token="r", expires_at=time.time() - 10),
        )
    finally:
        await redis.aclose()
    spotify_accounts.post(TOKEN_URL).respond(400, json={"error": "invalid_grant"})
    resp = await alice.client.get("/spotify/token")
    assert resp.status_code == 409
    assert resp.json() == {"error": "Spotify not linked"}


async def test_spotify_disconnect_forgets_tokens(
    alice: SignedIn, spotify_accounts: respx.MockRouter
) -> None:
    await link(alice, spotify_accounts)
    resp = await alice.client.post("/spotify/disconnect")
    assert resp.json() == {"ok": True}
    assert (await alice.client.get("/spotify/token")).status_code == 404


async def test_spotify_demo_mode_says_so(signed_in: SignedIn) -> None:
    page = await signed_in.client.get("/spotify/connect", headers={"Accept": "text/html"})
    assert page.status_code == 503
    assert "demo mode" in page.text
    token = await signed_in.client.get("/spotify/token")
    assert token.status_code == 503
    assert "demo mode" in json.loads(token.text)["error"]


async def test_spotify_connect_starts_rate_limited_429(
    app: FastAPI, alice: SignedIn, redis_clean: RedisServer
) -> None:
    limit = web_state(app).limits.spotify_connect
    redis = redis_clean.client("andre-web")
    try:
        await redis.set(limit.key(alice.email), 20, ex=600)
    finally:
        await redis.aclose()
    resp = await alice.client.get("/spotify/connect")
    assert resp.status_code == 429
    assert "retry-after" in resp.headers
