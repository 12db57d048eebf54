"""Spotify user tokens (OAuth), encrypted at rest in Redis and refreshed before they expire.

The web service's link flow saves them; the player (house speaker) and the api's
``/api/spotify/*`` routes read them. Encryption: AES-256-GCM with a key derived by HKDF from
``ANDRE_SECRET_KEY``; the Redis key is bound in as associated data, so a value copied onto
another user's key does not decrypt.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import os
import time
from collections.abc import Callable
from typing import Any

import httpx
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError
from redis.asyncio import Redis

from shared import keys
from shared.queue import records
from shared.settings import AndreSettings
from shared.spotify import _http
from shared.spotify.errors import (
    SpotifyNotConfigured,
    SpotifyNotConnected,
    SpotifyRateLimited,
    SpotifyUpstreamError,
)

REFRESH_MARGIN_S = 60  # refresh when the access token has less than this left
_FORMAT_VERSION = 1
_HKDF_INFO = b"andre/spotify-user-tokens/v1"
_NONCE_BYTES = 12
# A rotated refresh token may be saved by another process a moment after Spotify refused ours.
_RACE_RELOADS = 3
_RACE_RELOAD_WAIT_S = 0.2

log = logging.getLogger("andre.spotify")


class TokenSet(BaseModel):
    """One user's Spotify OAuth tokens; the token values are kept out of ``repr``."""

    model_config = ConfigDict(frozen=True)

    access_token: str = Field(repr=False)
    refresh_token: str = Field(default="", repr=False)
    expires_at: float  # unix seconds when the access token stops working
    scope: str = ""

    def expires_in_s(self, now: float) -> float:
        return self.expires_at - now


def token_set_from_response(
    body: dict[str, Any], now: float, previous: TokenSet | None = None
) -> TokenSet:
    """A ``TokenSet`` from the accounts service's answer (code exchange or refresh).

    Spotify may leave out the refresh token and scope on a refresh: the previous ones stay.
    """
    access_token = body.get("access_token")
    if not isinstance(access_token, str) or not access_token:
        raise SpotifyUpstreamError("Spotify sent no access token")
    try:
        lifetime_s = float(body.get("expires_in") or 3600)
    except (TypeError, ValueError):
        lifetime_s = 3600.0
    refresh_token = body.get("refresh_token")
    scope = body.get("scope")
    return TokenSet(
        access_token=access_token,
        refresh_token=refresh_token
        if isinstance(refresh_token, str) and refresh_token
        else (previous.refresh_token if previous else ""),
        expires_at=now + lifetime_s,
        scope=scope if isinstance(scope, str) and scope else (previous.scope if previous else ""),
    )


def _derive_key(secret_key: str) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_HKDF_INFO).derive(
        secret_key.encode("utf-8")
    )


