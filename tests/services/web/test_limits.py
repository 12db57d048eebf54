"""The web's rate limits come from settings (ANDRE_<BUCKET>_MAX per ANDRE_<BUCKET>_WINDOW_S)."""

from __future__ import annotations

import dataclasses

import pytest

from services.web.app import create_app
from services.web.limits import WebLimits
from services.web.state import web_state
from shared.spotify.demo import DemoCatalog
from tests.services.web.conftest import build_settings, dev_sign_in, running
from tests.support.redis_server import RedisServer

# Bucket (the Redis key's name) -> (max hits, window) by default: the numbers issue 5 chose.
DEFAULTS = {
    "web_add": (50, 3600),
    "web_airhorn": (20, 3600),
    "web_comment": (30, 3600),
    "web_search": (600, 3600),
    "web_action": (60, 60),
    "web_filter": (60, 3600),
    "login_start_ip": (120, 600),
    "sign_in_email": (30, 3600),
    "guest_login_ip": (10, 900),
    "guest_login_email": (5, 900),
    "spotify_connect": (20, 600),
}


def test_default_limits_keep_their_buckets_and_numbers(redis_server: RedisServer) -> None:
    limits = WebLimits.from_settings(build_settings(redis_server))
    got = {
        limit.bucket: (limit.max_hits, limit.window_s)
        for limit in (getattr(limits, f.name) for f in dataclasses.fields(limits))
    }
    assert got == DEFAULTS


def test_limits_read_from_the_environment(
    redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ANDRE_GUEST_LOGIN_EMAIL_MAX", "3")
    monkeypatch.setenv("ANDRE_GUEST_LOGIN_EMAIL_WINDOW_S", "120")
    limits = WebLimits.from_settings(build_settings(redis_server))
    assert (limits.guest_login_email.max_hits, limits.guest_login_email.window_s) == (3, 120)


async def test_add_limit_from_settings_answers_429(redis_clean: RedisServer) -> None:
    settings = build_settings(redis_clean, web_add_max=2, web_add_window_s=30)
    async with running(create_app(settings)) as app:
        assert web_state(app).limits.add.max_hits == 2
        who = await dev_sign_in(app, redis_clean, "alice@example.com")
        try:
            uris = [t.uri for t in DemoCatalog().tracks[:3]]
            codes = [
                (await who.client.post("/queue/add", json={"uri": uri})).status_code
                for uri in uris[:2]
            ]
            assert codes == [201, 201]
            refused = await who.client.post("/queue/add", json={"uri": uris[2]})
        finally:
            await who.client.aclose()
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["retry-after"]) <= 30
