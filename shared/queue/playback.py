"""The player's side of the queue: the leader lock, the atomic advance, the clock and history.

Only the player worker calls these (the queue domain changes ``paused``/``pos_ms``/``anchor_ms``
of ``andre:now_playing`` for pause and resume). Every advance is one Lua step guarded by the
leader token, so a worker that lost the lock can never pop the queue or start a song.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from redis.asyncio import Redis

from shared import keys
from shared.queue import records, scripts
from shared.queue.models import Play
from shared.queue.now_playing import (
    PlayState,
    announce,
    decode_now_playing,
    get_play_state,
    parse_now_playing,
)
from shared.settings import default

__all__ = [  # the player's API; the now-playing record itself lives in shared.queue.now_playing
    "AdvanceMode",
    "AdvanceResult",
    "Clock",
    "PlayState",
    "RedisClock",
    "acquire_leader",
    "advance",
    "decode_now_playing",
    "get_play_state",
    "parse_now_playing",
    "position_event",
    "release_leader",
    "seed_history",
    "wall_ms",
]

SEED_TTL_S = 6 * 3600  # the last human-queued track seeds Bender for a few hours, not forever

AdvanceMode = Literal["end", "skip", "idle"]


class Clock(Protocol):
    """Milliseconds since the epoch; the real clock is Redis TIME (one clock for every process)."""

    async def now_ms(self) -> int: ...


class RedisClock:
    def __init__(self, redis: Redis) -> None:
        self.redis = redis

    async def now_ms(self) -> int:
        seconds, micros = await self.redis.time()
        return int(seconds) * 1000 + int(micros) // 1000


# --- leader lock ----------------------------------------------------------------------------


async def acquire_leader(redis: Redis, token: str, ttl_ms: int) -> bool:
    return bool(await scripts.ACQUIRE_LEADER(redis, [keys.PLAYER_LEADER], [token, ttl_ms]))


async def release_leader(redis: Redis, token: str) -> bool:
    return bool(await scripts.RELEASE_LEADER(redis, [keys.PLAYER_LEADER], [token]))


# --- now playing ----------------------------------------------------------------------------


def play_record(state: PlayState, ended_at_ms: int) -> Play:
    """The history entry of a song that is finishing (played to its end or skipped)."""
    return Play(**state.item.model_dump(), ended_at=ended_at_ms / 1000)


# --- the advance ----------------------------------------------------------------------------


@dataclass(frozen=True)
class AdvanceResult:
    # "unreadable": a song was started (the finished one is in the history) but its record
    # cannot be read back; the next tick reports and replaces it.
    status: Literal["started", "unreadable", "idle", "stale", "not_leader"]
    state: PlayState | None = None
    source: str = ""  # "queue" or "preview" when started
    dropped: tuple[str, ...] = ()  # ids of damaged records skipped ("preview" for the preview)


async def advance(
    redis: Redis,
    *,
    token: str,
    current: PlayState | None,
    mode: AdvanceMode,
    expected_raw: str | bytes = "",
    now_ms: int,
    allow_fill: bool,
    history_max: int,
    events_max_len: int,
    filter_ttl_s: int = default("bender_filter_s"),
) -> AdvanceResult:
    """Finish ``current`` (if any) and start the next song, atomically, as the leader.

    ``expected_raw`` replaces an unreadable record (no state to log) with the next song.
    """
    finished = play_record(current, now_ms).model_dump_json() if current else ""
    fixed_keys = [
        keys.PLAYER_LEADER,
        keys.NOW_PLAYING,
        keys.QUEUE,
        keys.QUEUE_OWNERS,
        keys.PAUSED,
        keys.SKIP,
        keys.HISTORY,
        keys.PREVIEW,
        keys.EVENTS,
        keys.BENDER_STREAK_START,
        keys.BENDER_SEED,
        keys.BENDER_CANDIDATES,
        keys.QUEUE_URIS,
    ]
    fixed_args = [
        token,
        current.raw if current else expected_raw,
        mode,
        now_ms,
        "1" if allow_fill else "0",
        finished,
        history_max,
        events_max_len,
    ]
    # The script declares every key it may touch: the queue's head (its next candidates), their
    # records and their tracks' filter flags, read just before. When they moved meanwhile it
    # refuses with nothing written, and they are read again.
    candidates = _CANDIDATES
    for _ in range(_ADVANCE_ATTEMPTS):
        head, preview_uri = await _read_head(redis, candidates)
        result = await scripts.ADVANCE(
            redis,
            [
                *fixed_keys,
                keys.filtered(preview_uri),
                *(k for item_id, uri in head for k in _candidate_keys(item_id, uri)),
            ],
            [
                *fixed_args,
                preview_uri,
                filter_ttl_s,
                SEED_TTL_S,
                *(part for pair in head for part in pair),
            ],
            raw=True,
        )
        status = bytes(result[0]).decode()
        if status == "more":
            candidates *= 4
        elif status != "moved":
            break
    else:
        return AdvanceResult("stale")
    dropped = tuple(bytes(i).decode("utf-8", "replace") for i in result[3:])
    for item_id in dropped:
        records.report_damaged("queue item", item_id, "skipped by the player")
    if status == "started":
        np_raw = bytes(result[1])
        await announce(redis, np_raw, now_ms, events_max_len, queue_update=True)
        try:
            state = parse_now_playing(np_raw.decode("utf-8"))
        except ValueError:
            # Readable to Lua's cjson, not to strict JSON (a hex number, a bad UTF-8 byte).
            return AdvanceResult("unreadable", dropped=dropped)
        return AdvanceResult("started", state, bytes(result[2]).decode(), dropped)
    if status == "idle":
        return AdvanceResult("idle", dropped=dropped)
    if status == "stale":
        return AdvanceResult("stale")
    if status == "not_leader":
        return AdvanceResult("not_leader")
    raise RuntimeError(f"unexpected advance result {status!r}")


_CANDIDATES = 4  # queued songs declared per advance; more only when all of them are damaged
_ADVANCE_ATTEMPTS = 5


def _candidate_keys(item_id: str, uri: str) -> tuple[str, str, str]:
    return keys.item(item_id), keys.item_votes(item_id), keys.filtered(uri)


async def _read_head(redis: Redis, count: int) -> tuple[list[tuple[str, str]], str]:
    """The first ``count`` queued ids with their tracks' uris, and the preview's uri."""
    async with redis.pipeline(transaction=False) as pipe:
        pipe.execute_command("LRANGE", keys.QUEUE, 0, count - 1, NEVER_DECODE=True)
        pipe.execute_command("GET", keys.PREVIEW, NEVER_DECODE=True)
        ids_raw, preview = await pipe.execute()
    ids = [bytes(i).decode("utf-8", "replace") for i in ids_raw]
    raws = await records.execute(redis, "MGET", *map(keys.item, ids), raw=True) if ids else []
    return [(i, records.uri_of(r)) for i, r in zip(ids, raws, strict=True)], records.uri_of(preview)


# --- events ---------------------------------------------------------------------------------


def position_event(state: PlayState, now_ms: int) -> dict[str, Any]:
    """The ``player_position`` event data (DESIGN §4.4)."""
    return {
        "src": "spotify",
        "trackid": state.item.uri,
        "pos_ms": state.position_ms(now_ms),
        "server_time": now_ms / 1000,
    }


# --- history --------------------------------------------------------------------------------


async def seed_history(redis: Redis, plays_newest_first: Sequence[str], history_max: int) -> int:
    """Fill ``andre:history`` from the play logs when Redis started empty; else do nothing."""
    count = 0
    batch = list(plays_newest_first[:history_max])
    if batch:
        count = int(await scripts.SEED_HISTORY(redis, [keys.HISTORY], [history_max, *batch]))
    return count


def wall_ms() -> int:
    return int(time.time() * 1000)
