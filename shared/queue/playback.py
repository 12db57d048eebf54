"""The player's side of the queue: the leader lock, the atomic advance, the clock and history.

Only the player worker calls these (the queue domain changes ``paused``/``pos_ms``/``anchor_ms``
of ``andre:now_playing`` for pause and resume). Every advance is one Lua step guarded by the
leader token, so a worker that lost the lock can never pop the queue or start a song.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from redis.asyncio import Redis

from shared import keys
from shared.queue import records
from shared.queue.models import Item, NowPlaying, Play
from shared.settings import default

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


class _Script:
    """A Lua script run with EVALSHA, loaded on first use or after a Redis restart; its keys'
    types are checked before it writes (``records.LUA_TYPE_GUARD``)."""

    def __init__(self, source: str) -> None:
        self.source = records.LUA_TYPE_GUARD + source
        self.sha = hashlib.sha1(self.source.encode(), usedforsecurity=False).hexdigest()

    async def __call__(
        self,
        redis: Redis,
        keys_: Sequence[str],
        args: Sequence[str | bytes | int],
        *,
        raw: bool = False,
    ) -> Any:
        # raw: bytes back, for replies that may carry a damaged record's bytes.
        return await records.run_script(redis, self.sha, self.source, keys_, args, raw=raw)


# --- leader lock ----------------------------------------------------------------------------

# KEYS: lock  ARGV: token, ttl_ms.  Take the lock if free, or extend it if we still hold it.
_ACQUIRE = _Script(
    r"""
local cur = redis.call('GET', KEYS[1])
if cur == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if cur then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
"""
)

# KEYS: lock  ARGV: token.  Release only our own lock (never a successor's).
_RELEASE = _Script(
    r"""
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
)


async def acquire_leader(redis: Redis, token: str, ttl_ms: int) -> bool:
    return bool(await _ACQUIRE(redis, [keys.PLAYER_LEADER], [token, ttl_ms]))


async def release_leader(redis: Redis, token: str) -> bool:
    return bool(await _RELEASE(redis, [keys.PLAYER_LEADER], [token]))


# --- now playing ----------------------------------------------------------------------------


@dataclass(frozen=True)
class PlayState:
    """``andre:now_playing`` decoded; ``raw`` is kept to detect concurrent changes."""

    raw: str
    item: Item
    started_at: float
    pos_ms: int
    anchor_ms: int
    paused: bool

    def position_ms(self, now_ms: int) -> int:
        pos = self.pos_ms + (0 if self.paused else now_ms - self.anchor_ms)
        return max(0, min(pos, max(self.item.duration_ms, 0)))

    def remaining_ms(self, now_ms: int) -> int:
        return max(self.item.duration_ms, 0) - self.position_ms(now_ms)

    def view(self, now_ms: int) -> NowPlaying:
        return NowPlaying(
            **self.item.model_dump(),
            pos_ms=self.position_ms(now_ms),
            paused=self.paused,
            started_at=self.started_at,
            server_time=now_ms / 1000,
        )


def parse_now_playing(raw: str) -> PlayState:
    """The decoded record; ``records.UnreadableRecord`` (a ValueError) when it is not readable."""
    data = records.check_now_playing(raw)
    return PlayState(
        raw=raw,
        item=Item.model_validate(data["item"]),
        started_at=float(data.get("started_at") or 0),
        pos_ms=int(data.get("pos_ms") or 0),
        anchor_ms=int(data.get("anchor_ms") or 0),
        paused=bool(data.get("paused")),
    )


async def get_play_state(redis: Redis) -> PlayState | None:
    raw = await redis.get(keys.NOW_PLAYING)
    return parse_now_playing(str(raw)) if raw else None


def decode_now_playing(raw: bytes) -> tuple[PlayState | None, bytes]:
    """The state of a raw ``andre:now_playing`` value (read undecoded, so that no byte of it can
    fail the read) and, when it is damaged, the raw value for ``advance(expected_raw=...)``;
    the damage is reported once."""
    try:
        return parse_now_playing(raw.decode("utf-8")), b""
    except ValueError as exc:  # UnicodeDecodeError, UnreadableRecord, pydantic's ValidationError
        records.report_damaged("now_playing", records.raw_digest(raw), str(exc).split("\n")[0])
        return None, raw


def play_record(state: PlayState, ended_at_ms: int) -> Play:
    """The history entry of a song that is finishing (played to its end or skipped)."""
    return Play(**state.item.model_dump(), ended_at=ended_at_ms / 1000)


# --- the advance ----------------------------------------------------------------------------

