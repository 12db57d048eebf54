from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import pytest
from fastapi import FastAPI

from services.web.app import create_app
from shared.spotify.demo import DemoCatalog
from tests.services.web.conftest import SignedIn, build_settings, dev_sign_in, running
from tests.support.redis_server import RedisServer

ADMIN = "root@example.com"
TRACKS = DemoCatalog().tracks


@pytest.fixture
async def app(redis_clean: RedisServer) -> AsyncIterator[FastAPI]:
    settings = build_settings(redis_clean, admin_emails=ADMIN, moderation_pause="admins")
    async with running(create_app(settings)) as app:
        yield app


@pytest.fixture
async def people(app: FastAPI, redis_clean: RedisServer) -> AsyncIterator[list[SignedIn]]:
    opened = [await dev_sign_in(app, redis_clean, e) for e in (ADMIN, "bob@example.com")]
    yield opened
    for who in opened:
        await who.client.aclose()


async def test_clear_by_admin_empties_queue_audits_and_records(
    people: list[SignedIn], caplog
) -> None:
    admin, bob = people
    for n in range(2):
        resp = await bob.client.post("/queue/add", json={"uri": TRACKS[n].uri})
        assert resp.status_code == 201
    with caplog.at_level(logging.INFO, logger="andre.audit"):
        resp = await admin.client.post("/queue/clear")
    assert resp.status_code == 200 and resp.json() == {"ok": True, "removed": 2}
    assert (await bob.client.get("/queue")).json()["queue"] == []
    lines = [r for r in caplog.records if r.name == "andre.audit" and r.action == "clear"]  # type: ignore[attr-defined]
    assert [(r.action, r.identity, r.removed) for r in lines] == [  # type: ignore[attr-defined]
        ("clear", ADMIN, 2)
    ]
    log = (await bob.client.get("/activity")).json()["actions"]
    assert log[0]["kind"] == "clear" and log[0]["by"] == ADMIN


async def test_remove_others_song_by_admin_removes_at_once(people: list[SignedIn]) -> None:
    admin, bob = people
    item_id = (await bob.client.post("/queue/add", json={"uri": TRACKS[0].uri})).json()["id"]
    resp = await admin.client.post("/queue/remove", json={"id": item_id})
    assert resp.json()["done"] is True and resp.json()["how"] == "admin"
    assert (await bob.client.get("/queue")).json()["queue"] == []


async def test_pause_with_admins_policy_refuses_member_with_403(people: list[SignedIn]) -> None:
    _, bob = people
    resp = await bob.client.post("/queue/pause")
    assert resp.status_code == 403
    assert resp.json() == {"error": "Only admins can pause or resume"}


async def test_activity_with_bad_limit_returns_400(people: list[SignedIn]) -> None:
    resp = await people[1].client.get("/activity?limit=0")
    assert resp.status_code == 400
