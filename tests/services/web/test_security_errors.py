from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI
from pydantic import BaseModel

from services.web.errors import TooManyRequests
from shared.queue import errors as qerr
from shared.spotify import errors as serr
from tests.services.web.conftest import SignedIn

CASES: list[tuple[Exception, int]] = [
    (qerr.ItemNotFound("No such song"), 404),
    (qerr.AlreadyVoted("Already voted"), 409),
    (qerr.OwnSongUpvote("Your own song"), 409),
    (qerr.NothingPlaying("Nothing playing"), 409),
    (qerr.QueueFull("Queue full"), 409),
    (qerr.InvalidInput("Bad URI"), 400),
    (qerr.RateLimited("Slow down", 42), 429),
    (serr.SpotifyRateLimited(17), 429),
    (serr.SpotifyUpstreamError("HTTP 500 from https://api.spotify.com/v1/x"), 502),
    (serr.SpotifyNotConfigured("Spotify not configured"), 503),
    (serr.SpotifyNotConnected("Spotify not linked"), 503),
]


class Body(BaseModel):
    uri: str


def _probe(app: FastAPI) -> None:
    @app.get("/_probe/raise/{index}")
    async def probe_raise(index: int) -> None:
        raise CASES[index][0]

    @app.post("/_probe/body")
    async def probe_body(body: Body) -> dict[str, str]:
        return {"uri": body.uri}

    @app.get("/_probe/limited")
    async def probe_limited() -> None:
        raise TooManyRequests("Too many", 7)


@pytest.mark.parametrize("index", range(len(CASES)))
async def test_errors_domain_error_mapped_to_json_status(
    web_app: FastAPI, web_client: httpx.AsyncClient, index: int
) -> None:
    _probe(web_app)
    exc, status = CASES[index]
    resp = await web_client.get(f"/_probe/raise/{index}")
    assert resp.status_code == status
    body = resp.json()
    assert set(body) == {"error"} and body["error"]
    if status == 429:
        assert resp.headers["retry-after"] == str(exc.retry_after_s)  # type: ignore[attr-defined]
    if status == 502:
        assert "api.spotify.com" not in body["error"]


async def test_errors_missing_field_400_names_it(web_app: FastAPI, signed_in: SignedIn) -> None:
    _probe(web_app)
    resp = await signed_in.client.post("/_probe/body", json={"other": 1})
    assert resp.status_code == 400
    assert resp.json() == {"error": "Missing required field: uri"}


async def test_errors_wrong_type_400_names_field(web_app: FastAPI, signed_in: SignedIn) -> None:
    _probe(web_app)
    resp = await signed_in.client.post("/_probe/body", json={"uri": ["x"]})
    assert resp.status_code == 400
    assert resp.json() == {"error": "Invalid field: uri"}


async def test_errors_non_object_body_400(web_app: FastAPI, signed_in: SignedIn) -> None:
    _probe(web_app)
    resp = await signed_in.client.post("/_probe/body", json=["uri"])
    assert resp.status_code == 400
    assert set(resp.json()) == {"error"}


async def test_errors_too_many_requests_has_retry_after(
    web_app: FastAPI, web_client: httpx.AsyncClient
) -> None:
    _probe(web_app)
    resp = await web_client.get("/_probe/limited")
    assert resp.status_code == 429
    assert resp.headers["retry-after"] == "7"


async def test_errors_domain_error_html_for_browsers(
    web_app: FastAPI, web_client: httpx.AsyncClient
) -> None:
    _probe(web_app)
    resp = await web_client.get("/_probe/raise/0", headers={"Accept": "text/html"})
    assert resp.status_code == 404
    assert "text/html" in resp.headers["content-type"]
    assert "No such song" in resp.text
