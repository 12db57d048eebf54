from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from services.web.app import create_app
from services.web.state import web_state
from shared import keys
from tests.services.web.conftest import (
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
_PASSPHRASE = re.compile(r'class="guest-passphrase">([^<]+)<')


@pytest.fixture
async def app(redis_clean: RedisServer) -> AsyncIterator[FastAPI]:
    settings = build_settings(redis_clean, admin_emails=ADMIN)
    async with running(create_app(settings)) as app:
        yield app


@pytest.fixture
async def admin(app: FastAPI, redis_clean: RedisServer) -> AsyncIterator[SignedIn]:
    who = await dev_sign_in(app, redis_clean, ADMIN)
    yield who
    await who.client.aclose()


async def issue(admin: SignedIn, email: str, days: int = 1) -> str:
    resp = await admin.client.post(
        "/admin/guests",
        data={"action": "issue", "email": email, "days": str(days), "csrf_token": admin.csrf_token},
    )
    assert resp.status_code == 201, resp.text
    match = _PASSPHRASE.search(resp.text)
    assert match
    return match.group(1)


async def guest_post(
    client: httpx.AsyncClient, email: str, password: str, *, headers: dict[str, str] | None = None
) -> httpx.Response:
    page = await client.get("/guest/")
    return await client.post(
        "/guest/",
        data={"email": email, "password": password, "csrf_token": form_token(page.text)},
        headers=headers if headers is not None else same_origin(),
    )


async def test_admin_guests_anonymous_redirects_to_login(app: FastAPI) -> None:
    async with make_client(app) as client:
        resp = await client.get("/admin/guests")
    assert resp.status_code == 302
    assert resp.headers["location"] == "/login/"


async def test_admin_guests_non_admin_403(app: FastAPI, redis_clean: RedisServer) -> None:
    who = await dev_sign_in(app, redis_clean, "alice@example.com")
    page = await who.client.get("/admin/guests", headers={"Accept": "text/html"})
    post = await who.client.post(
        "/admin/guests",
        data={"action": "issue", "email": "g@x.example", "days": "1", "csrf_token": who.csrf_token},
    )
    await who.client.aclose()
    assert page.status_code == 403
    assert "text/html" in page.headers["content-type"]
    assert post.status_code == 403


async def test_admin_guests_page_carries_csrf_meta(admin: SignedIn) -> None:
    resp = await admin.client.get("/admin/guests")
    assert resp.status_code == 200
    assert f'<meta name="csrf-token" content="{admin.csrf_token}">' in resp.text


async def test_admin_issue_stores_argon2id_hash_only(
    admin: SignedIn, redis_clean: RedisServer
) -> None:
    passphrase = await issue(admin, "Guest@Partner.example", days=2)
    redis = redis_clean.client("andre-web")
    try:
        raw = await redis.hget(keys.GUESTS, "guest@partner.example")
    finally:
        await redis.aclose()
    assert raw is not None
    record = json.loads(raw)
    assert record["hash"].startswith("$argon2id$")
    assert passphrase not in raw
    assert record["by"] == ADMIN
    assert 2 * 86400 - 60 < record["expires_at"] - time.time() <= 2 * 86400
    listing = await admin.client.get("/admin/guests")
    assert "guest@partner.example" in listing.text
    assert passphrase not in listing.text


async def test_admin_issue_missing_csrf_403(admin: SignedIn) -> None:
    async with admin.bare() as bare:
        resp = await bare.post(
            "/admin/guests",
            data={"action": "issue", "email": "g@x.example", "days": "1"},
            headers=same_origin(),
        )
    assert resp.status_code == 403


async def test_admin_issue_foreign_origin_403(admin: SignedIn) -> None:
    resp = await admin.client.post(
        "/admin/guests",
        data={
            "action": "issue",
            "email": "g@x.example",
            "days": "1",
            "csrf_token": admin.csrf_token,
        },
        headers={"Origin": "https://evil.example"},
    )
    assert resp.status_code == 403


async def test_admin_issue_bad_days_400(admin: SignedIn) -> None:
    resp = await admin.client.post(
        "/admin/guests",
        data={
            "action": "issue",
            "email": "g@x.example",
            "days": "999",
            "csrf_token": admin.csrf_token,
        },
    )
    assert resp.status_code == 400


@pytest.mark.parametrize("days", ["²", "①", "٣", "1²", " 1 2 ", "0x1", "-1", "1.5", "1e1"])
async def test_admin_issue_non_ascii_or_odd_days_400(admin: SignedIn, days: str) -> None:
    resp = await admin.client.post(
        "/admin/guests",
        data={
            "action": "issue",
            "email": "g@x.example",
            "days": days,
            "csrf_token": admin.csrf_token,
        },
    )
    assert resp.status_code == 400, resp.text
    assert "Days must be a whole number" in resp.text


async def test_guest_sign_in_with_passphrase_starts_guest_session(
    app: FastAPI, admin: SignedIn, redis_clean: RedisServer
) -> None:
    passphrase = await issue(admin, "guest@partner.example")
    async with make_client(app) as client:
        resp = await guest_post(client, "GUEST@partner.example", passphrase)
        assert resp.status_code == 303
        assert resp.headers["location"] == "/"
        session_id = resp.cookies["andre_session"]
    redis = redis_clean.client("andre-web")
    try:
        from services.web.identity.sessions import digest

        record = json.loads(await redis.get(keys.session(digest(session_id))) or "{}")
    finally:
        await redis.aclose()
    assert record["email"] == "guest@partner.example"
    assert record["is_guest"] is True and record["is_admin"] is False


async def test_guest_sign_in_wrong_passphrase_401(app: FastAPI, admin: SignedIn) -> None:
    await issue(admin, "guest@partner.example")
    async with make_client(app) as client:
        resp = await guest_post(client, "guest@partner.example", "wrong-passphrase")
    assert resp.status_code == 401
    assert "andre_session" not in resp.cookies


async def test_guest_sign_in_expired_invite_refused(
    app: FastAPI, admin: SignedIn, redis_clean: RedisServer
) -> None:
    passphrase = await issue(admin, "guest@partner.example")
    redis = redis_clean.client("andre-web")
    try:
        record = json.loads(await redis.hget(keys.GUESTS, "guest@partner.example") or "{}")
        record["expires_at"] = time.time() - 1
        await redis.hset(keys.GUESTS, "guest@partner.example", json.dumps(record))
        async with make_client(app) as client:
            resp = await guest_post(client, "guest@partner.example", passphrase)
        assert resp.status_code == 401
        assert not await redis.hexists(keys.GUESTS, "guest@partner.example")
    finally:
        await redis.aclose()


async def test_guest_sign_in_missing_form_token_403(app: FastAPI) -> None:
    async with make_client(app) as client:
        await client.get("/guest/")
        resp = await client.post(
            "/guest/", data={"email": "g@x.example", "password": "x"}, headers=same_origin()
        )
    assert resp.status_code == 403


async def test_guest_sign_in_foreign_origin_403(app: FastAPI) -> None:
    async with make_client(app) as client:
        resp = await guest_post(
            client, "g@x.example", "x", headers={"Origin": "https://evil.example"}
        )
    assert resp.status_code == 403


async def test_guest_sign_in_repeated_failures_per_email_429(app: FastAPI, admin: SignedIn) -> None:
    await issue(admin, "guest@partner.example")
    async with make_client(app) as client:
        for _ in range(5):
            assert (await guest_post(client, "guest@partner.example", "nope")).status_code == 401
        resp = await guest_post(client, "guest@partner.example", "nope-again")
    assert resp.status_code == 429
    assert int(resp.headers["retry-after"]) > 0
    # Another client IP is still limited for that e-mail.
    async with make_client(app, client_ip="198.51.100.20") as other:
        resp = await guest_post(other, "guest@partner.example", "still-nope")
    assert resp.status_code == 429


async def test_guest_sign_in_after_failures_right_passphrase_accepted(
    app: FastAPI, admin: SignedIn
) -> None:
    passphrase = await issue(admin, "guest@partner.example")
    async with make_client(app, client_ip="198.51.100.40") as attacker:
        for i in range(12):  # past both the per-e-mail (5) and the per-address (10) limits
            await guest_post(attacker, "guest@partner.example", f"nope-{i}")
        assert (await guest_post(attacker, "guest@partner.example", "x")).status_code == 429
    # The real guest, behind the same address and from another, still gets in.
    async with make_client(app, client_ip="198.51.100.40") as same_nat:
        assert (await guest_post(same_nat, "guest@partner.example", passphrase)).status_code == 303
    async with make_client(app, client_ip="198.51.100.41") as elsewhere:
        resp = await guest_post(elsewhere, "guest@partner.example", passphrase)
        assert resp.status_code == 303 and "andre_session" in resp.cookies


async def test_guest_sign_in_repeated_failures_per_ip_429(app: FastAPI) -> None:
    async with make_client(app, client_ip="198.51.100.30") as client:
        for i in range(10):
            resp = await guest_post(client, f"nobody{i}@x.example", "nope")
            assert resp.status_code == 401
        resp = await guest_post(client, "someone-else@x.example", "nope")
    assert resp.status_code == 429
    assert int(resp.headers["retry-after"]) > 0
    async with make_client(app, client_ip="198.51.100.31") as fresh:
        assert (await guest_post(fresh, "someone-else@x.example", "nope")).status_code == 401


async def test_guest_revoke_ends_guest_session(app: FastAPI, admin: SignedIn) -> None:
    passphrase = await issue(admin, "guest@partner.example")
    async with make_client(app) as client:
        assert (await guest_post(client, "guest@partner.example", passphrase)).status_code == 303
        assert (await client.get("/admin/guests")).status_code == 403
        revoke = await admin.client.post(
            "/admin/guests",
            data={
                "action": "revoke",
                "email": "guest@partner.example",
                "csrf_token": admin.csrf_token,
            },
        )
        assert revoke.status_code == 200
        resp = await client.get("/admin/guests")
        # Sent to the guest sign-in page, which says why (not dropped on a bare sign-in page).
        assert resp.status_code == 302 and resp.headers["location"] == "/guest/?ended=1"
        page = await client.get(resp.headers["location"])
    assert page.status_code == 200
    assert "Your guest invite was revoked or has expired" in page.text


async def test_guest_form_ended_flag_shows_fixed_text_only(app: FastAPI) -> None:
    async with make_client(app) as client:
        plain = await client.get("/guest/")
        forged = await client.get("/guest/?ended=<script>x</script>")
    assert "revoked" not in plain.text and "revoked" not in forged.text
    assert "<script>x" not in forged.text


@pytest.mark.parametrize("length", [b"\xb2", b"1\xb9", b"-1", b" 5"])
async def test_guest_sign_in_odd_content_length_400(app: FastAPI, length: bytes) -> None:
    async with make_client(app) as client:
        page = await client.get("/guest/")
        resp = await client.post(
            "/guest/",
            content=b"email=g%40x.example&password=x&csrf_token=" + form_token(page.text).encode(),
            headers={
                **same_origin(),
                "Content-Type": "application/x-www-form-urlencoded",
                "Content-Length": length,  # type: ignore[dict-item]
            },
        )
    assert resp.status_code == 400, resp.text


async def test_guest_sign_in_past_hourly_sign_ins_429_without_session(
    app: FastAPI, admin: SignedIn, redis_clean: RedisServer
) -> None:
    passphrase = await issue(admin, "guest@partner.example")
    limit = web_state(app).limits.sign_in_email
    web = redis_clean.client("andre-web")
    admin_redis = redis_clean.client("andre-admin")
    try:
        await web.set(limit.key("guest@partner.example"), limit.max_hits, ex=limit.window_s)
        before = [k async for k in admin_redis.scan_iter(match=keys.session("*"))]
        async with make_client(app) as client:
            resp = await guest_post(client, "guest@partner.example", passphrase)
        after = [k async for k in admin_redis.scan_iter(match=keys.session("*"))]
    finally:
        await web.aclose()
        await admin_redis.aclose()
    assert resp.status_code == 429
    assert "retry-after" in resp.headers
    assert "andre_session" not in resp.cookies
    assert after == before


async def _issue_refused(admin: SignedIn, email: str, redis_clean: RedisServer) -> None:
    resp = await admin.client.post(
        "/admin/guests",
        data={"action": "issue", "email": email, "days": "1", "csrf_token": admin.csrf_token},
    )
    assert resp.status_code == 400
    assert 'class="guest-passphrase"' not in resp.text
    redis = redis_clean.client("andre-web")
    try:
        assert await redis.hget(keys.GUESTS, email.lower()) is None
    finally:
        await redis.aclose()


async def test_admin_issue_for_an_admin_address_refused(
    admin: SignedIn, redis_clean: RedisServer
) -> None:
    await _issue_refused(admin, ADMIN.upper(), redis_clean)


async def test_admin_issue_for_a_linked_spotify_account_refused(
    admin: SignedIn, redis_clean: RedisServer
) -> None:
    redis = redis_clean.client("andre-web")
    try:
        await redis.set(keys.user_tokens("alice@example.com"), '{"v": 1}')
    finally:
        await redis.aclose()
    await _issue_refused(admin, "alice@example.com", redis_clean)


async def test_admin_issue_for_a_single_sign_on_domain_refused(redis_clean: RedisServer) -> None:
    settings = build_settings(
        redis_clean, admin_emails=ADMIN, allowed_email_domains="example.com,corp.example"
    )
    async with running(create_app(settings)) as sso_app:
        who = await dev_sign_in(sso_app, redis_clean, ADMIN)
        try:
            await _issue_refused(who, "bob@corp.example", redis_clean)
            assert await issue(who, "guest@partner.example")
        finally:
            await who.client.aclose()


async def test_guest_sign_in_failures_from_one_ipv6_64_share_a_limit(app: FastAPI) -> None:
    for i in range(10):
        async with make_client(app, client_ip=f"2001:db8:5:9::{i + 1:x}") as client:
            assert (await guest_post(client, f"nobody{i}@x.example", "nope")).status_code == 401
    async with make_client(app, client_ip="2001:db8:5:9:abcd::1") as client:
        resp = await guest_post(client, "someone-else@x.example", "nope")
    assert resp.status_code == 429


async def test_admin_removed_from_settings_loses_admin_at_once(
    admin: SignedIn, redis_clean: RedisServer
) -> None:
    demoted = build_settings(redis_clean, admin_emails="someone-else@example.com")
    async with running(create_app(demoted)) as app2:
        cookies = {demoted.session_cookie_name: admin.session_id}
        async with make_client(app2, cookies=cookies) as client:
            resp = await client.get("/admin/guests")
    assert resp.status_code == 403


async def test_guest_reissued_invite_ends_sessions_of_the_old_passphrase(
    app: FastAPI, admin: SignedIn
) -> None:
    old = await issue(admin, "guest@partner.example")
    async with make_client(app) as holder:
        assert (await guest_post(holder, "guest@partner.example", old)).status_code == 303
        assert (await holder.get("/queue")).status_code == 200
        new = await issue(admin, "guest@partner.example")
        assert (await holder.get("/queue")).status_code == 401
    async with make_client(app) as guest:
        assert (await guest_post(guest, "guest@partner.example", new)).status_code == 303
        assert (await guest.get("/queue")).status_code == 200


async def test_guest_sign_in_concurrent_guesses_counted_before_checking(
    app: FastAPI, admin: SignedIn
) -> None:
    await issue(admin, "guest@partner.example")

    async def guess(n: int) -> int:
        async with make_client(app, client_ip=f"198.51.100.{100 + n}") as client:
            return (await guest_post(client, "guest@partner.example", f"nope-{n}")).status_code

    statuses = await asyncio.gather(*(guess(n) for n in range(8)))
    assert sorted(statuses) == [401] * 5 + [429] * 3
