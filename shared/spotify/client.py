"""The real Spotify catalog over the Web API as it is after February 2026 (async httpx).

Only endpoints that still exist are called: single track and episode, search (10 a page),
an artist's albums, an album and a playlist's items. Rate limits are shared by every process
through one Redis flag; a 429 is reported at once and never waited out while a request is held.
"""

from __future__ import annotations

import asyncio
import functools
import math
from collections.abc import Callable, Coroutine
from typing import Any, ParamSpec, TypeVar

import httpx
from redis.asyncio import Redis

from shared import keys
from shared.settings import AndreSettings
from shared.spotify import _http
from shared.spotify.catalog import (
    MAX_QUERY_LEN,
    PAGE_SIZE,
    Skipped,
    Track,
    TrackList,
    clamp_limit,
)
from shared.spotify.errors import (
    SpotifyNotConfigured,
    SpotifyNotFound,
    SpotifyRateLimited,
    SpotifyUpstreamError,
)
from shared.spotify.uris import is_spotify_id, parse_ref

APP_TOKEN_MARGIN_S = 120  # cache the app token this long less than Spotify says it lives
MAX_ALBUM_TRACK_PAGES = 4  # extra pages of a long album followed past the first
PLAYLIST_PAGE_SIZE = 50  # Spotify's largest page of playlist items


def _images(obj: dict[str, Any] | None) -> tuple[str, str]:
    """(smallest, largest) image URL; a single image is both."""
    images = [i for i in (obj or {}).get("images") or [] if isinstance(i, dict) and i.get("url")]
    if not images:
        return "", ""
    by_size = sorted(images, key=lambda i: (i.get("width") or 0) * (i.get("height") or 0))
    return str(by_size[0]["url"]), str(by_size[-1]["url"])


def track_from_json(obj: dict[str, Any], album: dict[str, Any] | None = None) -> Track:
    """A ``Track`` from a Spotify track object; ``album`` fills in simplified (album) tracks."""
    album_obj = obj.get("album") or album or {}
    artists = [a for a in obj.get("artists") or [] if isinstance(a, dict)]
    names = tuple(str(a.get("name") or "") for a in artists)
    img, big_img = _images(album_obj)
    # A relinked track keeps the URI that was asked for, which is the one to play.
    uri = (obj.get("linked_from") or {}).get("uri") or obj.get("uri") or ""
    if not uri:
        uri = f"spotify:track:{obj.get('id', '')}"
    return Track(
        uri=str(uri),
        title=str(obj.get("name") or ""),
        artist=", ".join(n for n in names if n),
        album=str(album_obj.get("name") or ""),
        album_id=str(album_obj.get("id") or ""),
        artist_ids=tuple(str(a.get("id") or "") for a in artists),
        artist_names=names,
        duration_ms=int(obj.get("duration_ms") or 0),
        img=img,
        big_img=big_img,
        kind="track",
    )


def episode_from_json(obj: dict[str, Any]) -> Track:
    show = obj.get("show") or {}
    show_name = str(show.get("name") or "")
    img, big_img = _images(obj)
    if not img:
        img, big_img = _images(show)
    return Track(
        uri=str(obj.get("uri") or f"spotify:episode:{obj.get('id', '')}"),
        title=str(obj.get("name") or ""),
        artist=show_name,
        album=show_name,
        album_id=str(show.get("id") or ""),
        duration_ms=int(obj.get("duration_ms") or 0),
        img=img,
        big_img=big_img,
        kind="episode",
    )


P = ParamSpec("P")
R = TypeVar("R")


def _expect_shape(
    method: Callable[P, Coroutine[Any, Any, R]],
) -> Callable[P, Coroutine[Any, Any, R]]:
    """Turn an answer of the wrong shape (Spotify changed, or a proxy answered) into a 502."""

    @functools.wraps(method)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return await method(*args, **kwargs)
        except (TypeError, ValueError, AttributeError, KeyError) as exc:
            _http.log.warning("spotify answer of unexpected shape", exc_info=True)
            raise SpotifyUpstreamError("Spotify sent an unexpected answer") from exc

    return wrapper


def _playable(obj: Any) -> bool:
    return isinstance(obj, dict) and not obj.get("is_local") and obj.get("is_playable") is not False


def _playlist_entry(entry: Any) -> Track | Skipped:
    """A playlist entry's track, or why it cannot be queued (its ``item``, formerly ``track``,
    may be an episode, a local file or null when the track was removed)."""
    obj = entry.get("item", entry.get("track")) if isinstance(entry, dict) else None
    if not isinstance(obj, dict):
        return Skipped(reason="unavailable")
    uri, title = str(obj.get("uri") or ""), str(obj.get("name") or "")
    if obj.get("type", "track") != "track":
        return Skipped(uri=uri, title=title, reason="not a music track")
    if obj.get("is_local"):
        return Skipped(uri=uri, title=title, reason="local file")
    if not _playable(obj) or not obj.get("id"):
        return Skipped(uri=uri, title=title, reason="not playable")
    return track_from_json(obj)


