from __future__ import annotations

import base64
import hashlib
import json
import logging
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import respx
from fastapi import FastAPI
from joserfc import jwt
from joserfc.jwk import OctKey, RSAKey

from services.web.app import create_app
from services.web.identity.sessions import digest
from services.web.settings import WebSettings
from services.web.state import web_state
from shared import keys
from tests.services.web.conftest import build_settings, dev_sign_in, make_client, running
from tests.support.redis_server import RedisServer

ISSUER = "https://idp.test"
CLIENT_ID = "andre-web-client"
CLIENT_SECRET = "idp-client-secret-0123456789"


DISCOVERY = f"{ISSUER}/.well-known/openid-configuration"


def discovery(**overrides: object) -> dict[str, object]:
    return {
        "issuer": ISSUER,
        "authorization_endpoint": f"{ISSUER}/authorize",
        "token_endpoint": f"{ISSUER}/token",
        "jwks_uri": f"{ISSUER}/jwks",
        "id_token_signing_alg_values_supported": ["RS256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic"],
        **overrides,
    }


@pytest.fixture(autouse=True)
def _audit_captured(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="andre.audit")


@pytest.fixture(scope="module")
def signing_key() -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": "key-1"})


@dataclass
class Provider:
    key: RSAKey
    claims: dict[str, Any] = field(default_factory=dict)
    sign_with: RSAKey | None = None
    header: dict[str, Any] = field(default_factory=lambda: {"alg": "RS256", "kid": "key-1"})
    token_requests: list[httpx.Request] = field(default_factory=list)
    mock: respx.MockRouter | None = None

    def id_token(self, nonce: str) -> str:
        now = int(time.time())
        claims = {
            "iss": ISSUER,
            "aud": CLIENT_ID,
            "sub": "1234567890",
            "email": "carol@example.com",
            "email_verified": True,
            "name": "Carol",
            "nonce": nonce,
            "iat": now,
            "exp": now + 300,
        }
        claims.update(self.claims)
        claims = {k: v for k, v in claims.items() if v is not None}
        return jwt.encode(self.header, claims, self.sign_with or self.key)


@pytest.fixture
def provider(signing_key: RSAKey) -> Iterator[Provider]:
    prov = Provider(key=signing_key)
    nonces: dict[str, str] = {}

    def token(request: httpx.Request) -> httpx.Response:
        prov.token_requests.append(request)
        form = parse_qs(request.content.decode())
        nonce = nonces.get(form["code"][0], "")
        return httpx.Response(200, json={"id_token": prov.id_token(nonce), "token_type": "Bearer"})

    prov.nonces = nonces  # type: ignore[attr-defined]
    with respx.mock(assert_all_called=False) as mock:
        prov.mock = mock
        mock.get(DISCOVERY, name="discovery").respond(json=discovery())
        mock.get(f"{ISSUER}/jwks", name="jwks").respond(
            json={"keys": [signing_key.as_dict(private=False)]}
        )
        mock.post(f"{ISSUER}/token", name="token").mock(side_effect=token)
        yield prov


def oidc_settings(redis_server: RedisServer, **overrides: object) -> WebSettings:
    values: dict[str, object] = {
        "oidc_issuer": ISSUER,
        "oidc_client_id": CLIENT_ID,
        "oidc_client_secret": CLIENT_SECRET,
        "allowed_email_domains": "example.com",
        "admin_emails": "carol@example.com",
    }
    values.update(overrides)
    return build_settings(redis_server, **values)


@pytest.fixture
async def oidc_app(redis_clean: RedisServer, provider: Provider) -> AsyncIterator[FastAPI]:
    async with running(create_app(oidc_settings(redis_clean))) as app:
        yield app


