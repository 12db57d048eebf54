"""Spotify Connect for one linked account (the house speaker and ``/api/spotify/*``)."""

from __future__ import annotations

from typing import Any

import httpx

from shared.settings import AndreSettings
from shared.spotify import _http
from shared.spotify.errors import (
    SpotifyNoActiveDevice,
    SpotifyNotConnected,
    SpotifyNotFound,
    SpotifyRateLimited,
    SpotifyUpstreamError,
)
from shared.spotify.tokens import UserTokenStore

PLAYER = "/me/player"


class SpotifyConnect:
    """Player commands with the user's token: refreshed once on a 401, 429 reported at once."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        tokens: UserTokenStore,
        settings: AndreSettings,
        *,
        attempts: int = _http.DEFAULT_ATTEMPTS,
        backoff_s: float = _http.DEFAULT_BACKOFF_S,
    ) -> None:
        self._http = http
        self._tokens = tokens
        self._settings = settings
        self._attempts = attempts
        self._backoff_s = backoff_s

    async def devices(self, email: str) -> dict[str, Any]:
        """Spotify's ``{"devices": [...]}`` for the account."""
        response = await self._call(email, "GET", PLAYER + "/devices")
        return _http.json_object(response)

    async def transfer(self, email: str, device_id: str, play: bool = True) -> None:
        await self._call(email, "PUT", PLAYER, json={"device_ids": [device_id], "play": play})

    async def status(self, email: str) -> dict[str, Any] | None:
        """Spotify's playback state, or None when nothing is active (Spotify answers 204)."""
        response = await self._call(email, "GET", PLAYER, params={"additional_types": "episode"})
        if response.status_code == 204 or not response.content:
            return None
        return _http.json_object(response)

    async def play(
        self, email: str, uris: list[str], position_ms: int = 0, device_id: str | None = None
    ) -> None:
        """Start ``uris`` at ``position_ms`` of the first one."""
        await self._call(
            email,
            "PUT",
            PLAYER + "/play",
            params=_device(device_id),
            json={"uris": list(uris), "position_ms": max(0, int(position_ms))},
        )

    async def pause(self, email: str, device_id: str | None = None) -> None:
        await self._call(email, "PUT", PLAYER + "/pause", params=_device(device_id))

    async def resume(self, email: str, device_id: str | None = None) -> None:
        await self._call(email, "PUT", PLAYER + "/play", params=_device(device_id))

    async def next_track(self, email: str, device_id: str | None = None) -> None:
        # Not idempotent: a 5xx may still have skipped, so only connection failures are retried.
        await self._call(
            email, "POST", PLAYER + "/next", params=_device(device_id), idempotent=False
        )

    async def _call(
        self,
        email: str,
        method: str,
        path: str,
        *,
        params: dict[str, str] | None = None,
        json: dict[str, Any] | None = None,
        idempotent: bool = True,
    ) -> httpx.Response:
        tokens = await self._tokens.current(email, self._http, self._settings)
        for first_try in (True, False):
            response = await _http.send(
                self._http,
                method,
                _http.API_BASE + path,
                params=params,
                json=json,
                headers={"Authorization": f"Bearer {tokens.access_token}"},
                attempts=self._attempts,
                backoff_s=self._backoff_s,
                retry_5xx=idempotent,
            )
            status = response.status_code
            if status == 401 and first_try:
                tokens = await self._tokens.refresh(email, self._http, self._settings, stale=tokens)
                continue
            if 200 <= status < 300:
                return response
            reason = _http.error_reason(response)
            _http.log.warning(
                "spotify player command failed",
                extra={"method": method, "path": path, "reason": reason},
            )
            if status == 401:
                raise SpotifyNotConnected("Spotify refused the account's token; link Spotify again")
            if status == 429:
                raise SpotifyRateLimited(_http.retry_after_s(response))
            if status == 404:
                raise SpotifyNoActiveDevice("No active Spotify device; open Spotify on a speaker")
            if status == 400:
                raise SpotifyNotFound("Spotify refused the request (unknown device or track)")
            if status == 403:
                raise SpotifyUpstreamError(f"Spotify refused the player command ({reason})")
            raise SpotifyUpstreamError(f"Spotify player error (HTTP {status})")
        raise AssertionError("unreachable")  # pragma: no cover


def _device(device_id: str | None) -> dict[str, str] | None:
    return {"device_id": device_id} if device_id else None
