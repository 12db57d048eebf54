from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from services.web.app import create_app
from services.web.identity.sessions import digest
from services.web.routes import stream as stream_route
from services.web.settings import WebSettings
from services.web.state import web_state
from shared import keys
from shared.queue.events import publish
from shared.spotify.demo import DemoCatalog
from tests.services.web.conftest import (
    PUBLIC_URL,
    SignedIn,
    build_settings,
    dev_sign_in,
    make_client,
    running,
)
from tests.support.redis_server import RedisServer, free_port

TRACKS = DemoCatalog().tracks


async def test_app_page_without_session_redirects_to_login(web_client: httpx.AsyncClient) -> None:
    resp = await web_client.get("/")
    assert resp.status_code == 302
    assert resp.headers["location"] == "/login/"


async def test_history_page_without_session_redirects_to_login(
    web_client: httpx.AsyncClient,
) -> None:
    resp = await web_client.get("/history/")
    assert resp.status_code == 302


async def test_app_page_carries_csrf_meta_and_demo_banner(signed_in: SignedIn) -> None:
    resp = await signed_in.client.get("/")
    assert resp.status_code == 200
    assert f'<meta name="csrf-token" content="{signed_in.csrf_token}">' in resp.text
    assert 'id="demo-banner"' in resp.text
    assert 'data-user="alice@example.com"' in resp.text
    assert '<span class="count" id="free-count">0</span>' in resp.text


async def test_app_page_free_horn_disabled_without_credits_enabled_with(
    signed_in: SignedIn, redis_clean: RedisServer
) -> None:
    button = re.compile(r'<button[^>]*id="horn-free"[^>]*>')
    match = button.search((await signed_in.client.get("/")).text)
    assert match and " disabled" in match.group(0)
    redis = redis_clean.client("andre-web")
    try:
        await redis.set(keys.free_horns(signed_in.email), 2)
    finally:
        await redis.aclose()
    html = (await signed_in.client.get("/")).text
    match = button.search(html)
    assert match and " disabled" not in match.group(0)
    assert '<span class="count" id="free-count">2</span>' in html
    assert 'data-free-jams="3"' in html


async def test_app_page_has_no_inline_script_or_style(signed_in: SignedIn) -> None:
    html = (await signed_in.client.get("/")).text
    scripts = re.findall(r"<script[^>]*>", html)
    assert scripts and all('src="/static/' in tag for tag in scripts)
    assert re.search(r"<script[^>]*>\s*[^<\s]", html) is None
    assert " style=" not in html and "<style" not in html
    assert re.search(r"<[^>]+\son[a-z]+\s*=", html) is None
    assert "http://" not in html and "https://" not in html.replace(PUBLIC_URL, "")


async def test_app_page_links_admin_guests_only_for_admins(
    redis_clean: RedisServer,
) -> None:
    settings = build_settings(redis_clean, admin_emails="boss@example.com")
    async with running(create_app(settings)) as app:
        boss = await dev_sign_in(app, redis_clean, "boss@example.com")
        worker = await dev_sign_in(app, redis_clean, "worker@example.com")
        try:
            assert 'href="/admin/guests"' in (await boss.client.get("/")).text
            assert 'href="/admin/guests"' not in (await worker.client.get("/")).text
        finally:
            await boss.client.aclose()
            await worker.client.aclose()


async def test_history_page_renders_for_signed_in_user(signed_in: SignedIn) -> None:
    resp = await signed_in.client.get("/history/")
    assert resp.status_code == 200
    assert 'src="/static/js/history.js"' in resp.text


async def test_static_module_served_as_javascript(web_client: httpx.AsyncClient) -> None:
    resp = await web_client.get("/static/js/app.js")
    assert resp.status_code == 200
    assert "javascript" in resp.headers["content-type"]
    assert "innerHTML" not in resp.text


# ---- /events over a real server (ASGITransport buffers whole responses) ----------------------


@pytest.fixture
async def live_server(redis_clean: RedisServer) -> AsyncIterator[tuple[FastAPI, str]]:
    port = free_port()
    settings: WebSettings = build_settings(redis_clean, public_url=PUBLIC_URL)
    app = create_app(settings)
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="on")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.02)
    try:
        yield app, f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