class SpotifyCatalog:
    """``Catalog`` over the Spotify Web API with a client-credentials token cached in Redis."""

    is_demo: bool = False

    def __init__(
        self,
        *,
        http: httpx.AsyncClient,
        redis: Redis,
        settings: AndreSettings,
        attempts: int = _http.DEFAULT_ATTEMPTS,
        backoff_s: float = _http.DEFAULT_BACKOFF_S,
    ) -> None:
        self._http = http
        self._redis = redis
        self._settings = settings
        self._attempts = attempts
        self._backoff_s = backoff_s
        self._token_lock = asyncio.Lock()

    # --- catalog ----------------------------------------------------------------------------

    @_expect_shape
    async def lookup(self, uri: str) -> Track:
        ref = parse_ref(uri)
        if ref is None:
            raise SpotifyNotFound("Not a Spotify track or episode")
        if ref.kind == "episode":
            body = await self._get(f"/episodes/{ref.id}", {"market": self._market})
            if not body.get("name"):
                raise SpotifyNotFound("Unknown Spotify episode")
            return episode_from_json(body)
        body = await self._get(f"/tracks/{ref.id}", {"market": self._market})
        if not body.get("name"):
            raise SpotifyNotFound("Unknown Spotify track")
        return track_from_json(body).model_copy(update={"uri": ref.uri})

    @_expect_shape
    async def search(self, query: str, limit: int = PAGE_SIZE) -> list[Track]:
        text = " ".join(query.split())[:MAX_QUERY_LEN]
        if not text:
            return []
        return await self._search_tracks(text, clamp_limit(limit))

    @_expect_shape
    async def artist_albums(self, artist_id: str, limit: int = PAGE_SIZE) -> list[str]:
        if not is_spotify_id(artist_id):
            raise SpotifyNotFound("Not a Spotify artist id")
        wanted = clamp_limit(limit)
        album_ids: list[str] = []
        for offset in range(0, wanted, PAGE_SIZE):
            body = await self._get(
                f"/artists/{artist_id}/albums",
                {
                    "include_groups": "album,single",
                    "market": self._market,
                    "limit": PAGE_SIZE,
                    "offset": offset,
                },
            )
            items = body.get("items") or []
            for item in items:
                album_id = item.get("id") if isinstance(item, dict) else None
                if isinstance(album_id, str) and album_id not in album_ids:
                    album_ids.append(album_id)
            if len(items) < PAGE_SIZE or not body.get("next"):
                break
        return album_ids[:wanted]

    @_expect_shape
    async def album_tracks(self, album_id: str) -> list[Track]:
        if not is_spotify_id(album_id):
            raise SpotifyNotFound("Not a Spotify album id")
        # The album object carries its name and images, which simplified tracks lack.
        album = await self._get(f"/albums/{album_id}", {"market": self._market})
        page = album.get("tracks") or {}
        items: list[Any] = list(page.get("items") or [])
        offset = len(items)
        for _ in range(MAX_ALBUM_TRACK_PAGES):
            total = int(page.get("total") or 0)
            if not page.get("next") or offset >= total:
                break
            page = await self._get(
                f"/albums/{album_id}/tracks",
                {"market": self._market, "limit": PAGE_SIZE, "offset": offset},
            )
            batch = page.get("items") or []
            if not batch:
                break
            items.extend(batch)
            offset += len(batch)
        return [track_from_json(t, album) for t in items if _playable(t)]

    @_expect_shape
    async def playlist_tracks(self, playlist_id: str, limit: int) -> TrackList:
        if not is_spotify_id(playlist_id):
            raise SpotifyNotFound("Not a Spotify playlist id")
        wanted = max(1, int(limit))
        tracks: list[Track] = []
        skipped: list[Skipped] = []
        offset = 0
        # One page more than the cap needs, for entries that are skipped: never unbounded.
        for _ in range(-(-wanted // PLAYLIST_PAGE_SIZE) + 1):
            page = await self._get(
                f"/playlists/{playlist_id}/items",
                {
                    "market": self._market,
                    "limit": PLAYLIST_PAGE_SIZE,
                    "offset": offset,
                    "additional_types": "track",
                },
            )
            items = page.get("items") or []
            if not isinstance(items, list):
                raise TypeError("playlist items are not a list")
            for entry in items:
                found = _playlist_entry(entry)
                if isinstance(found, Track):
                    tracks.append(found)
                else:
                    skipped.append(found)
                if len(tracks) >= wanted:
                    return TrackList(tracks=tuple(tracks), skipped=tuple(skipped))
            offset += len(items)
            if not items or not page.get("next"):
                break
        return TrackList(tracks=tuple(tracks), skipped=tuple(skipped))

    @_expect_shape
    async def artist_tracks(self, artist_name: str, limit: int = PAGE_SIZE) -> list[Track]:
        name = " ".join(artist_name.replace('"', " ").split())[:MAX_QUERY_LEN]
        if not name:
            return []
        found = await self._search_tracks(f'artist:"{name}"', clamp_limit(limit))
        wanted = name.casefold()
        return [t for t in found if wanted in (n.casefold() for n in t.artist_names)]

    # --- plumbing ---------------------------------------------------------------------------

    @property
    def _market(self) -> str:
        return self._settings.spotify_market or "US"

    async def _search_tracks(self, q: str, limit: int) -> list[Track]:
        tracks: list[Track] = []
        seen: set[str] = set()
        for offset in range(0, limit, PAGE_SIZE):
            body = await self._get(
                "/search",
                {
                    "q": q,
                    "type": "track",
                    "market": self._market,
                    "limit": PAGE_SIZE,
                    "offset": offset,
                },
            )
            page = body.get("tracks") or {}
            items = page.get("items") or []
            for item in items:
                if _playable(item):
                    track = track_from_json(item)
                    if track.uri not in seen:
                        seen.add(track.uri)
                        tracks.append(track)
            if len(items) < PAGE_SIZE or not page.get("next"):
                break
        return tracks[:limit]

    async def _raise_if_rate_limited(self) -> None:
        ttl_ms = await self._redis.pttl(keys.SPOTIFY_RATE_LIMITED)
        if ttl_ms == -1:  # a flag without a TTL would block Spotify forever: give it one
            await self._redis.expire(keys.SPOTIFY_RATE_LIMITED, _http.DEFAULT_RETRY_AFTER_S)
            raise SpotifyRateLimited(_http.DEFAULT_RETRY_AFTER_S)
        if ttl_ms > 0:
            raise SpotifyRateLimited(math.ceil(ttl_ms / 1000))

    async def _rate_limited(self, response: httpx.Response) -> SpotifyRateLimited:
        seconds = _http.retry_after_s(response)
        await self._redis.set(keys.SPOTIFY_RATE_LIMITED, "1", ex=seconds)
        _http.log.warning("spotify rate limited", extra={"retry_after_s": seconds})
        return SpotifyRateLimited(seconds)

    async def _get(self, path: str, params: dict[str, Any]) -> dict[str, Any]:
        await self._raise_if_rate_limited()
        token = await self._app_token()
        for first_try in (True, False):
            response = await _http.send(
                self._http,
                "GET",
                _http.API_BASE + path,
                params=params,
                headers={"Authorization": f"Bearer {token}"},
                attempts=self._attempts,
                backoff_s=self._backoff_s,
            )
            status = response.status_code
            if status == 401 and first_try:
                # The cached token was revoked or expired early: fetch a fresh one once.
                token = await self._app_token(stale=token)
                continue
            if status == 200:
                return _http.json_object(response)
            if status == 429:
                raise await self._rate_limited(response)
            if status in (400, 404):
                raise SpotifyNotFound("Not found on Spotify")
            _http.log.warning(
                "spotify request refused",
                extra={"path": path.split("/")[1], "reason": _http.error_reason(response)},
            )
            raise SpotifyUpstreamError(f"Spotify error (HTTP {status})")
        raise AssertionError("unreachable")  # pragma: no cover

    async def _app_token(self, stale: str | None = None) -> str:
        """The client-credentials token: from Redis, or fetched and cached there.

        ``stale`` is a token Spotify just refused; it is dropped rather than returned again.
        """
        cached = await self._redis.get(keys.SPOTIFY_APP_TOKEN)
        if cached and cached != stale:
            return str(cached)
        async with self._token_lock:
            # Another task of this process may have fetched it while this one waited.
            cached = await self._redis.get(keys.SPOTIFY_APP_TOKEN)
            if cached and cached != stale:
                return str(cached)
            token, lifetime_s = await self._fetch_app_token()
            ttl_s = max(30, lifetime_s - APP_TOKEN_MARGIN_S)
            await self._redis.set(keys.SPOTIFY_APP_TOKEN, token, ex=ttl_s)
            return token

    async def _fetch_app_token(self) -> tuple[str, int]:
        secret = self._settings.spotify_client_secret.get_secret_value()
        if not (self._settings.spotify_client_id and secret):
            raise SpotifyNotConfigured("Spotify app credentials are not configured")
        response = await _http.send(
            self._http,
            "POST",
            _http.TOKEN_URL,
            data={"grant_type": "client_credentials"},
            auth=(self._settings.spotify_client_id, secret),
            attempts=self._attempts,
            backoff_s=self._backoff_s,
        )
        if response.status_code == 429:
            raise await self._rate_limited(response)
        if response.status_code in (400, 401, 403):
            _http.log.error(
                "spotify refused the app credentials",
                extra={"reason": _http.error_reason(response)},
            )
            raise SpotifyNotConfigured("Spotify refused the app credentials")
        if response.status_code != 200:
            raise SpotifyUpstreamError(f"Spotify token error (HTTP {response.status_code})")
        body = _http.json_object(response)
        token = body.get("access_token")
        if not isinstance(token, str) or not token:
            raise SpotifyUpstreamError("Spotify sent no access token")
        try:
            lifetime_s = int(body.get("expires_in") or 3600)
        except (TypeError, ValueError):
            lifetime_s = 3600
        return token, lifetime_s
