"""Bender, the auto-fill DJ: keeps ``andre:bender:preview`` filled with the next fill song.

Candidates come from endpoints Spotify still serves (February 2026): the seed artist's albums and
their tracks, the seed's own album, and a search by artist name (10 a page), plus Throwback songs
from the same weekday's play logs, credited to whoever queued them then. A track queued, played
or filtered in the last 7 days is never suggested. The player promotes the preview when the queue
runs dry; the web's Queue and Filter buttons call ``promote_preview`` and ``filter_preview``.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import random
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from redis.asyncio import Redis

from shared import keys, playlog
from shared.events import publish as publish_event
from shared.queue import records, scripts
from shared.queue.models import Item
from shared.queue.playback import FILTER_TTL_S, wall_ms
from shared.queue.queue import DEFAULT_RULES, QueueRules, add_item
from shared.spotify.catalog import Catalog, Track
from shared.spotify.errors import SpotifyNotFound, SpotifyRateLimited

log = logging.getLogger(__name__)

CANDIDATES_TTL_S = 20 * 60
MAX_CANDIDATES = 20
MAX_THROWBACKS = 5
MIN_DURATION_MS = 5_000
FALLBACK_URI = "spotify:track:3utq2FgD1pkmIoaWfjXWAU"
FALLBACK_QUERIES = ("the", "love", "night", "summer")

# Value of the filter key set by the Filter button. Other values (played, queued) may be
# relaxed on the tiny demo catalog; a track someone filtered never is.
FILTER_USER = "user"


class NothingFound(Exception):
    """No candidate survived the filters; Bender backs off before it tries again."""


async def _rate_limited_for(redis: Redis) -> int:
    ttl = int(await redis.ttl(keys.SPOTIFY_RATE_LIMITED))
    return ttl if ttl > 0 else 0


class Bender:
    """Fills the candidate list and the preview; one ``step()`` per call, never a hot loop."""

    def __init__(
        self,
        redis: Redis,
        catalog: Catalog,
        *,
        bender_email: str,
        play_log_dir: Path,
        events_max_len: int,
        backoff_min_s: float = 2.0,
        backoff_max_s: float = 300.0,
        rng: random.Random | None = None,
    ) -> None:
        self.redis = redis
        self.catalog = catalog
        self.bender_email = bender_email
        self.play_log_dir = play_log_dir
        self.events_max_len = events_max_len
        self.backoff_min_s = backoff_min_s
        self.backoff_max_s = backoff_max_s
        self.rng = rng or random.Random()
        self._failures = 0

    @property
    def failures(self) -> int:
        """Consecutive failed steps; while non-zero the caller must honour the backoff."""
        return self._failures

    # --- the loop step ---------------------------------------------------------------------

    async def step(self) -> float:
        """Make sure a preview exists. Returns how long to wait before the next step."""
        try:
            made = await self.ensure_preview()
        except SpotifyRateLimited as exc:
            self._failures += 1
            log.warning("bender: Spotify rate limited, waiting %ss", exc.retry_after_s)
            return float(max(exc.retry_after_s, self.backoff_min_s))
        except NothingFound:
            self._failures += 1
            delay = self._backoff()
            log.info("bender: nothing to suggest, next try in %.0fs", delay)
            return delay
        except Exception:
            self._failures += 1
            delay = self._backoff()
            log.exception("bender: refill failed, next try in %.0fs", delay)
            return delay
        self._failures = 0
        return 0.0 if made else 30.0

    def _backoff(self) -> float:
        return float(min(self.backoff_max_s, self.backoff_min_s * 2 ** min(self._failures - 1, 16)))

    # --- preview ---------------------------------------------------------------------------

    async def ensure_preview(self) -> bool:
        """Fill the preview if it is empty. True when a new preview was written."""
        if await self.redis.exists(keys.PREVIEW):
            return False
        for attempt in range(2):
            candidate = await self._next_candidate()
            if candidate is not None:
                item = await self._make_item(candidate)
                if await self.redis.set(keys.PREVIEW, item.model_dump_json(), nx=True):
                    await publish_event(self.redis, "queue_update", {}, self.events_max_len)
                    # Wakes the player at once if it is idle and waiting for a fill song.
                    await self.redis.lpush(keys.PLAYER_WAKE, "preview")
                    await self.redis.ltrim(keys.PLAYER_WAKE, 0, 9)
                    return True
                return False
            if attempt == 0:
                await self.refill()
        raise NothingFound

    async def _make_item(self, candidate: dict[str, Any]) -> Item:
        item_id = str(await self.redis.incr(keys.QUEUE_SEQ))
        return Item(
            id=item_id,
            uri=candidate["uri"],
            title=candidate.get("title", ""),
            artist=candidate.get("artist", ""),
            duration_ms=int(candidate.get("duration_ms") or 0),
            img=candidate.get("img", ""),
            big_img=candidate.get("big_img", ""),
            user=candidate.get("user") or self.bender_email,
            auto=True,
            added_at=wall_ms() / 1000,
        )

    async def _next_candidate(self) -> dict[str, Any] | None:
        """Pop candidates until one is still allowed (filters may have changed since)."""
        busy = await self._busy_uris()
        while True:
            raw = await self.redis.lpop(keys.BENDER_CANDIDATES)
            if raw is None:
                return None
            try:
                candidate: dict[str, Any] = json.loads(str(raw))
            except ValueError:
                continue
            uri = candidate.get("uri", "")
            if int(candidate.get("duration_ms") or 0) < MIN_DURATION_MS:
                continue  # a blip is no fill song, and would spin through the candidates
            if uri in busy or await self._filtered(uri, relaxed=bool(candidate.get("relaxed"))):
                continue
            return candidate

    async def _filtered(self, uri: str, *, relaxed: bool = False) -> bool:
        why = await self.redis.get(keys.filtered(uri))
        if why is None:
            return False
        return not (relaxed and why != FILTER_USER)

    async def _busy_uris(self) -> set[str]:
        """URIs queued, playing or previewed right now."""
        ids = await self.redis.lrange(keys.QUEUE, 0, -1)
        names = [keys.item(str(i)) for i in ids] + [keys.NOW_PLAYING, keys.PREVIEW]
        uris: set[str] = set()
        for start in range(0, len(names), 500):
            # Undecoded: a damaged record is skipped here, never fails the refill.
            chunk = names[start : start + 500]
            for raw in await records.execute(self.redis, "MGET", *chunk, raw=True):
                if not raw:
                    continue
                try:
                    data = json.loads(raw)
                except ValueError:
                    continue
                data = data.get("item", data) if isinstance(data, dict) else {}
                if isinstance(data, dict) and data.get("uri"):
                    uris.add(str(data["uri"]))
        return uris

    # --- candidates ------------------------------------------------------------------------

    async def refill(self) -> int:
        """Rebuild the candidate list from the seed and the throwback logs. Returns its length."""
        wait = await _rate_limited_for(self.redis)
        if wait:
            raise SpotifyRateLimited(wait)
        seed = await self._seed_track()
        tracks = await self._gather(seed) if seed else []
        busy = await self._busy_uris()
        seen = set(busy)
        if seed:
            seen.add(seed.uri)
        fresh: list[dict[str, Any]] = []
        played: list[dict[str, Any]] = []
        flags = await self._filter_flags([t.uri for t in tracks])
        for track, why in zip(tracks, flags, strict=True):
            if track.kind != "track" or track.uri in seen:
                continue
            seen.add(track.uri)
            if why is None:
                fresh.append(_candidate(track, ""))
            elif why != FILTER_USER:
                played.append({**_candidate(track, ""), "relaxed": True})
        self.rng.shuffle(fresh)
        fresh = fresh[:MAX_CANDIDATES]
        throwbacks = await self._throwbacks(seen)
        for tb in throwbacks:
            fresh.insert(self.rng.randint(0, len(fresh)), tb)
        if not fresh and self.catalog.is_demo and played:
            # The demo catalog is a few dozen songs: once all were played this week, replay
            # them (never the ones people filtered) rather than fall silent.
            self.rng.shuffle(played)
            fresh = played[:MAX_CANDIDATES]
        pipe = self.redis.pipeline(transaction=True)
        pipe.delete(keys.BENDER_CANDIDATES)
        if fresh:
            pipe.rpush(keys.BENDER_CANDIDATES, *(json.dumps(c) for c in fresh))
            pipe.expire(keys.BENDER_CANDIDATES, CANDIDATES_TTL_S)
        await pipe.execute()
        log.info(
            "bender: %d candidates (%d throwback) from %s",
            len(fresh),
            len(throwbacks),
            seed.uri if seed else "no seed",
        )
        return len(fresh)

    async def _filter_flags(self, uris: list[str]) -> list[str | None]:
        if not uris:
            return []
        out: list[str | None] = []
        for start in range(0, len(uris), 500):
            chunk = [keys.filtered(u) for u in uris[start : start + 500]]
            out.extend(None if v is None else str(v) for v in await self.redis.mget(chunk))
        return out

    async def _seed_track(self) -> Track | None:
        """The last human-queued track; else the playing song, the newest play, a fallback."""
        refs: list[str] = []
        seed = await self.redis.get(keys.BENDER_SEED)
        if seed:
            refs.append(str(seed))
        np = await records.execute(self.redis, "GET", keys.NOW_PLAYING, raw=True)
        if np:
            try:
                refs.append(str(json.loads(np)["item"]["uri"]))
            except (ValueError, KeyError, TypeError):
                pass
        newest = await self.redis.lindex(keys.HISTORY, 0)
        if newest:
            try:
                refs.append(str(json.loads(newest)["uri"]))
            except (ValueError, KeyError, TypeError):
                pass
        refs.append(FALLBACK_URI)
        for ref in refs:
            if not ref.startswith("spotify:track:"):
                continue
            try:
                return await self.catalog.lookup(ref)
            except SpotifyNotFound:
                continue
        for query in FALLBACK_QUERIES:
            found = [t for t in await self.catalog.search(query) if t.kind == "track"]
            if found:
                return self.rng.choice(found)
        return None

    async def _gather(self, seed: Track) -> list[Track]:
        """Tracks near the seed, from the endpoints that still exist."""
        out: list[Track] = []
        for artist_id in seed.artist_ids[:2]:
            try:
                albums = await self.catalog.artist_albums(artist_id)
            except SpotifyNotFound:
                continue
            for album_id in self.rng.sample(albums, min(3, len(albums))):
                try:
                    out.extend(await self.catalog.album_tracks(album_id))
                except SpotifyNotFound:
                    continue
        if seed.album_id:
            try:
                out.extend(await self.catalog.album_tracks(seed.album_id))
            except SpotifyNotFound:
                pass
        names = seed.artist_names or ((seed.artist.split(", ")[0],) if seed.artist else ())
        if names:
            out.extend(await self.catalog.artist_tracks(names[0]))
        return out

    async def _throwbacks(self, seen: set[str]) -> list[dict[str, Any]]:
        today = dt.datetime.fromtimestamp(wall_ms() / 1000, tz=dt.UTC).date()
        pairs = await _to_thread(
            playlog.throwback_plays,
            self.play_log_dir,
            today,
            MAX_THROWBACKS * 4,
            frozenset({self.bender_email.lower()}),
            self.rng,
        )
        plays = await _to_thread(_throwback_details, self.play_log_dir, today, pairs)
        uris = [p["uri"] for p in plays]
        flags = await self._filter_flags(uris)
        out = []
        for play, why in zip(plays, flags, strict=True):
            if why is not None or play["uri"] in seen:
                continue
            seen.add(play["uri"])
            out.append(play)
            if len(out) >= MAX_THROWBACKS:
                break
        return out


def _candidate(track: Track, user: str) -> dict[str, Any]:
    return {
        "uri": track.uri,
        "title": track.title,
        "artist": track.artist,
        "duration_ms": track.duration_ms,
        "img": track.img,
        "big_img": track.big_img,
        "user": user,
    }


def _throwback_details(
    directory: Path, today: dt.date, pairs: list[tuple[str, str]]
) -> list[dict[str, Any]]:
    """The metadata the logs recorded for each throwback pick (no Spotify call needed)."""
    wanted = dict(pairs)
    meta: dict[str, dict[str, Any]] = {}
    for day, path in playlog.log_files(directory):
        if day >= today or day.weekday() != today.weekday():
            continue
        for play in playlog.read_plays(path):
            uri = str(play.get("uri") or "")
            if uri in wanted and uri not in meta:
                meta[uri] = play
    out = []
    for uri, user in pairs:
        found = meta.get(uri)
        if found is None or not found.get("duration_ms"):
            continue
        play = found
        out.append(
            {
                "uri": uri,
                "title": str(play.get("title") or ""),
                "artist": str(play.get("artist") or ""),
                "duration_ms": int(play["duration_ms"]),
                "img": str(play.get("img") or ""),
                "big_img": str(play.get("big_img") or ""),
                "user": user,
                "throwback": True,
            }
        )
    return out


async def _to_thread(fn: Callable[..., Any], *args: Any) -> Any:
    import asyncio

    return await asyncio.to_thread(fn, *args)


# --- the preview's Queue and Filter actions (called by the web service) ----------------------

AddFn = Callable[[str, str], Awaitable[Any]]


async def take_preview(redis: Redis, uri: str) -> Item | None:
    raw = await scripts.TAKE_PREVIEW(redis, [keys.PREVIEW], [uri], raw=True)
    if not raw:
        return None
    try:
        return Item.model_validate_json(records.item_text(raw))
    except records.UnreadableRecord as exc:
        records.report_damaged("preview", records.raw_digest(raw), str(exc))
        return None


async def _after_preview_change(redis: Redis, events_max_len: int) -> None:
    await publish_event(redis, "queue_update", {}, events_max_len)
    # The player's Bender makes the next preview as soon as it sees the old one gone.
    await redis.lpush(keys.PLAYER_WAKE, "preview")
    await redis.ltrim(keys.PLAYER_WAKE, 0, 9)


async def promote_preview(
    redis: Redis, uri: str, user: str, *, rules: QueueRules = DEFAULT_RULES
) -> Item | None:
    """Queue action: add the previewed track to the queue as ``user`` (a human add, fair
    round-robin). None when the preview is no longer that track (someone else acted first)."""
    taken = await take_preview(redis, uri)
    if taken is None:
        return None
    track = Track(
        uri=taken.uri,
        title=taken.title,
        artist=taken.artist,
        duration_ms=taken.duration_ms,
        img=taken.img,
        big_img=taken.big_img,
    )
    try:
        item = await add_item(redis, track, user, rules=rules)
    except Exception:
        # Put the suggestion back rather than lose it (e.g. the queue is full).
        await redis.set(keys.PREVIEW, taken.model_dump_json(), nx=True)
        raise
    await _after_preview_change(redis, rules.events_max_len)
    return item


async def filter_preview(redis: Redis, uri: str, *, events_max_len: int) -> bool:
    """Filter action: keep this track out of Bender for 7 days and drop it from the preview."""
    await redis.set(keys.filtered(uri), FILTER_USER, ex=FILTER_TTL_S)
    taken = await take_preview(redis, uri)
    if taken is None:
        return False  # nothing changed: no event for every client, no new pick
    await _after_preview_change(redis, events_max_len)
    return True
