"""Low-level HTTP to Spotify: bounded retries with backoff, Retry-After parsing, safe reasons."""

from __future__ import annotations

import asyncio
import logging
from email.utils import parsedate_to_datetime
from time import time
from typing import Any

import httpx

from shared.backoff import Backoff
from shared.settings import AndreSettings
from shared.spotify.errors import SpotifyNotConfigured, SpotifyUpstreamError

API_BASE = "https://api.spotify.com/v1"
ACCOUNTS_BASE = "https://accounts.spotify.com"
TOKEN_URL = ACCOUNTS_BASE + "/api/token"
REQUEST_TIMEOUT = httpx.Timeout(10.0, connect=5.0)

DEFAULT_ATTEMPTS = 3  # one try plus two retries for 5xx and transport errors
DEFAULT_BACKOFF_S = 0.25  # 0.25 s, 0.5 s: short, because a caller is usually waiting
DEFAULT_RETRY_AFTER_S = 30  # a 429 without a usable Retry-After header
MAX_RETRY_AFTER_S = 24 * 3600

log = logging.getLogger("andre.spotify")


def retry_after_s(response: httpx.Response) -> int:
    """Seconds from a Retry-After header (delta or HTTP date), bounded; a default if unusable."""
    raw = response.headers.get("Retry-After", "").strip()
    seconds: float | None = None
    if raw:
        try:
            seconds = float(raw)
        except ValueError:
            try:
                seconds = parsedate_to_datetime(raw).timestamp() - time()
            except (TypeError, ValueError):
                seconds = None
    if seconds is None or seconds != seconds:  # missing, unparsable or NaN
        return DEFAULT_RETRY_AFTER_S
    return int(max(1, min(seconds + 0.999, MAX_RETRY_AFTER_S)))


def error_reason(response: httpx.Response) -> str:
    """Spotify's short error text for logs and messages (never headers, never tokens)."""
    try:
        body = response.json()
    except ValueError:
        return f"HTTP {response.status_code}"
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        text = error.get("reason") or error.get("message") or ""
    elif isinstance(error, str):
        text = error  # the accounts service answers {"error": "invalid_grant", ...}
    else:
        text = ""
    text = str(text)[:120]
    return f"HTTP {response.status_code}: {text}" if text else f"HTTP {response.status_code}"


def json_object(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError as exc:
        raise SpotifyUpstreamError("Spotify sent an unreadable answer") from exc
    if not isinstance(body, dict):
        raise SpotifyUpstreamError("Spotify sent an unexpected answer")
    return body


async def send(
    http: httpx.AsyncClient,
    method: str,
    url: str,
    *,
    attempts: int = DEFAULT_ATTEMPTS,
    backoff_s: float = DEFAULT_BACKOFF_S,
    retry_5xx: bool = True,
    **kwargs: Any,
) -> httpx.Response:
    """Send with bounded retries on 5xx and transport errors; any other answer is returned.

    ``retry_5xx=False`` is for commands that are not idempotent (skip to next track): a 5xx may
    still have been applied, so only failures to connect are retried.
    """
    kwargs.setdefault("timeout", REQUEST_TIMEOUT)
    attempts = max(1, attempts)
    backoff = Backoff(backoff_s)
    for attempt in range(1, attempts + 1):
        try:
            response = await http.request(method, url, **kwargs)
        except httpx.TransportError as exc:
            retryable = retry_5xx or isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout)
            log.warning(
                "spotify request failed",
                extra={"method": method, "path": _path(url), "error": type(exc).__name__},
            )
            if not retryable or attempt == attempts:
                raise SpotifyUpstreamError("Spotify is unreachable") from exc
        else:
            if response.status_code < 500 or not retry_5xx or attempt == attempts:
                return response
            log.warning(
                "spotify server error",
                extra={"method": method, "path": _path(url), "status": response.status_code},
            )
        await asyncio.sleep(backoff.delay(attempt))
    raise AssertionError("unreachable")  # pragma: no cover


async def post_token(
    http: httpx.AsyncClient,
    settings: AndreSettings,
    data: dict[str, str],
    *,
    attempts: int,
    backoff_s: float,
) -> httpx.Response:
    """POST ``data`` to the accounts service's token endpoint as the app (code or refresh grant)."""
    secret = settings.spotify_client_secret.get_secret_value()
    if not (settings.spotify_client_id and secret):
        raise SpotifyNotConfigured("Spotify app credentials are not configured")
    # The server is a confidential client: it authenticates with its secret (as well as PKCE).
    return await send(
        http,
        "POST",
        TOKEN_URL,
        data=data,
        auth=(settings.spotify_client_id, secret),
        attempts=attempts,
        backoff_s=backoff_s,
    )


def _path(url: str) -> str:
    # Log the path only: queries carry user search text, never needed to diagnose a failure.
    return httpx.URL(url).path
