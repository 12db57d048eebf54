from __future__ import annotations

import time
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import respx

from shared.spotify.errors import SpotifyNotConfigured, SpotifyNotConnected
from shared.spotify.oauth import (
    SCOPES,
    authorize_url,
    code_challenge,
    exchange_code,
    new_code_verifier,
    redirect_uri,
)
from tests.shared.spotify import fakes
from tests.shared.spotify.fakes import TOKEN_URL


def test_scopes_cover_playback_control_and_streaming() -> None:
    assert set(SCOPES.split()) == {
        "streaming",
        "user-read-playback-state",
        "user-modify-playback-state",
        "user-read-currently-playing",
    }


def test_authorize_url_carries_pkce_state_and_redirect() -> None:
    url = urlsplit(authorize_url(fakes.settings(), "state-123", "challenge-abc"))
    assert (url.scheme, url.netloc, url.path) == ("https", "accounts.spotify.com", "/authorize")
    query = {k: v[0] for k, v in parse_qs(url.query).items()}
    assert query == {
        "client_id": fakes.CLIENT_ID,
        "response_type": "code",
        "redirect_uri": "https://andre.example.com/spotify/callback",
        "scope": SCOPES,
        "state": "state-123",
        "code_challenge_method": "S256",
        "code_challenge": "challenge-abc",
    }
    assert fakes.CLIENT_SECRET not in url.geturl()


def test_authorize_url_without_client_id_raises_not_configured() -> None:
    with pytest.raises(SpotifyNotConfigured):
        authorize_url(fakes.settings(spotify_client_id=""), "s", "c")


def test_redirect_uri_trailing_slash_in_public_url_ignored() -> None:
    settings = fakes.settings(public_url="https://andre.example.com/")
    assert redirect_uri(settings) == "https://andre.example.com/spotify/callback"


def test_code_challenge_rfc7636_vector_matches() -> None:
    verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
    assert code_challenge(verifier) == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


def test_new_code_verifier_length_and_uniqueness() -> None:
    first, second = new_code_verifier(), new_code_verifier()
    assert 43 <= len(first) <= 128 and first != second


async def test_exchange_code_success_returns_token_set(
    http: httpx.AsyncClient, spotify: respx.MockRouter
) -> None:
    route = spotify.post(TOKEN_URL).mock(
        return_value=httpx.Response(
            200,
            json={
                "access_token": "acc",
                "refresh_token": "ref",
                "expires_in": 3600,
                "scope": SCOPES,
                "token_type": "Bearer",
            },
        )
    )
    before = time.time()
    tokens = await exchange_code(http, fakes.settings(), "the-code", "the-verifier")
    assert (tokens.access_token, tokens.refresh_token, tokens.scope) == ("acc", "ref", SCOPES)
    assert before + 3600 <= tokens.expires_at <= time.time() + 3600
    request = route.calls[0].request
    form = {k: v[0] for k, v in parse_qs(request.content.decode()).items()}
    assert form == {
        "grant_type": "authorization_code",
        "code": "the-code",
        "redirect_uri": "https://andre.example.com/spotify/callback",
        "code_verifier": "the-verifier",
    }
    assert request.headers["Authorization"].startswith("Basic ")


async def test_exchange_code_refused_raises_not_connected_without_secrets(
    http: httpx.AsyncClient, spotify: respx.MockRouter
) -> None:
    spotify.post(TOKEN_URL).mock(return_value=httpx.Response(400, json={"error": "invalid_grant"}))
    with pytest.raises(SpotifyNotConnected) as caught:
        await exchange_code(http, fakes.settings(), "bad-code-value", "the-verifier")
    message = str(caught.value)
    assert fakes.CLIENT_SECRET not in message and "bad-code-value" not in message


async def test_exchange_code_without_credentials_raises_not_configured(
    http: httpx.AsyncClient, spotify: respx.MockRouter
) -> None:
    with pytest.raises(SpotifyNotConfigured):
        await exchange_code(http, fakes.settings(spotify_client_secret=""), "c", "v")
    assert len(spotify.calls) == 0