class UserTokenStore:
    """Save, load, delete and refresh users' Spotify tokens; never stores plaintext."""

    def __init__(
        self,
        redis: Redis,
        secret_key: SecretStr | str,
        *,
        clock: Callable[[], float] = time.time,
        attempts: int = _http.DEFAULT_ATTEMPTS,
        backoff_s: float = _http.DEFAULT_BACKOFF_S,
    ) -> None:
        raw = secret_key.get_secret_value() if isinstance(secret_key, SecretStr) else secret_key
        # Derived once; an empty key is refused at use, so a service without Spotify still starts.
        self._aead = AESGCM(_derive_key(raw)) if raw else None
        self._redis = redis
        self._clock = clock
        self._attempts = attempts
        self._backoff_s = backoff_s
        self._locks: dict[str, asyncio.Lock] = {}

    # --- storage ----------------------------------------------------------------------------

    async def save(self, email: str, tokens: TokenSet) -> None:
        key = keys.user_tokens(email)
        nonce = os.urandom(_NONCE_BYTES)
        plaintext = tokens.model_dump_json().encode("utf-8")
        sealed = self._cipher().encrypt(nonce, plaintext, key.encode("utf-8"))
        record = {
            "v": _FORMAT_VERSION,
            "nonce": base64.b64encode(nonce).decode("ascii"),
            "ct": base64.b64encode(sealed).decode("ascii"),
        }
        await self._redis.set(key, json.dumps(record))

    async def load(self, email: str) -> TokenSet | None:
        """The stored tokens, or None when none are stored or they cannot be decrypted."""
        key = keys.user_tokens(email)
        # Undecoded: a damaged value must read as "not linked", never fail the request.
        raw = await records.execute(self._redis, "GET", key, raw=True)
        if not raw:
            return None
        try:
            record = records.loads(raw)
            if record.get("v") != _FORMAT_VERSION:
                raise ValueError("unknown token record version")
            nonce = base64.b64decode(record["nonce"])
            sealed = base64.b64decode(record["ct"])
            plaintext = self._cipher().decrypt(nonce, sealed, key.encode("utf-8"))
            return TokenSet.model_validate_json(plaintext)
        except (InvalidTag, ValueError, KeyError, TypeError, AttributeError, ValidationError):
            # Typically ANDRE_SECRET_KEY changed: the user must link Spotify again. Reported
            # once per process, not on every request that looks for the tokens.
            records.report_damaged("spotify tokens", email.lower(), "unreadable or undecryptable")
            return None

    async def delete(self, email: str) -> None:
        await self._redis.delete(keys.user_tokens(email))

    # --- use --------------------------------------------------------------------------------

    async def access_token(
        self, email: str, http: httpx.AsyncClient, settings: AndreSettings
    ) -> str:
        """A usable access token, refreshed first if it expires within a minute."""
        return (await self.current(email, http, settings)).access_token

    async def current(
        self, email: str, http: httpx.AsyncClient, settings: AndreSettings
    ) -> TokenSet:
        """The user's tokens with at least a minute of life left (refreshing if needed)."""
        tokens = await self.load(email)
        if tokens is None:
            raise SpotifyNotConnected("Spotify is not linked for this account")
        if tokens.expires_in_s(self._clock()) > REFRESH_MARGIN_S:
            return tokens
        return await self.refresh(email, http, settings, stale=tokens)

    async def refresh(
        self,
        email: str,
        http: httpx.AsyncClient,
        settings: AndreSettings,
        *,
        stale: TokenSet | None = None,
    ) -> TokenSet:
        """Refresh now (for example after a 401) and save the new tokens.

        ``stale`` is the set the caller found wanting; if another task already replaced it,
        the replacement is returned without asking Spotify again.
        """
        lock = self._locks.setdefault(email.lower(), asyncio.Lock())
        async with lock:
            tokens = await self.load(email)
            if tokens is None:
                raise SpotifyNotConnected("Spotify is not linked for this account")
            if stale is not None and tokens.access_token != stale.access_token:
                if tokens.expires_in_s(self._clock()) > REFRESH_MARGIN_S:
                    return tokens
            if not tokens.refresh_token:
                raise SpotifyNotConnected("Spotify link has expired; link Spotify again")
            return await self._refresh_with(email, tokens, http, settings)

    async def _refresh_with(
        self, email: str, tokens: TokenSet, http: httpx.AsyncClient, settings: AndreSettings
    ) -> TokenSet:
        response = await _http.post_token(
            http,
            settings,
            {"grant_type": "refresh_token", "refresh_token": tokens.refresh_token},
            attempts=self._attempts,
            backoff_s=self._backoff_s,
        )
        status = response.status_code
        if status == 200:
            fresh = token_set_from_response(_http.json_object(response), self._clock(), tokens)
            await self.save(email, fresh)
            return fresh
        if status == 429:
            raise SpotifyRateLimited(_http.retry_after_s(response))
        if status == 400:
            return await self._after_refused_refresh(email, tokens, response)
        if status in (401, 403):
            log.error(
                "spotify refused the app credentials",
                extra={"reason": _http.error_reason(response)},
            )
            raise SpotifyNotConfigured("Spotify refused the app credentials")
        raise SpotifyUpstreamError(f"Spotify token error (HTTP {status})")

    async def _after_refused_refresh(
        self, email: str, used: TokenSet, response: httpx.Response
    ) -> TokenSet:
        # Another process may have rotated the refresh token a moment ago; prefer its result
        # to throwing the user's link away.
        for _ in range(_RACE_RELOADS):
            stored = await self.load(email)
            if stored is not None and stored.refresh_token != used.refresh_token:
                return stored
            await asyncio.sleep(_RACE_RELOAD_WAIT_S)
        reason = _http.error_reason(response)
        log.warning("spotify refresh refused", extra={"user": email.lower(), "reason": reason})
        if "invalid_grant" in reason:
            await self.delete(email)
        raise SpotifyNotConnected("Spotify link was revoked or expired; link Spotify again")

    def _cipher(self) -> AESGCM:
        if self._aead is None:
            raise SpotifyNotConfigured("ANDRE_SECRET_KEY is not set; cannot store Spotify tokens")
        return self._aead