async def _read_events(
    lines: AsyncIterator[str], wanted: int, timeout_s: float = 5
) -> list[tuple[str, dict[str, object]]]:
    events: list[tuple[str, dict[str, object]]] = []
    etype = ""
    async with asyncio.timeout(timeout_s):
        async for line in lines:
            if line.startswith("event: "):
                etype = line[7:]
            elif line.startswith("data: "):
                events.append((etype, json.loads(line[6:])))
                if len(events) >= wanted:
                    break
    return events


@pytest.mark.timeout(30)
async def test_events_stream_snapshot_then_live_queue_update(
    live_server: tuple[FastAPI, str], redis_clean: RedisServer
) -> None:
    app, base = live_server
    who = await dev_sign_in(app, redis_clean, "alice@example.com")
    await who.client.aclose()
    cookies = {web_state(app).settings.session_cookie_name: who.session_id}
    headers = {"Origin": PUBLIC_URL, "X-CSRF-Token": who.csrf_token}
    async with httpx.AsyncClient(base_url=base, cookies=cookies, timeout=10) as client:
        async with client.stream("GET", "/events") as stream:
            assert stream.status_code == 200
            assert stream.headers["content-type"].startswith("text/event-stream")
            lines = stream.aiter_lines()
            snapshot = await _read_events(lines, 2)
            assert [t for t, _ in snapshot] == ["queue_update", "now_playing"]
            resp = await client.post("/queue/add", json={"uri": TRACKS[0].uri}, headers=headers)
            assert resp.status_code == 201
            [(etype, data)] = await _read_events(lines, 1)
    assert etype == "queue_update"
    assert [i["uri"] for i in data["queue"]] == [TRACKS[0].uri]  # type: ignore[index]


async def test_favicon_served_without_session(web_client: httpx.AsyncClient) -> None:
    resp = await web_client.get("/favicon.ico")
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("image/svg+xml")


@pytest.mark.timeout(30)
async def test_events_stream_ends_after_sign_out(
    live_server: tuple[FastAPI, str], redis_clean: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(stream_route, "SSE_SESSION_RECHECK_S", 0.0)
    app, base = live_server
    who = await dev_sign_in(app, redis_clean, "alice@example.com")
    await who.client.aclose()
    cookies = {web_state(app).settings.session_cookie_name: who.session_id}
    headers = {"Origin": PUBLIC_URL, "X-CSRF-Token": who.csrf_token}
    redis = redis_clean.client("andre-web")
    try:
        async with httpx.AsyncClient(base_url=base, cookies=cookies, timeout=10) as client:
            async with client.stream("GET", "/events") as stream:
                lines = stream.aiter_lines()
                await _read_events(lines, 2)
                resp = await client.post("/logout/", headers=headers)
                assert resp.status_code == 200
                assert not await redis.exists(keys.session(digest(who.session_id)))
                await publish(redis, "airhorn", {"name": "airhorn", "user": "bob@example.com"})
                leaked = await _read_events(lines, 1, timeout_s=5)
    finally:
        await redis.aclose()
    assert leaked == []
    async with asyncio.timeout(5):
        state = web_state(app)
        while await state.stream_cap.count(state.redis, "alice@example.com"):
            await asyncio.sleep(0.02)


async def test_dev_login_page_names_the_admins(redis_clean: RedisServer) -> None:
    settings = build_settings(redis_clean, admin_emails=["boss@example.com"])
    async with running(create_app(settings)) as app, make_client(app) as client:
        page = await client.get("/login/dev")
    assert "<strong>boss@example.com</strong>" in page.text and "ANDRE_ADMIN_EMAILS" in page.text


async def test_api_reference_page_renders_for_signed_in_user(signed_in: SignedIn) -> None:
    resp = await signed_in.client.get("/api-reference/")
    assert resp.status_code == 200
    assert 'src="/static/js/apiref.js"' in resp.text
    # The token is typed into a password field and never part of the page.
    assert 'id="ref-token" name="token" type="password"' in resp.text


async def test_api_reference_page_without_session_redirects_to_login(
    web_client: httpx.AsyncClient,
) -> None:
    resp = await web_client.get("/api-reference/")
    assert resp.status_code == 302
