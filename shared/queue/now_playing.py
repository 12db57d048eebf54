"""The playing song: ``andre:now_playing`` decoded, its clock, and its one public view.

Scripts that change the record return it as stored with the Redis time; ``announce`` builds the
view here and appends the ``now_playing`` event, so the shape (DESIGN §4.3) has one owner.
"""

from __future__ import annotations

from dataclasses import dataclass

from redis.asyncio import Redis

from shared import keys
from shared.queue import records, scripts
from shared.queue.models import Item, NowPlaying


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
        """The NowPlaying view (DESIGN §4.3) at Redis time ``now_ms``: the one place it is built."""
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


def decode_now_playing(raw: bytes) -> tuple[PlayState | None, bytes]:
    """The state of a raw ``andre:now_playing`` value (read undecoded, so that no byte of it can
    fail the read) and, when it is damaged, the raw value for ``advance(expected_raw=...)``;
    the damage is reported once."""
    try:
        return parse_now_playing(raw.decode("utf-8")), b""
    except ValueError as exc:  # UnicodeDecodeError, UnreadableRecord, pydantic's ValidationError
        records.report_damaged("now_playing", records.raw_digest(raw), str(exc).split("\n")[0])
        return None, raw


async def get_play_state(redis: Redis) -> PlayState | None:
    raw = await redis.get(keys.NOW_PLAYING)
    return parse_now_playing(str(raw)) if raw else None


async def get_now_playing(redis: Redis) -> NowPlaying | None:
    """The playing song with its position on the Redis clock (one round trip), None when idle.

    A damaged record reads as idle (reported once), never as a crash; the player replaces it.
    """
    async with redis.pipeline(transaction=False) as pipe:
        pipe.execute_command("GET", keys.NOW_PLAYING, NEVER_DECODE=True)
        pipe.time()
        raw, (sec, usec) = await pipe.execute()
    if not raw:
        return None
    state, _ = decode_now_playing(raw)
    return None if state is None else state.view(int(sec) * 1000 + int(usec) // 1000)


async def announce(
    redis: Redis,
    raw: bytes | str,
    now_ms: int,
    events_max_len: int,
    *,
    queue_update: bool = False,
) -> None:
    """Append the ``now_playing`` event for a record a script just stored (``raw``, at Redis time
    ``now_ms``), unless a later change replaced it (that change announces itself); then a
    ``queue_update`` when asked."""
    try:
        text = raw if isinstance(raw, str) else raw.decode("utf-8")
        view = parse_now_playing(text).view(now_ms).model_dump_json()
    except ValueError as exc:  # readable to Lua's cjson (a bad UTF-8 byte), not to strict JSON
        records.report_damaged("now_playing", records.raw_digest(raw), str(exc).split("\n")[0])
        view = ""
    await scripts.PUBLISH_NOW_PLAYING(
        redis,
        [keys.NOW_PLAYING, keys.EVENTS],
        [raw, view, events_max_len, "1" if queue_update else "0"],
    )
