from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
import pytest
from fastapi import FastAPI

from services.web.app import create_app
from services.web.auth.guests import issue_guest
from services.web.identity.csrf import form_token as derive
from services.web.identity.sessions import digest
from services.web.settings import WebSettings
from services.web.state import web_state
from shared import keys
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

EVIL = "https://evil.example"
PROD = {
    "env": "prod",
    "oidc_client_id": "andre-web-client",
    "oidc_client_secret": "idp-client-secret-0123456789",
    "allowed_email_domains": "example.com",
}


def cookie_flags(resp: httpx.Response, name: str) -> list[str]:
    cookie = next(h for h in resp.headers.get_list("set-cookie") if h.startswith(name + "="))
    return [part.strip().lower() for part in cookie.split(";")[1:]]


@pytest.fixture
async def prod_app(redis_clean: RedisServer) -> AsyncIterator[FastAPI]:
    async with running(create_app(build_settings(redis_clean, **PROD))) as app:
        yield app


@pytest.mark.parametrize("path", ["/queue/add", "/logout/", "/health", "/spotify/token"])
async def test_cors_preflight_foreign_origin_gets_no_cors_headers(
    web_client: httpx.AsyncClient, path: str
) -> None:
    resp = await web_client.options(
        path,
        headers={
            "Origin": EVIL,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "x-csrf-token, content-type",
        },
    )
    assert not any(h.lower().startswith("access-control-") for h in resp.headers)


async def test_cors_get_foreign_origin_gets_no_allow_origin(signed_in: SignedIn) -> None:
    resp = await signed_in.client.get("/spotify/token", headers={"Origin": EVIL})
    assert "access-control-allow-origin" not in resp.headers
    assert "access-control-allow-credentials" not in resp.headers


async def test_security_headers_on_pages_and_json(web_client: httpx.AsyncClient) -> None:
    for path in ("/health", "/login/dev", "/guest/"):
        resp = await web_client.get(path)
        assert resp.headers["x-content-type-options"] == "nosniff"
        assert resp.headers["x-frame-options"] == "DENY"
        assert "default-src 'self'" in resp.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in resp.headers["content-security-policy"]
        assert "unsafe-inline" not in resp.headers["content-security-policy"]
        assert resp.headers["cache-control"] == "no-store"
        assert resp.headers["referrer-policy"]


async def test_security_headers_hsts_only_in_prod(
    web_client: httpx.AsyncClient, prod_app: FastAPI
) -> None:
    assert "strict-transport-security" not in (await web_client.get("/health")).headers
    async with make_client(prod_app) as client:
        resp = await client.get("/health")
    assert resp.headers["strict-transport-security"].startswith("max-age=")


async def test_static_assets_cacheable(web_client: httpx.AsyncClient) -> None:
    resp = await web_client.get("/static/app.css")
    assert resp.status_code == 200
    assert resp.headers.get("cache-control") != "no-store"


async def test_session_cookie_flags_prod_host_prefix(
    prod_app: FastAPI, redis_clean: RedisServer
) -> None:
    redis = redis_clean.client("andre-web")
    try:
        passphrase, _ = await issue_guest(redis, "guest@partner.example", 1, "root@example.com")
    finally:
        await redis.aclose()
    async with make_client(prod_app) as client:
        page = await client.get("/guest/")
        pre = cookie_flags(page, "__Host-andre-pre")
        resp = await client.post(
            "/guest/",
            data={
                "email": "guest@partner.example",
                "password": passphrase,
                "csrf_token": form_token(page.text),
            },
            headers=same_origin(),
        )
    assert resp.status_code == 303
    flags = cookie_flags(resp, "__Host-andre")
    for got in (flags, pre):
        assert {"secure", "httponly", "samesite=lax", "path=/"} <= set(got)
        assert not any(f.startswith("domain=") for f in got)
    assert not any(f.startswith(("max-age", "expires")) for f in flags)


async def test_dev_login_prod_loopback_404(prod_app: FastAPI) -> None:
    async with make_client(prod_app) as client:
        assert (await client.get("/login/dev")).status_code == 404
        resp = await client.post(
            "/login/dev", data={"email": "a@example.com"}, headers=same_origin()
        )
    assert resp.status_code == 404


async def test_session_cookie_holds_only_random_id_redis_holds_digest(
    signed_in: SignedIn, redis_clean: RedisServer
) -> None:
    session_id = signed_in.session_id
    assert len(session_id) >= 43
    redis = redis_clean.client("andre-web")
    try:
        assert not await redis.exists(keys.session(session_id))
        raw = await redis.get(keys.session(digest(session_id)))
        ttl = await redis.ttl(keys.session(digest(session_id)))
    finally:
        await redis.aclose()
    assert raw is not None and session_id not in raw
    assert 0 < ttl <= 12 * 3600


