from __future__ import annotations

import logging

import httpx
import pytest
from fastapi import FastAPI
from redis.asyncio import Redis

from shared.logs import AUDIT_LOGGER
from shared.queue import queue as domain
from tests.services.api.conftest import AUTH, running
from tests.shared.queue.helpers import track


async def test_fast_path_and_route_answer_the_same(
    api_client: httpx.AsyncClient, redis_api: Redis
) -> None:
    await domain.add_item(redis_api, track(1), "a@example.com")
    fast = await api_client.get("/api/queue")
    routed = await api_client.get("/api/queue?via=route")
    assert fast.status_code == routed.status_code == 200
    assert fast.json() == routed.json() and len(fast.json()["queue"]) == 1
    assert fast.headers["content-type"] == "application/json"


async def test_fast_path_bad_tokens_get_full_auth_answers(
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
