"""The web's /events lifecycle (services/web/routes/stream.py): the per-user cap."""

from __future__ import annotations

import pytest
from fastapi import FastAPI

from services.web.settings import WebSettings
from tests.services.web.conftest import SignedIn


async def test_events_past_open_streams_per_user_returns_429(
    web_app: FastAPI, signed_in: SignedIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    cap = WebSettings.model_fields["sse_streams_per_user"].default
    monkeypatch.setitem(web_app.state.web.open_streams, signed_in.email, cap)
    resp = await signed_in.client.get("/events")
    assert resp.status_code == 429
    assert "retry-after" in resp.headers