async def test_session_absolute_timeout_ends_session(
    signed_in: SignedIn, redis_clean: RedisServer
) -> None:
    key = keys.session(digest(signed_in.session_id))
    redis = redis_clean.client("andre-web")
    try:
        record = json.loads(await redis.get(key) or "{}")
        record["expires_at"] = time.time() - 1
        await redis.set(key, json.dumps(record), ex=3600)
        resp = await signed_in.client.get("/spotify/token")
        assert resp.status_code == 401
        assert not await redis.exists(key)
    finally:
        await redis.aclose()


async def test_session_idle_timeout_is_redis_ttl(
    redis_clean: RedisServer,
) -> None:
    settings = build_settings(redis_clean, session_idle_timeout_s=60)
    async with running(create_app(settings)) as app:
        who = await dev_sign_in(app, redis_clean, "alice@example.com")
        redis = redis_clean.client("andre-web")
        try:
            key = keys.session(digest(who.session_id))
            assert 0 < await redis.ttl(key) <= 60
            await redis.expire(key, 5)
            await who.client.get("/spotify/token")  # any use pushes the idle clock back
            assert await redis.ttl(key) > 5
            await redis.delete(key)  # what Redis does after 60 s without a request
            assert (await who.client.get("/spotify/token")).status_code == 401
        finally:
            await redis.aclose()
            await who.client.aclose()


async def test_logout_with_csrf_revokes_session(
    signed_in: SignedIn, redis_clean: RedisServer
) -> None:
    resp = await signed_in.client.post("/logout/")
    assert resp.status_code == 200
    assert "andre_session=" in resp.headers["set-cookie"]
    assert "max-age=0" in resp.headers["set-cookie"].lower()
    redis = redis_clean.client("andre-web")
    try:
        assert not await redis.exists(keys.session(digest(signed_in.session_id)))
    finally:
        await redis.aclose()
    async with signed_in.bare() as bare:
        bare.cookies.set("andre_session", signed_in.session_id, domain="andre.test")
        assert (await bare.get("/spotify/token")).status_code == 401


async def test_logout_form_field_csrf_accepted(signed_in: SignedIn) -> None:
    async with signed_in.bare() as bare:
        resp = await bare.post(
            "/logout/", data={"csrf_token": signed_in.csrf_token}, headers=same_origin()
        )
    assert resp.status_code == 200
    assert (await signed_in.client.get("/spotify/token")).status_code == 401


async def test_logout_missing_csrf_403_session_kept(signed_in: SignedIn) -> None:
    async with signed_in.bare() as bare:
        resp = await bare.post("/logout/", headers=same_origin())
    assert resp.status_code == 403
    assert (await signed_in.client.get("/spotify/token")).status_code != 401


async def test_logout_foreign_origin_403(signed_in: SignedIn) -> None:
    resp = await signed_in.client.post("/logout/", headers={"Origin": EVIL})
    assert resp.status_code == 403
    assert (await signed_in.client.get("/spotify/token")).status_code != 401


async def test_logout_no_session_401(web_client: httpx.AsyncClient) -> None:
    resp = await web_client.post("/logout/", headers=same_origin())
    assert resp.status_code == 401
    assert resp.json() == {"error": "Not signed in"}


async def test_logout_spoofed_email_field_ignored(
    sign_in: Callable[[str], Awaitable[SignedIn]], signed_in: SignedIn
) -> None:
    bob = await sign_in("bob@example.com")
    resp = await signed_in.client.post("/logout/", data={"email": bob.email, "user": bob.email})
    assert resp.status_code == 200
    assert (await bob.client.get("/spotify/token")).status_code != 401
    assert (await signed_in.client.get("/spotify/token")).status_code == 401


async def test_queue_add_spoofed_email_credited_to_session_user(signed_in: SignedIn) -> None:
    from shared.spotify.demo import DemoCatalog

    track = (await DemoCatalog().search("a", limit=1))[0]
    resp = await signed_in.client.post(
        "/queue/add", json={"uri": track.uri, "email": "boss@example.com", "user": "boss@x"}
    )
    assert resp.status_code == 201, resp.text
    queue = (await signed_in.client.get("/queue")).json()["queue"]
    assert [item["user"] for item in queue] == ["alice@example.com"]