@pytest.fixture
async def browser(oidc_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with make_client(oidc_app) as client:
        yield client


async def start(client: httpx.AsyncClient, provider: Provider, code: str = "code-1") -> str:
    resp = await client.get("/login/")
    assert resp.status_code == 302
    query = parse_qs(urlsplit(resp.headers["location"]).query)
    provider.nonces[code] = query["nonce"][0]  # type: ignore[attr-defined]
    return query["state"][0]


def refusals(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        str(getattr(r, "reason", ""))
        for r in caplog.records
        if r.name == "andre.audit" and getattr(r, "action", "") == "login_failed"
    ]


async def session_exists(redis_server: RedisServer, session_id: str) -> bool:
    redis = redis_server.client("andre-web")
    try:
        return bool(await redis.exists(keys.session(digest(session_id))))
    finally:
        await redis.aclose()


async def test_login_redirect_carries_state_nonce_and_s256_pkce(
    browser: httpx.AsyncClient,
) -> None:
    resp = await browser.get("/login/")
    url = urlsplit(resp.headers["location"])
    query = {k: v[0] for k, v in parse_qs(url.query).items()}
    assert f"{url.scheme}://{url.netloc}{url.path}" == f"{ISSUER}/authorize"
    assert query["response_type"] == "code"
    assert query["client_id"] == CLIENT_ID
    assert query["redirect_uri"] == "https://andre.test/auth/callback"
    assert query["code_challenge_method"] == "S256"
    assert len(query["state"]) >= 32 and len(query["nonce"]) >= 32
    assert "openid" in query["scope"].split() and "email" in query["scope"].split()


async def test_callback_good_login_creates_session_and_uses_pkce(
    browser: httpx.AsyncClient, provider: Provider, oidc_app: FastAPI
) -> None:
    login = await browser.get("/login/")
    query = parse_qs(urlsplit(login.headers["location"]).query)
    provider.nonces["code-1"] = query["nonce"][0]  # type: ignore[attr-defined]
    resp = await browser.get(
        "/auth/callback", params={"state": query["state"][0], "code": "code-1"}
    )
    assert resp.status_code == 303
    assert resp.headers["location"] == "/"
    assert browser.cookies.get("andre_session")
    sent = parse_qs(provider.token_requests[0].content.decode())
    verifier = sent["code_verifier"][0]
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=")
    assert challenge.decode() == query["code_challenge"][0]
    auth = provider.token_requests[0].headers["authorization"]
    assert base64.b64decode(auth.removeprefix("Basic ")).decode() == f"{CLIENT_ID}:{CLIENT_SECRET}"
    assert CLIENT_SECRET not in resp.text


async def test_callback_good_login_rotates_pre_login_session_id(
    oidc_app: FastAPI, provider: Provider, redis_clean: RedisServer
) -> None:
    async with make_client(oidc_app) as client:
        state = await start(client, provider)
        # The browser already holds a session id (e.g. planted by someone else): it must die.
        who = await dev_sign_in(oidc_app, redis_clean, "mallory@example.com")
        old_id = who.session_id
        await who.client.aclose()
        client.cookies.set("andre_session", old_id, domain="andre.test")
        assert await session_exists(redis_clean, old_id)
        resp = await client.get("/auth/callback", params={"state": state, "code": "code-1"})
        assert resp.status_code == 303
        new_id = resp.cookies["andre_session"]
        assert new_id != old_id
        assert not await session_exists(redis_clean, old_id)
        assert await session_exists(redis_clean, new_id)


async def test_callback_unknown_state_refused(
    browser: httpx.AsyncClient, provider: Provider, caplog: pytest.LogCaptureFixture
) -> None:
    await start(browser, provider)
    resp = await browser.get("/auth/callback", params={"state": "forged-state", "code": "code-1"})
    assert resp.status_code == 400
    assert "andre_session" not in resp.cookies
    assert not provider.token_requests
    assert refusals(caplog) == ["bad_state"]


async def test_callback_state_reused_refused(
    browser: httpx.AsyncClient, provider: Provider
) -> None:
    state = await start(browser, provider)
    first = await browser.get("/auth/callback", params={"state": state, "code": "code-1"})
    assert first.status_code == 303
    browser.cookies.clear()
    again = await browser.get("/auth/callback", params={"state": state, "code": "code-1"})
    assert again.status_code == 400


async def test_callback_other_browser_refused(
    oidc_app: FastAPI,
    browser: httpx.AsyncClient,
    provider: Provider,
    caplog: pytest.LogCaptureFixture,
) -> None:
    state = await start(browser, provider)
    async with make_client(oidc_app) as victim:
        resp = await victim.get("/auth/callback", params={"state": state, "code": "code-1"})
    assert resp.status_code == 400
    assert "andre_session" not in resp.cookies
    assert refusals(caplog) == ["binding"]


async def test_callback_bad_nonce_refused(
    browser: httpx.AsyncClient, provider: Provider, caplog: pytest.LogCaptureFixture
) -> None:
    state = await start(browser, provider)
    provider.claims["nonce"] = "not-the-nonce-we-sent"
    resp = await browser.get("/auth/callback", params={"state": state, "code": "code-1"})
    assert resp.status_code == 403
    assert "andre_session" not in resp.cookies
    assert refusals(caplog) == ["bad_nonce"]


async def test_callback_missing_nonce_refused(
    browser: httpx.AsyncClient, provider: Provider, caplog: pytest.LogCaptureFixture
) -> None:
    state = await start(browser, provider)
    provider.claims["nonce"] = None
    resp = await browser.get("/auth/callback", params={"state": state, "code": "code-1"})
    assert resp.status_code == 403
    assert refusals(caplog) == ["bad_nonce"]


async def test_callback_unverified_email_refused(
    browser: httpx.AsyncClient, provider: Provider, caplog: pytest.LogCaptureFixture
) -> None:
    state = await start(browser, provider)
    provider.claims["email_verified"] = False
    resp = await browser.get("/auth/callback", params={"state": state, "code": "code-1"})
    assert resp.status_code == 403
    assert "not verified" in resp.text
    assert "andre_session" not in resp.cookies
    assert refusals(caplog) == ["email_unverified"]


async def test_callback_foreign_domain_refused(
    browser: httpx.AsyncClient, provider: Provider, caplog: pytest.LogCaptureFixture
) -> None:
    state = await start(browser, provider)
    provider.claims["email"] = "eve@evil.example"
    resp = await browser.get("/auth/callback", params={"state": state, "code": "code-1"})
    assert resp.status_code == 403
    assert "andre_session" not in resp.cookies
    assert refusals(caplog) == ["domain"]


async def test_callback_lookalike_domain_refused(
    browser: httpx.AsyncClient, provider: Provider, caplog: pytest.LogCaptureFixture
) -> None:
    state = await start(browser, provider)
    provider.claims["email"] = "eve@notexample.com"
    resp = await browser.get("/auth/callback", params={"state": state, "code": "code-1"})
    assert resp.status_code == 403
    assert refusals(caplog) == ["domain"]


async def test_callback_wrong_audience_refused(
    browser: httpx.AsyncClient, provider: Provider, caplog: pytest.LogCaptureFixture
) -> None:
    state = await start(browser, provider)
    provider.claims["aud"] = "someone-else"
    resp = await browser.get("/auth/callback", params={"state": state, "code": "code-1"})
    assert resp.status_code == 403
    assert refusals(caplog) == ["claims: invalid_claim"]


async def test_callback_wrong_issuer_refused(
    browser: httpx.AsyncClient, provider: Provider, caplog: pytest.LogCaptureFixture
) -> None:
    state = await start(browser, provider)
    provider.claims["iss"] = "https://evil.example"
    resp = await browser.get("/auth/callback", params={"state": state, "code": "code-1"})
    assert resp.status_code == 403
    assert refusals(caplog) == ["claims: invalid_claim"]


async def test_callback_expired_token_refused(
    browser: httpx.AsyncClient, provider: Provider, caplog: pytest.LogCaptureFixture
) -> None:
    state = await start(browser, provider)
    provider.claims["exp"] = int(time.time()) - 3600
    resp = await browser.get("/auth/callback", params={"state": state, "code": "code-1"})
    assert resp.status_code == 403
    assert refusals(caplog) == ["claims: expired_token"]


async def test_callback_foreign_signature_refused(
    browser: httpx.AsyncClient, provider: Provider, caplog: pytest.LogCaptureFixture
) -> None:
    state = await start(browser, provider)
    provider.sign_with = RSAKey.generate_key(2048, parameters={"kid": "key-1"})
    resp = await browser.get("/auth/callback", params={"state": state, "code": "code-1"})
    assert resp.status_code == 403
    assert "andre_session" not in resp.cookies
    assert refusals(caplog) == ["bad_signature"]


async def test_callback_provider_error_refused(
    browser: httpx.AsyncClient, provider: Provider, caplog: pytest.LogCaptureFixture
) -> None:
    state = await start(browser, provider)
    resp = await browser.get("/auth/callback", params={"state": state, "error": "access_denied"})
    assert resp.status_code == 403
    assert not provider.token_requests
    assert refusals(caplog) == ["provider_error"]


async def test_callback_admin_email_gets_admin_session(
    browser: httpx.AsyncClient, provider: Provider, redis_clean: RedisServer
) -> None:
    state = await start(browser, provider)
    resp = await browser.get("/auth/callback", params={"state": state, "code": "code-1"})
    redis = redis_clean.client("andre-web")
    try:
        raw = await redis.get(keys.session(digest(resp.cookies["andre_session"])))
    finally:
        await redis.aclose()
    record = json.loads(raw or "{}")
    assert record["email"] == "carol@example.com"
    assert record["is_admin"] is True and record["is_guest"] is False


async def test_login_signed_in_redirects_home(
    oidc_app: FastAPI, provider: Provider, redis_clean: RedisServer
) -> None:
    who = await dev_sign_in(oidc_app, redis_clean, "carol@example.com")
    resp = await who.client.get("/login/")
    await who.client.aclose()
    assert resp.status_code == 302
    assert resp.headers["location"] == "/"


async def test_login_not_configured_dev_loopback_goes_to_dev_login(
    web_client: httpx.AsyncClient,
) -> None:
    resp = await web_client.get("/login/")
    assert resp.status_code == 302
    assert resp.headers["location"] == "/login/dev"


async def test_login_starts_rate_limited_per_ip_429(
    oidc_app: FastAPI, redis_clean: RedisServer
) -> None:
    limit = web_state(oidc_app).limits.login_start_ip
    redis = redis_clean.client("andre-web")
    try:
        await redis.set(limit.key("198.51.100.7"), 120, ex=600)
    finally:
        await redis.aclose()
    async with make_client(oidc_app, client_ip="198.51.100.7") as client:
        resp = await client.get("/login/")
    assert resp.status_code == 429
    assert int(resp.headers["retry-after"]) > 0


async def test_login_signed_out_flag_shows_page_not_provider(browser: httpx.AsyncClient) -> None:
    resp = await browser.get("/login/", params={"signed_out": "1"})
    assert resp.status_code == 200
    assert "signed out" in resp.text.lower()
    assert 'href="/login/"' in resp.text


@pytest.mark.parametrize(
    "email", ["eve@evil.example@example.com", "eve@evil.example\n@example.com", "<eve>@example.com"]
)
async def test_callback_malformed_email_refused(
    browser: httpx.AsyncClient, provider: Provider, caplog: pytest.LogCaptureFixture, email: str
) -> None:
    state = await start(browser, provider)
    provider.claims["email"] = email
    resp = await browser.get("/auth/callback", params={"state": state, "code": "code-1"})
    assert resp.status_code == 403
    assert "andre_session" not in resp.cookies
    assert refusals(caplog) == ["bad_email"]


# --- The provider slow, down or odd (STYLE rule 16), and the client's own protocol choices ---


def routes(provider: Provider) -> respx.MockRouter:
    assert provider.mock is not None
    return provider.mock


async def sign_in_once(app: FastAPI, provider: Provider, code: str) -> httpx.Response:
    """A whole sign-in from a fresh browser; the callback's response."""
    async with make_client(app) as client:
        state = await start(client, provider, code)
        return await client.get("/auth/callback", params={"state": state, "code": code})


async def test_login_provider_down_clear_502_no_flow(
    browser: httpx.AsyncClient, provider: Provider, caplog: pytest.LogCaptureFixture
) -> None:
    routes(provider)["discovery"].respond(503)
    resp = await browser.get("/login/")
    assert resp.status_code == 502
    assert "not answering" in resp.text
    assert refusals(caplog) == ["discovery: HTTP 503"]


async def test_login_provider_unreachable_clear_502(
    browser: httpx.AsyncClient, provider: Provider, caplog: pytest.LogCaptureFixture
) -> None:
    routes(provider)["discovery"].side_effect = httpx.ConnectTimeout("slow")
    resp = await browser.get("/login/")
    assert resp.status_code == 502
    assert refusals(caplog) == ["discovery: ConnectTimeout"]


async def test_login_discovery_for_another_issuer_refused(
    browser: httpx.AsyncClient, provider: Provider, caplog: pytest.LogCaptureFixture
) -> None:
    routes(provider)["discovery"].respond(json=discovery(issuer="https://evil.test"))
    resp = await browser.get("/login/")
    assert resp.status_code == 502
    assert refusals(caplog) == ["discovery: issuer mismatch"]


async def test_callback_token_endpoint_down_502(
    browser: httpx.AsyncClient, provider: Provider, caplog: pytest.LogCaptureFixture
) -> None:
    state = await start(browser, provider)
    routes(provider)["token"].side_effect = None
    routes(provider)["token"].respond(500, text="oops")
    resp = await browser.get("/auth/callback", params={"state": state, "code": "code-1"})
    assert resp.status_code == 502
    assert "andre_session" not in resp.cookies
    assert refusals(caplog) == ["token: HTTP 500"]


async def test_callback_token_endpoint_garbage_502(
    browser: httpx.AsyncClient, provider: Provider, caplog: pytest.LogCaptureFixture
) -> None:
    state = await start(browser, provider)
    routes(provider)["token"].side_effect = None
    routes(provider)["token"].respond(200, text="<html>gateway</html>")
    resp = await browser.get("/auth/callback", params={"state": state, "code": "code-1"})
    assert resp.status_code == 502
    assert refusals(caplog) == ["token: not JSON"]


async def test_callback_code_refused_by_provider_400(
    browser: httpx.AsyncClient, provider: Provider, caplog: pytest.LogCaptureFixture
) -> None:
    state = await start(browser, provider)
    routes(provider)["token"].side_effect = None
    routes(provider)["token"].respond(400, json={"error": "invalid_grant"})
    resp = await browser.get("/auth/callback", params={"state": state, "code": "code-1"})
    assert resp.status_code == 400
    assert refusals(caplog) == ["token_rejected"]


async def test_callback_client_secret_post_when_provider_takes_only_that(
    oidc_app: FastAPI, provider: Provider
) -> None:
    methods = ["client_secret_post"]
    routes(provider)["discovery"].respond(
        json=discovery(token_endpoint_auth_methods_supported=methods)
    )
    resp = await sign_in_once(oidc_app, provider, "code-1")
    assert resp.status_code == 303
    sent = provider.token_requests[0]
    form = parse_qs(sent.content.decode())
    assert form["client_id"] == [CLIENT_ID] and form["client_secret"] == [CLIENT_SECRET]
    assert form["grant_type"] == ["authorization_code"]
    assert form["redirect_uri"] == ["https://andre.test/auth/callback"]
    assert "authorization" not in sent.headers


async def test_callback_basic_auth_form_urlencodes_both_halves(
    redis_clean: RedisServer, provider: Provider
) -> None:
    secret = "se:cr%et+ü"
    async with running(create_app(oidc_settings(redis_clean, oidc_client_secret=secret))) as app:
        resp = await sign_in_once(app, provider, "code-1")
    assert resp.status_code == 303
    auth = provider.token_requests[0].headers["authorization"]
    pair = base64.b64decode(auth.removeprefix("Basic ")).decode()
    assert pair == f"{CLIENT_ID}:se%3Acr%25et%2B%C3%BC"  # RFC 6749 §2.3.1
    assert "client_secret" not in parse_qs(provider.token_requests[0].content.decode())


async def test_callback_hs256_token_keyed_with_client_secret_refused(
    browser: httpx.AsyncClient, provider: Provider, caplog: pytest.LogCaptureFixture
) -> None:
    """Algorithm confusion: the client secret is never a verification key."""
    state = await start(browser, provider)
    provider.header = {"alg": "HS256", "kid": "key-1"}
    provider.sign_with = OctKey.import_key(CLIENT_SECRET)  # type: ignore[assignment]
    resp = await browser.get("/auth/callback", params={"state": state, "code": "code-1"})
    assert resp.status_code == 403
    assert "andre_session" not in resp.cookies
    assert refusals(caplog) == ["bad_signature"]


async def test_callback_unsigned_token_refused(
    browser: httpx.AsyncClient, provider: Provider, caplog: pytest.LogCaptureFixture
) -> None:
    state = await start(browser, provider)
    nonce = provider.nonces["code-1"]  # type: ignore[attr-defined]
    signed = provider.id_token(nonce)
    payload = signed.split(".")[1]
    header = base64.urlsafe_b64encode(b'{"alg":"none","kid":"key-1"}').rstrip(b"=").decode()
    unsigned = f"{header}.{payload}."

    def token(request: httpx.Request) -> httpx.Response:
        provider.token_requests.append(request)
        return httpx.Response(200, json={"id_token": unsigned, "token_type": "Bearer"})

    routes(provider)["token"].side_effect = token
    resp = await browser.get("/auth/callback", params={"state": state, "code": "code-1"})
    assert resp.status_code == 403
    assert "andre_session" not in resp.cookies
    assert refusals(caplog) in (["bad_signature"], ["malformed_token"])


async def test_callback_rotated_key_refetches_jwks_once_past_the_throttle(
    oidc_app: FastAPI, provider: Provider, signing_key: RSAKey
) -> None:
    now = [1000.0]
    web_state(oidc_app).oidc.clock = lambda: now[0]
    assert (await sign_in_once(oidc_app, provider, "code-1")).status_code == 303
    jwks = routes(provider)["jwks"]
    assert jwks.call_count == 1

    new_key = RSAKey.generate_key(2048, parameters={"kid": "key-2"})
    published = [signing_key.as_dict(private=False), new_key.as_dict(private=False)]
    jwks.respond(json={"keys": published})
    provider.header = {"alg": "RS256", "kid": "key-2"}
    provider.sign_with = new_key
    # Within a minute an unknown kid does not refetch (forged kids cannot hammer the provider).
    assert (await sign_in_once(oidc_app, provider, "code-2")).status_code == 403
    assert jwks.call_count == 1
    now[0] += 61
    assert (await sign_in_once(oidc_app, provider, "code-3")).status_code == 303
    assert jwks.call_count == 2
    # The new set is cached: the next sign-in with the new key fetches nothing.
    assert (await sign_in_once(oidc_app, provider, "code-4")).status_code == 303
    assert jwks.call_count == 2


async def test_callback_jwks_down_clear_502(
    browser: httpx.AsyncClient, provider: Provider, caplog: pytest.LogCaptureFixture
) -> None:
    state = await start(browser, provider)
    routes(provider)["jwks"].respond(503)
    resp = await browser.get("/auth/callback", params={"state": state, "code": "code-1"})
    assert resp.status_code == 502
    assert refusals(caplog) == ["jwks: HTTP 503"]
