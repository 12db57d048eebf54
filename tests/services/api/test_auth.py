from __future__ import annotations

import logging
import signal

import httpx
import pytest
from fastapi import FastAPI
from redis.asyncio import Redis
from starlette.requests import Request

from services.api.app import create_app
from services.api.auth import (
    ApiIdentity,
    BearerAuth,
    GuardedPaths,
    TokenTable,
    identity_of,
    parse_bearer,
)
from services.api.scopes import RouteScopes
from shared.logs import AUDIT_LOGGER
from shared.queue import queue as domain
from tests.services.api.conftest import AUTH, BOT_TOKEN, TOKEN, build_settings, running
from tests.shared.queue.helpers import track
from tests.support.redis_server import RedisServer


async def _guarded_routes(client: httpx.AsyncClient) -> list[tuple[str, str]]:
    schema = (await client.get("/api/openapi.json", headers=AUTH)).json()
    assert schema["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    routes = []
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            if path == "/api/health":
                assert "security" not in operation
                continue
            assert operation["security"] == [{"HTTPBearer": []}], path
            routes.append((method.upper(), path))
    # The schema itself is an /api/* route too, guarded like the rest.
    routes.append(("GET", "/api/openapi.json"))
    return routes


async def _status(
    client: httpx.AsyncClient, method: str, path: str, headers: dict
) -> httpx.Response:  # type: ignore[type-arg]
    async with client.stream(method, path, headers=headers) as response:
        await response.aclose()
        return response


async def test_auth_matrix_every_route_but_health_guarded(live_api: str) -> None:
    async with httpx.AsyncClient(base_url=live_api, timeout=10) as client:
        routes = await _guarded_routes(client)
        assert len(routes) >= 16
        for method, path in routes:
            r = await _status(client, method, path, {})
            assert r.status_code == 401, (method, path)
            assert r.headers["www-authenticate"] == "Bearer"
            for bad in ("Basic abc", "Bearer", "Bearer  x", "Bearer a b", TOKEN):
                r = await _status(client, method, path, {"Authorization": bad})
                assert r.status_code == 401, (method, path, bad)
                assert r.headers["www-authenticate"] == "Bearer"
            for wrong in (TOKEN[:-1], TOKEN + "x", "x" * len(TOKEN), TOKEN[:5]):
                r = await _status(client, method, path, {"Authorization": f"Bearer {wrong}"})
                assert r.status_code == 403, (method, path)
            for good in (TOKEN, BOT_TOKEN):
                r = await _status(client, method, path, {"Authorization": f"Bearer {good}"})
                assert r.status_code not in (401, 403), (method, path)
                assert r.status_code < 500 or r.status_code in (502, 503), (method, path)


async def test_auth_matrix_no_token_configured_503(redis_clean: RedisServer) -> None:
    app = create_app(build_settings(redis_clean, api_token="", api_tokens=""))
    reference = create_app(build_settings(redis_clean))
    async with running(reference, AUTH) as ref_client:
        routes = await _guarded_routes(ref_client)
    async with running(app, AUTH) as client:
        for method, path in routes:
            r = await client.request(method, path)
            assert r.status_code == 503, (method, path)
            assert r.json() == {"error": "API token not configured on server"}
        assert (await client.get("/api/health")).status_code == 200


async def test_auth_error_bodies_are_json(api_app: FastAPI) -> None:
    async with running(api_app) as client:
        r = await client.post("/api/queue/skip")
        assert r.json() == {"error": "Missing or malformed Authorization header"}
        r = await client.post("/api/queue/skip", headers={"Authorization": "Bearer nope"})
        assert r.json() == {"error": "Invalid API token"}


async def test_auth_non_ascii_token_403(api_app: FastAPI) -> None:
    async with running(api_app) as client:
        for raw in ("Bearer tökén".encode(), b"Bearer \xff\xfe", "Bearer 令牌".encode()):
            r = await client.post("/api/queue/skip", headers={"Authorization": raw})  # type: ignore[dict-item]
            assert r.status_code == 403
            assert r.json() == {"error": "Invalid API token"}


async def test_auth_repeated_bad_tokens_rate_limited_per_ip(redis_clean: RedisServer) -> None:
    app = create_app(build_settings(redis_clean, api_bad_token_max=3))
    attacker = {"X-Forwarded-For": "203.0.113.5"}
    async with running(app) as client:
        for _ in range(3):
            r = await client.post(
                "/api/queue/skip", headers={**attacker, "Authorization": "Bearer guess"}
            )
            assert r.status_code == 403
        r = await client.post("/api/queue/skip", headers={**attacker, "Authorization": "Bearer x"})
        assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
        assert "error" in r.json()
        r = await client.post("/api/queue/skip", headers={**attacker})
        assert r.status_code == 429
        r = await client.post("/api/queue/skip", headers={"X-Forwarded-For": "203.0.113.6", **AUTH})
        assert r.status_code == 200


async def test_auth_valid_token_after_bad_tokens_from_same_ip_accepted(
    redis_clean: RedisServer,
) -> None:
    app = create_app(build_settings(redis_clean, api_bad_token_max=3))
    office = {"X-Forwarded-For": "203.0.113.7"}
    async with running(app) as client:
        for _ in range(5):
            await client.post("/api/queue/skip", headers={**office, "Authorization": "Bearer x"})
        r = await client.post("/api/queue/skip", headers={**office, "Authorization": "Bearer y"})
        assert r.status_code == 429
        # The right token from the same address is served, on any route.
        assert (await client.post("/api/queue/skip", headers={**office, **AUTH})).status_code == 200
        assert (await client.get("/api/queue", headers={**office, **AUTH})).status_code == 200
        r = await client.get("/api/queue", headers={**office, "Authorization": "Bearer z"})
        assert r.status_code == 429


async def test_auth_forwarded_for_ignored_from_untrusted_peer(redis_clean: RedisServer) -> None:
    app = create_app(build_settings(redis_clean, api_bad_token_max=2, trusted_proxies=[]))
    async with running(app) as client:
        for n in range(2):
            headers = {"X-Forwarded-For": f"198.51.100.{n}", "Authorization": "Bearer bad"}
            assert (await client.post("/api/queue/skip", headers=headers)).status_code == 403
        headers = {"X-Forwarded-For": "198.51.100.99", "Authorization": "Bearer bad"}
        assert (await client.post("/api/queue/skip", headers=headers)).status_code == 429


async def test_audit_lines_name_action_never_token(
    api_app: FastAPI, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=AUDIT_LOGGER)
    async with running(api_app) as client:
        await client.post("/api/queue/clear", headers=AUTH)
        await client.post("/api/queue/clear", headers={"Authorization": "Bearer secret-guess"})
    records = [r for r in caplog.records if r.name == AUDIT_LOGGER]
    assert [(r.action, r.outcome) for r in records] == [  # type: ignore[attr-defined]
        ("queue.clear", "ok"),
        ("auth", "invalid_token"),
    ]
    ok = records[0]
    assert ok.identity == "openclaw@api" and ok.client_ip == "127.0.0.1"  # type: ignore[attr-defined]
    assert ok.path == "/api/queue/clear"  # type: ignore[attr-defined]
    for record in records:
        text = str(vars(record))
        assert TOKEN not in text and "secret-guess" not in text


def test_token_table_bad_named_tokens_refused(redis_server: RedisServer) -> None:
    for bad in ("s3cr3tvalue", "=s3cr3tvalue", "Bad Name=s3cr3tvalue", "name="):
        with pytest.raises(ValueError) as info:
            TokenTable.from_settings(build_settings(redis_server, api_tokens=bad))
        assert "s3cr3tvalue" not in str(info.value)


def test_token_table_matches_identity(redis_server: RedisServer) -> None:
    table = TokenTable.from_settings(
        build_settings(redis_server, api_tokens=f"bot={BOT_TOKEN}, ci=ci-token-xyz")
    )
    main, bot, ci = table.match(TOKEN), table.match(BOT_TOKEN), table.match("ci-token-xyz")
    assert main is not None and main.email == "openclaw@api"
    assert bot is not None and bot.email == "bot@api"
    assert ci is not None and ci.email == "ci@api"
    assert table.match("") is None and table.match(TOKEN + " ") is None


@pytest.mark.parametrize(
    ("header", "token"),
    [(None, None), ("", None), ("Bearer", None), ("Bearer  x", None), ("Token x", None),
     ("Bearer x", "x"), ("bearer x", "x")],
)  # fmt: skip
def test_parse_bearer_shapes(header: str | None, token: str | None) -> None:
    assert parse_bearer(header) == token


async def test_auth_bad_tokens_from_one_ipv6_64_share_a_limit(redis_clean: RedisServer) -> None:
    app = create_app(build_settings(redis_clean, api_bad_token_max=2))
    async with running(app) as client:
        for host in ("2001:db8:7:1::1", "2001:db8:7:1::2"):
            headers = {"X-Forwarded-For": host, "Authorization": "Bearer guess"}
            assert (await client.post("/api/queue/skip", headers=headers)).status_code == 403
        headers = {"X-Forwarded-For": "2001:db8:7:1:ffff::3", "Authorization": "Bearer guess"}
        assert (await client.post("/api/queue/skip", headers=headers)).status_code == 429
        other = {"X-Forwarded-For": "2001:db8:7:2::1", "Authorization": "Bearer guess"}
        assert (await client.post("/api/queue/skip", headers=other)).status_code == 403


async def test_auth_every_schema_route_401_without_token_and_not_401_with_one(
    api_app: FastAPI,
) -> None:
    async with running(api_app) as client:
        routes = await _guarded_routes(client)
        for method, path in routes:
            if path == "/api/events":
                continue  # a stream: the live-server matrix above covers it
            r = await client.request(method, path)
            assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer", path
            r = await client.request(method, path, headers=AUTH)
            assert r.status_code not in (401, 403), (method, path, r.text)


async def test_auth_unknown_api_paths_404_with_or_without_token(api_app: FastAPI) -> None:
    async with running(api_app) as client:
        for headers in ({}, AUTH, {"Authorization": "Bearer wrong"}):
            for path in ("/api/nope", "/api/queue/", "/api/health/", "/api"):
                r = await client.get(path, headers=headers)
                assert r.status_code == 404 and set(r.json()) == {"error"}, (path, headers)


async def test_auth_get_queue_with_and_without_query_same_answer(
    api_client: httpx.AsyncClient, redis_api: Redis
) -> None:
    await domain.add_item(redis_api, track(1), "a@example.com")
    plain = await api_client.get("/api/queue")
    queried = await api_client.get("/api/queue?via=anything")
    assert plain.status_code == queried.status_code == 200
    assert plain.json() == queried.json() and len(plain.json()["queue"]) == 1
    assert plain.headers["content-type"] == "application/json"


async def test_auth_get_queue_bad_tokens_answered_and_audited_once(
    api_app: FastAPI, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=AUDIT_LOGGER)
    async with running(api_app) as client:
        r = await client.get("/api/queue")
        assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
        r = await client.get("/api/queue", headers={"Authorization": "Bearer wrong"})
        assert r.status_code == 403 and r.json() == {"error": "Invalid API token"}
        assert (await client.get("/api/queue", headers=AUTH)).status_code == 200
    outcomes = [r.outcome for r in caplog.records if r.name == AUDIT_LOGGER]  # type: ignore[attr-defined]
    assert outcomes == ["missing_token", "invalid_token"]


async def test_auth_wrong_token_while_redis_down_still_403(
    own_redis: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    app = create_app(build_settings(own_redis))
    async with running(app) as client:
        own_redis.halt(signal.SIGKILL)
        try:
            r = await client.post("/api/queue/skip", headers={"Authorization": "Bearer wrong"})
            assert r.status_code == 403 and r.json() == {"error": "Invalid API token"}
            assert "could not count an invalid API token" in caplog.text
            r = await client.post("/api/queue/skip", headers=AUTH)
            assert r.status_code == 503 and set(r.json()) == {"error"}
        finally:
            own_redis.launch()


async def test_auth_block_ends_when_the_clock_passes_it(redis_clean: RedisServer) -> None:
    settings = build_settings(redis_clean)
    now = [1000.0]
    guard = BearerAuth(
        create_app(settings),
        tokens=TokenTable.from_settings(settings),
        settings=settings,
        guarded=GuardedPaths(["/api/queue"]),
        scopes=RouteScopes([]),
        clock=lambda: now[0],
    )
    guard._block("203.0.113.9", 30)
    assert guard._blocked_for("203.0.113.9") == 30
    now[0] += 29.5
    assert guard._blocked_for("203.0.113.9") == 1
    now[0] += 1
    assert guard._blocked_for("203.0.113.9") == 0


def test_guarded_paths_exact_patterns_and_public() -> None:
    paths = GuardedPaths(["/api/health", "/api/queue", "/api/queue/{item_id}/votes", "/other"])
    assert "/api/queue" in paths and "/api/queue/12/votes" in paths
    assert "/api/health" not in paths and "/other" not in paths
    assert "/api/queue/" not in paths and "/api/queue/1/2/votes" not in paths


def test_identity_of_outside_the_guard_is_an_error() -> None:
    scope = {"type": "http", "path": "/api/x", "headers": []}
    with pytest.raises(RuntimeError):
        identity_of(scope)
    request = Request({**scope, "state": {"identity": ApiIdentity("a@api", "a")}})
    assert identity_of(request.scope) == ApiIdentity("a@api", "a")


def test_token_table_duplicate_token_keeps_the_first_name(redis_server: RedisServer) -> None:
    table = TokenTable.from_settings(
        build_settings(redis_server, api_tokens=f"bot={BOT_TOKEN},twin={BOT_TOKEN}")
    )
    assert table.match(BOT_TOKEN) == ApiIdentity("bot@api", "bot", "admin")