async def test_action_bad_json_body_400_not_422(signed_in: SignedIn) -> None:
    resp = await signed_in.client.post(
        "/queue/add", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert resp.status_code == 400
    assert set(resp.json()) == {"error"}


async def test_unknown_route_json_or_html_404(web_client: httpx.AsyncClient) -> None:
    as_json = await web_client.get("/nope")
    assert as_json.status_code == 404 and as_json.json() == {"error": "Not found"}
    as_html = await web_client.get("/nope", headers={"Accept": "text/html"})
    assert as_html.status_code == 404 and "text/html" in as_html.headers["content-type"]


async def test_error_pages_escape_user_text(web_client: httpx.AsyncClient) -> None:
    page = await web_client.get("/login/dev")
    resp = await web_client.post(
        "/login/dev",
        data={"email": "<script>alert(1)</script>", "csrf_token": form_token(page.text)},
        headers={**same_origin(), "Accept": "text/html"},
    )
    assert resp.status_code == 400
    assert "<script>alert(1)</script>" not in resp.text


async def test_public_url_origin_port_normalised(redis_clean: RedisServer) -> None:
    settings = build_settings(redis_clean, public_url="https://ANDRE.test:443/app")
    async with running(create_app(settings)) as app, make_client(app) as client:
        page = await client.get("/login/dev")
        resp = await client.post(
            "/login/dev",
            data={"email": "a@example.com", "csrf_token": form_token(page.text)},
            headers={"Origin": "https://andre.test"},  # as a browser writes it
        )
    assert resp.status_code == 303


@pytest.mark.parametrize(
    "origin",
    [
        "https://evil@andre.test",
        "https://andre.test/",
        "https://andre.test/queue",
        "HTTPS://ANDRE.TEST",
        "https://andre.test:443",
        "https://andre.test.",
        " https://andre.test",
    ],
)
async def test_action_origin_not_exactly_ours_403(signed_in: SignedIn, origin: str) -> None:
    resp = await signed_in.client.post("/queue/skip", headers={"Origin": origin})
    assert resp.status_code == 403
    assert resp.json() == {"error": "Cross-origin request refused"}
    assert (await signed_in.client.post("/queue/skip")).status_code != 403  # exact origin


async def test_dev_login_origin_with_user_info_403(web_client: httpx.AsyncClient) -> None:
    page = await web_client.get("/login/dev")
    resp = await web_client.post(
        "/login/dev",
        data={"email": "a@example.com", "csrf_token": form_token(page.text)},
        headers={"Origin": "https://evil@andre.test"},
    )
    assert resp.status_code == 403


@pytest.mark.parametrize(
    "email", ["a\u202eb@example.com", "\u200bboss@example.com", "x\u2066@a.io"]
)
async def test_dev_login_invisible_or_bidi_email_400(
    web_client: httpx.AsyncClient, email: str
) -> None:
    page = await web_client.get("/login/dev")
    resp = await web_client.post(
        "/login/dev",
        data={"email": email, "csrf_token": form_token(page.text)},
        headers=same_origin(),
    )
    assert resp.status_code == 400
    assert "andre_session" not in resp.cookies


async def test_presession_cookie_client_chosen_value_replaced(
    web_client: httpx.AsyncClient, web_settings: WebSettings
) -> None:
    chosen = "a" * 43
    web_client.cookies.set("andre_pre", chosen)
    page = await web_client.get("/login/dev")
    issued = page.cookies.get("andre_pre")
    assert issued and issued != chosen
    # A form token derived from the made-up value is refused.
    web_client.cookies.set("andre_pre", chosen)
    resp = await web_client.post(
        "/login/dev",
        data={"email": "a@example.com", "csrf_token": derive(web_settings, chosen, "dev-login")},
        headers=same_origin(),
    )
    assert resp.status_code == 403


async def test_presession_cookie_rotated_at_sign_in(web_client: httpx.AsyncClient) -> None:
    page = await web_client.get("/login/dev")
    before = web_client.cookies.get("andre_pre")
    assert before
    resp = await web_client.post(
        "/login/dev",
        data={"email": "a@example.com", "csrf_token": form_token(page.text)},
        headers=same_origin(),
    )
    assert resp.status_code == 303
    after = resp.cookies.get("andre_pre")
    assert after and after != before


async def test_session_guest_ttl_capped_by_invite_end(
    web_app: FastAPI, redis_clean: RedisServer
) -> None:
    redis = redis_clean.client("andre-web")
    try:
        passphrase, _ = await issue_guest(redis, "guest@partner.example", 1, "root@example.com")
        record = json.loads(await redis.hget(keys.GUESTS, "guest@partner.example") or "{}")
        record["expires_at"] = time.time() + 100
        await redis.hset(keys.GUESTS, "guest@partner.example", json.dumps(record))
        async with make_client(web_app) as client:
            page = await client.get("/guest/")
            resp = await client.post(
                "/guest/",
                data={
                    "email": "guest@partner.example",
                    "password": passphrase,
                    "csrf_token": form_token(page.text),
                },
                headers=same_origin(),
            )
            key = keys.session(digest(resp.cookies["andre_session"]))
            assert 0 < await redis.ttl(key) <= 100
            await client.get("/spotify/token")  # a use must not extend past the invite's end
            assert 0 < await redis.ttl(key) <= 100
    finally:
        await redis.aclose()


async def test_unexpected_error_500_still_carries_security_headers(
    web_app: FastAPI, web_client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    @web_app.get("/_boom")
    async def boom() -> None:
        raise RuntimeError("internal detail 0xdeadbeef")

    resp = await web_client.get("/_boom")
    assert resp.status_code == 500
    assert resp.json() == {"error": "Internal error"}
    assert resp.headers["content-security-policy"].startswith("default-src 'self'")
    assert resp.headers["cache-control"] == "no-store"
    assert resp.headers["x-content-type-options"] == "nosniff"
    assert any("0xdeadbeef" in (r.exc_text or str(r.exc_info)) for r in caplog.records)


async def test_prod_session_of_a_domain_no_longer_allowed_refused(
    prod_app: FastAPI, redis_clean: RedisServer
) -> None:
    state = web_state(prod_app)
    kept, _ = await state.sessions.create(
        email="ann@example.com", name="Ann", is_admin=False, is_guest=False
    )
    dropped, _ = await state.sessions.create(
        email="eve@former-partner.example", name="Eve", is_admin=False, is_guest=False
    )
    name = state.settings.session_cookie_name
    async with make_client(prod_app, cookies={name: kept}) as client:
        assert (await client.get("/queue")).status_code == 200
    async with make_client(prod_app, cookies={name: dropped}) as client:
        assert (await client.get("/queue")).status_code == 401


async def test_action_body_without_session_401_before_reading(web_app: FastAPI) -> None:
    received = 0

    async def body() -> AsyncIterator[bytes]:
        nonlocal received
        for _ in range(64):  # 64 MB offered, chunked (no Content-Length)
            received += 1
            yield b" " * (1024 * 1024)

    async with make_client(web_app) as client:
        resp = await client.post(
            "/queue/add",
            content=body(),
            headers={**same_origin(), "Content-Type": "application/json"},
        )
    assert resp.status_code == 401 and resp.json() == {"error": "Not signed in"}
    assert received <= 3  # at most ~1 MiB read and thrown away, never the 64 MB


async def test_action_body_over_cap_413(signed_in: SignedIn) -> None:
    big = json.dumps({"uri": "spotify:track:" + "1" * 22, "pad": "x" * 40_000})
    resp = await signed_in.client.post(
        "/queue/add", content=big, headers={"Content-Type": "application/json"}
    )
    assert resp.status_code == 413 and resp.json() == {"error": "Request body too large"}

    async def chunked() -> AsyncIterator[bytes]:
        for _ in range(8):
            yield b" " * 8192

    resp = await signed_in.client.post(
        "/queue/add", content=chunked(), headers={"Content-Type": "application/json"}
    )
    assert resp.status_code == 413


@pytest.mark.parametrize("host", ["localhost:9443@evil.com", "evil.example", "127.0.0.1:8002"])
async def test_trailing_slash_redirect_relative_whatever_host(
    web_client: httpx.AsyncClient, host: str
) -> None:
    resp = await web_client.get("/login?next=1", headers={"Host": host})
    assert resp.status_code == 307
    assert resp.headers["location"] == "/login/?next=1"
    assert "content-security-policy" in resp.headers
    resp = await web_client.post("/logout", headers={"Host": host})
    assert resp.status_code == 307 and resp.headers["location"] == "/logout/"


async def test_trailing_slash_redirect_only_to_routes(web_client: httpx.AsyncClient) -> None:
    assert (await web_client.get("/nope")).status_code == 404
    assert (await web_client.get(f"{PUBLIC_URL}//evil.com")).status_code == 404
    resp = await web_client.get("/health/")
    assert resp.status_code == 307 and resp.headers["location"] == "/health"
