"""Linking a user's Spotify account: authorization URL (PKCE S256) and code exchange."""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from urllib.parse import urlencode

import httpx

from shared.settings import AndreSettings
from shared.spotify import _http
from shared.spotify.errors import (
    SpotifyNotConfigured,
    SpotifyNotConnected,
    SpotifyRateLimited,
    SpotifyUpstreamError,
)
from shared.spotify.tokens import TokenSet, token_set_from_response

AUTHORIZE_URL = _http.ACCOUNTS_BASE + "/authorize"
SCOPES = "streaming user-read-playback-state user-modify-playback-state user-read-currently-playing"
CALLBACK_PATH = "/spotify/callback"


def redirect_uri(settings: AndreSettings) -> str:
    return settings.public_url.rstrip("/") + CALLBACK_PATH


def new_code_verifier() -> str:
    """A PKCE code verifier: 64 URL-safe characters (RFC 7636 allows 43 to 128)."""
    return secrets.token_urlsafe(48)


def code_challenge(code_verifier: str) -> str:
    """The S256 challenge for a verifier: unpadded base64url of its SHA-256."""
    digest = hashlib.sha256(code_verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def authorize_url(settings: AndreSettings, state: str, code_challenge: str) -> str:
    """Where to send the browser to link Spotify; the caller keeps ``state`` and the verifier."""
    if not settings.spotify_client_id:
        raise SpotifyNotConfigured("Spotify app credentials are not configured")
    query = urlencode(
        {
            "client_id": settings.spotify_client_id,
            "response_type": "code",
            "redirect_uri": redirect_uri(settings),
            "scope": SCOPES,
            "state": state,
            "code_challenge_method": "S256",
            "code_challenge": code_challenge,
        }
    )
    return f"{AUTHORIZE_URL}?{query}"


async def exchange_code(
    http: httpx.AsyncClient,
    settings: AndreSettings,
    code: str,
    code_verifier: str,
    *,
    attempts: int = _http.DEFAULT_ATTEMPTS,
    backoff_s: float = _http.DEFAULT_BACKOFF_S,
) -> TokenSet:
    """Trade the callback's ``code`` for tokens; raises ``SpotifyNotConnected`` if refused."""
    response = await _http.post_token(
        http,
        settings,
        {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri(settings),
            "code_verifier": code_verifier,
        },
        attempts=attempts,
        backoff_s=backoff_s,
    )
    status = response.status_code
    if status == 200:
        return token_set_from_response(_http.json_object(response), time.time())
    if status == 429:
        raise SpotifyRateLimited(_http.retry_after_s(response))
    if status == 400:
        _http.log.warning(
            "spotify code exchange refused", extra={"reason": _http.error_reason(response)}
        )
        raise SpotifyNotConnected("Spotify did not accept the authorization; try linking again")
    if status in (401, 403):
        raise SpotifyNotConfigured("Spotify refused the app credentials")
    raise SpotifyUpstreamError(f"Spotify token error (HTTP {status})")