# KEYS: 1 leader, 2 now_playing, 3 queue, 4 owners, 5 paused, 6 skip, 7 history, 8 preview,
#       9 events, 10 streak_start, 11 seed, 12 candidates
# ARGV: 1 token, 2 expected now_playing raw ('' = idle), 3 mode (end|skip|idle), 4 now_ms,
#       5 allow_fill ('1'/'0'), 6 finished play JSON ('' = none), 7 history max,
#       8 events max len, 9 item key prefix, 10 filter key prefix, 11 filter ttl s, 12 seed ttl s
#
# One atomic step: only the lock holder, and only if now_playing is still what it looked at
# (a pause, resume or jam in between makes it look again). Finishes the current song into the
# history, pops the next queued item (or promotes the Bender preview when allowed), writes the
# new now_playing, and announces it. Items are spliced as text: re-encoding with cjson would
# turn empty lists into objects.
_ADVANCE = _Script(
    records.LUA_CHECKS
    + r"""
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return {'not_leader'} end
local cur = redis.call('GET', KEYS[2]) or ''
if cur ~= ARGV[2] then return {'stale'} end
local now = tonumber(ARGV[4])
local cur_paused = false
if cur ~= '' then
  local ok, decoded = pcall(cjson.decode, cur)
  if ok and type(decoded) == 'table' then cur_paused = decoded.paused and true or false end
end
if ARGV[6] ~= '' then
  redis.call('LPUSH', KEYS[7], ARGV[6])
  redis.call('LTRIM', KEYS[7], 0, tonumber(ARGV[7]) - 1)
end
-- A skip request is about the song that is now over (or there was none): consume it.
redis.call('DEL', KEYS[6])
-- Scripts are not rolled back on error: never raise after the first write. An item record
-- that is missing or damaged (shared.queue.records) is dropped, named in the reply so the
-- worker can report it, and the next one tried: a bad record never stops the music.
local function readable(raw, id)
  local item = load_item(raw, id)
  if item and string.sub(raw, -1) == '}' then return item end
  return nil
end
local dropped = {}
local item_json = nil
local item = nil
local source = 'queue'
while true do
  local id = redis.call('LPOP', KEYS[3])
  if not id then break end
  redis.call('HDEL', KEYS[4], id)
  local ikey = ARGV[9] .. id
  item_json = redis.call('GET', ikey)
  redis.call('DEL', ikey, ikey .. ':votes')
  item = readable(item_json, id)
  if item then break end
  dropped[#dropped + 1] = id
  item_json = nil
end
if not item and ARGV[5] == '1' then
  item_json = redis.call('GET', KEYS[8])
  item = readable(item_json)
  if item_json then redis.call('DEL', KEYS[8]) end
  if item then source = 'preview' else
    if item_json then dropped[#dropped + 1] = 'preview' end
    item_json = nil
  end
end
local emit = function(etype, data)
  redis.call('XADD', KEYS[9], 'MAXLEN', '~', ARGV[8], '*', 'type', etype, 'data', data)
end
if not item then
  redis.call('DEL', KEYS[2], KEYS[5])
  if cur ~= '' then emit('now_playing', '{}') end
  return {'idle', '', '', unpack(dropped)}
end
-- Skip while paused: the next song is cued at 0 and stays paused until someone resumes.
local paused = (ARGV[3] == 'skip') and cur_paused
local pflag = paused and 'true' or 'false'
local started = now / 1000
local np = '{"item":' .. item_json .. ',"started_at":' .. string.format('%.3f', started) ..
  ',"pos_ms":0,"anchor_ms":' .. string.format('%d', now) .. ',"paused":' .. pflag .. '}'
redis.call('SET', KEYS[2], np)
if paused then redis.call('SET', KEYS[5], '1') else redis.call('DEL', KEYS[5]) end
local uri = tostring(item.uri or '')
if uri ~= '' and redis.call('GET', ARGV[10] .. uri) ~= 'user' then
  redis.call('SET', ARGV[10] .. uri, 'play', 'EX', ARGV[11])
end
if item.auto then
  redis.call('SET', KEYS[10], string.format('%d', now), 'NX')
else
  -- A human song ends any auto-fill streak and becomes Bender's new seed.
  redis.call('DEL', KEYS[10], KEYS[12])
  if uri ~= '' then redis.call('SET', KEYS[11], uri, 'EX', ARGV[12]) end
end
local view = string.sub(item_json, 1, -2) .. ',"pos_ms":0,"paused":' .. pflag ..
  ',"started_at":' .. string.format('%.3f', started) ..
  ',"server_time":' .. string.format('%.3f', started) .. '}'
emit('now_playing', view)
emit('queue_update', '')
return {'started', np, source, unpack(dropped)}
"""
)


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
    result = await _ADVANCE(
        redis,
        [
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
        ],
        [
            token,
            current.raw if current else expected_raw,
            mode,
            now_ms,
            "1" if allow_fill else "0",
            finished,
            history_max,
            events_max_len,
            keys.item(""),
            keys.filtered(""),
            filter_ttl_s,
            SEED_TTL_S,
        ],
        raw=True,
    )
    status = bytes(result[0]).decode()
    dropped = tuple(bytes(i).decode("utf-8", "replace") for i in result[3:])
    for item_id in dropped:
        records.report_damaged("queue item", item_id, "skipped by the player")
    if status == "started":
        try:
            state = parse_now_playing(bytes(result[1]).decode("utf-8"))
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


# --- events ---------------------------------------------------------------------------------


async def publish_event(redis: Redis, etype: str, data: dict[str, Any], max_len: int) -> None:
    """Append one event to the stream (``shared.events.publish``)."""
    from shared.events import publish  # late: shared.events imports the queue views

    await publish(redis, etype, data, max_len)


def position_event(state: PlayState, now_ms: int) -> dict[str, Any]:
    """The ``player_position`` event data (DESIGN §4.4)."""
    return {
        "src": "spotify",
        "trackid": state.item.uri,
        "pos_ms": state.position_ms(now_ms),
        "server_time": now_ms / 1000,
    }


# --- history --------------------------------------------------------------------------------

# KEYS: history  ARGV: max, play JSON... (newest first).  Only fills an empty history.
_SEED_HISTORY = _Script(
    r"""
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
if #ARGV < 2 then return 0 end
redis.call('RPUSH', KEYS[1], unpack(ARGV, 2))
redis.call('LTRIM', KEYS[1], 0, tonumber(ARGV[1]) - 1)
return #ARGV - 1
"""
)


async def seed_history(redis: Redis, plays_newest_first: Sequence[str], history_max: int) -> int:
    """Fill ``andre:history`` from the play logs when Redis started empty; else do nothing."""
    count = 0
    batch = list(plays_newest_first[:history_max])
    if batch:
        count = int(await _SEED_HISTORY(redis, [keys.HISTORY], [history_max, *batch]))
    return count


def wall_ms() -> int:
    return int(time.time() * 1000)
