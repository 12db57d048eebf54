"""The web's /events lifecycle (services/web/routes/stream.py): the per-user cap."""

from __future__ import annotations

from fastapi import FastAPI

from services.web.settings import WebSettings
from tests.services.web.conftest import SignedIn


async def test_events_past_open_streams_per_user_returns_429(
    web_app: FastAPI, signed_in: SignedIn
) -> None:
    cap = WebSettings.model_fields["sse_streams_per_user"].default
    state = web_app.state.web
    # Streams of this user held by other replicas: leases in Redis, not in this process.
    for _ in range(cap):
        await state.stream_cap.acquire(state.redis, signed_in.email, "full")
    assert await state.stream_cap.count(state.redis, signed_in.email) == cap
    resp = await signed_in.client.get("/events")
    assert resp.status_code == 429
    assert "retry-after" in resp.headers
    assert "close a tab" in resp.json()["error"]
