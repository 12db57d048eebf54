from __future__ import annotations

import httpx
import pytest

from services.api.app import create_app
from services.api.auth import TokenTable
from services.api.scopes import SCOPE_KEY, RouteScopes
from shared.spotify.demo import DemoCatalog
from tests.services.api.conftest import BOT_TOKEN, TOKEN, build_settings, live
from tests.support.redis_server import RedisServer

DASH_TOKEN = "dash-token-0123456789abcdef0"
# Kept here, not read from the routes: the test states the decision, the app must match it.
EXPECTED = {
    ("GET", "/api/queue"): "read",
    ("GET", "/api/playing"): "read",
    ("GET", "/api/history"): "read",
    ("GET", "/api/search"): "read",
    ("GET", "/api/events"): "read",
    ("GET", "/api/spotify/status"): "read",
    ("POST", "/api/queue/add"): "control",
    ("POST", "/api/queue/comment"): "control",
    ("POST", "/api/queue/vote"): "control",
    ("POST", "/api/queue/jam"): "control",
    ("POST", "/api/queue/remove"): "control",
    ("POST", "/api/queue/skip"): "control",
    ("POST", "/api/queue/pause"): "control",
    ("POST", "/api/queue/resume"): "control",
    ("POST", "/api/airhorn"): "control",
    ("GET", "/api/airhorns"): "read",
    ("GET", "/api/last"): "read",
    ("POST", "/api/queue/clear"): "admin",
    ("GET", "/api/spotify/devices"): "admin",
    ("POST", "/api/spotify/transfer"): "admin",
}
# Routes that succeed for every token allowed to call them, in this order on an empty queue.
OK_FOR_ANYONE_ALLOWED = {
    "/api/queue",
    "/api/playing",
    "/api/history",
    "/api/search",
    "/api/events",
    "/api/queue/add",
    "/api/queue/comment",
    "/api/airhorns",
    "/api/last",
    "/api/queue/clear",
}
RANK = {"read": 0, "control": 1, "admin": 2}
TOKENS = {"read": DASH_TOKEN, "control": BOT_TOKEN, "admin": TOKEN}
TRACK = DemoCatalog().tracks[0].uri
REQUEST = {
    "/api/search": {"params": {"q": "night"}},
    "/api/queue/add": {"json": {"uri": TRACK}},
    "/api/queue/vote": {"json": {"id": "1"}},
    "/api/queue/jam": {"json": {"id": "1"}},
    "/api/queue/remove": {"json": {"id": "1"}},
    "/api/queue/comment": {"json": {"id": "1", "text": "nice one"}},
    "/api/airhorn": {"json": {"name": "airhorn"}},
    "/api/spotify/transfer": {"json": {"device_id": "d1"}},
}


def scoped_settings(server: RedisServer):  # type: ignore[no-untyped-def]
    return build_settings(
        server,
        api_tokens=f"bot={BOT_TOKEN},dash={DASH_TOKEN}",
        api_admin_tokens="main",
        api_read_tokens="dash",
        spotify_email="house@example.com",  # the speaker's routes answer (not linked: a 4xx)
    )


async def test_scopes_every_schema_route_declares_the_expected_scope(
    redis_clean: RedisServer,
) -> None:
    app = create_app(scoped_settings(redis_clean))
    async with live(app) as url, httpx.AsyncClient(base_url=url) as client:
        schema = (
            await client.get("/api/openapi.json", headers={"Authorization": f"Bearer {DASH_TOKEN}"})
        ).json()
    declared = {
        (method.upper(), path): operation.get(SCOPE_KEY)
        for path, operations in schema["paths"].items()
        for method, operation in operations.items()
        if path != "/api/health"
    }
    # A route added without a row here fails: its scope is a decision to write down.
    assert declared == EXPECTED


@pytest.mark.parametrize("holder", ["read", "control", "admin"])
async def test_scopes_matrix_each_token_reaches_exactly_its_routes(
    redis_clean: RedisServer, holder: str
) -> None:
    app = create_app(scoped_settings(redis_clean))
    headers = {"Authorization": f"Bearer {TOKENS[holder]}"}
    async with live(app) as url, httpx.AsyncClient(base_url=url, headers=headers) as client:
        for (method, path), needed in EXPECTED.items():
            async with client.stream(method, path, **REQUEST.get(path, {})) as resp:  # type: ignore[arg-type]
                body = b"" if path == "/api/events" else await resp.aread()
            allowed = RANK[holder] >= RANK[needed]
            where = f"{holder} token, {method} {path}: {resp.status_code} {body[:200]!r}"
            if allowed:
                # Past the scope check the route answers for itself: 2xx, or its own refusal
                # (a vote on one's own song, the house speaker not linked: 503), never a 500
                # and never the scope's 403.
                assert resp.status_code != 500, where
                assert b"scope" not in body, where
                if path in OK_FOR_ANYONE_ALLOWED:
                    assert 200 <= resp.status_code < 300, where
            else:
                assert resp.status_code == 403, where
                expected = f"This token has the {holder} scope; this request needs {needed}"
                assert expected.encode() in body, where


async def test_scopes_read_token_reads_the_queue_and_is_refused_an_add(
    redis_clean: RedisServer,
) -> None:
    app = create_app(scoped_settings(redis_clean))
    headers = {"Authorization": f"Bearer {DASH_TOKEN}"}
    async with live(app) as url, httpx.AsyncClient(base_url=url, headers=headers) as client:
        assert (await client.get("/api/queue")).status_code == 200
        assert (await client.get("/api/openapi.json")).status_code == 200
        refused = await client.post("/api/queue/add", json={"uri": TRACK})
        queue = (await client.get("/api/queue")).json()
    assert refused.status_code == 403
    assert refused.json() == {"error": "This token has the read scope; this request needs control"}
    assert queue["queue"] == []


async def test_scopes_control_token_adds_as_its_own_identity(redis_clean: RedisServer) -> None:
    app = create_app(scoped_settings(redis_clean))
    headers = {"Authorization": f"Bearer {BOT_TOKEN}"}
    async with live(app) as url, httpx.AsyncClient(base_url=url, headers=headers) as client:
        added = await client.post("/api/queue/add", json={"uri": TRACK})
        queue = (await client.get("/api/queue")).json()
    assert added.status_code == 201
    assert [item["user"] for item in queue["queue"]] == ["bot@api"]


def test_scopes_token_in_both_lists_stops_the_service(redis_clean: RedisServer) -> None:
    settings = build_settings(
        redis_clean, api_tokens=f"bot={BOT_TOKEN}", api_admin_tokens="bot", api_read_tokens="bot"
    )
    with pytest.raises(ValueError, match="both ANDRE_API_ADMIN_TOKENS and ANDRE_API_READ_TOKENS"):
        TokenTable.from_settings(settings)


def test_scopes_route_without_a_declared_scope_stops_the_service() -> None:
    from fastapi import APIRouter

    router = APIRouter()

    @router.get("/api/forgotten")
    async def forgotten() -> dict[str, str]:
        return {}

    with pytest.raises(ValueError, match="declare the scope it needs"):
        RouteScopes(r for r in router.routes)  # type: ignore[misc]
