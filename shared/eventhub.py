"""The event hub: one tail of ``andre:events`` per process, fanned out to every subscriber.

Each event is encoded once per process (by the ``encode`` its service gives the hub, the SSE
frame of ``shared.sse``) and shared by every subscriber; a subscriber that cannot keep up is
dropped (its stream ends) instead of slowing everyone else, and its client reconnects with the
last id it saw and replays what it missed from the stream, bounded in bytes and memory.
Publishing is the domain's (``shared.queue.events``); this module reads and imports no web
framework.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import weakref
from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from redis.asyncio import Redis

from shared import keys
from shared.queue import records
from shared.queue.control import get_now_playing
from shared.queue.events import EVENT_TYPES
from shared.queue.queue import QueueReader
from shared.redis_client import REDIS_UNAVAILABLE, blocking_call

log = logging.getLogger(__name__)

_ID_RE = re.compile(r"[0-9]{1,20}-[0-9]{1,20}")
_ID_PART_MAX = 2**64 - 1  # Redis stream ids are two unsigned 64-bit numbers
_REPLAY_PAGE = 100  # entries held at once (a now_playing entry carries its item's comments)
# Bytes of replayed frames (besides the one current queue) one resume may send; past that the
# client gets a snapshot instead. A full stream of player_position/airhorn events fits.
_REPLAY_MAX_BYTES = 2 * 1024 * 1024
_REPLAY_MAX_PAGES = 1_000  # events_max_len (<= 100,000) / _REPLAY_PAGE: the loop is bounded
_TAIL_BACKOFF_MIN_S = 0.1
_TAIL_BACKOFF_MAX_S = 1.0

StreamId = tuple[int, int]
# How this process's clients receive one event: (id or None, type, data JSON) -> bytes. Called
# once per event per process; every subscriber shares the result.
Encode = Callable[[str | None, str, str], bytes]


def parse_id(value: str) -> StreamId | None:
    if not _ID_RE.fullmatch(value):
        return None
    ms, seq = (int(part) for part in value.split("-"))
    if ms > _ID_PART_MAX or seq > _ID_PART_MAX:
        return None
    return ms, seq


async def _now_playing_json(redis: Redis) -> str:
    view = await get_now_playing(redis)
    return "{}" if view is None else view.model_dump_json()


async def _frames_for(
    reader: QueueReader, encode: Encode, entries: list[tuple[str, dict[str, str]]]
) -> list[tuple[StreamId, bytes]]:
    """Serialise stream entries; a batch's queue_updates become ONE frame, at the last of them.

    Every queue_update resolves to the same current queue, so sending it once per batch (where
    the batch's last one stood) says everything the others would have said at a fraction of the
    bytes: one copy of a 1,000-song queue instead of one per entry.
    """
    last_update = max(
        (i for i, (_, fields) in enumerate(entries) if fields.get("type") == "queue_update"),
        default=-1,
    )
    out = []
    for position, (event_id, fields) in enumerate(entries):
        sid = parse_id(event_id)
        etype = fields.get("type", "")
        if sid is None or etype not in EVENT_TYPES:
            continue
        if etype == "queue_update":
            if position != last_update:
                continue
            data = await reader.get_json()
        else:
            data = fields.get("data") or "{}"
            if not _is_json_object(data):
                # A damaged entry is skipped (reported once), never sent as broken JSON.
                records.report_damaged("event", event_id, "data is not a JSON object")
                continue
        out.append((sid, encode(event_id, etype, data)))
    return out


def _is_json_object(data: str) -> bool:
    try:
        return isinstance(records.loads(data), dict)
    except ValueError:
        return False


def _text(value: Any) -> str:
    # The stream is read undecoded: one entry with a bad byte must not fail every read of the
    # stream (the tail would retry the same entry forever). Undecodable text reads as a NUL,
    # which no check accepts (not JSON, not a type, not an id): the entry is skipped.
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            return "\x00"
    return str(value)


def _entry(event_id: Any, fields: Any) -> tuple[str, dict[str, str]]:
    if not isinstance(fields, dict):
        fields = dict(zip(fields[::2], fields[1::2], strict=False))
    return _text(event_id), {_text(k): _text(v) for k, v in fields.items()}


def _range_entries(reply: Any) -> list[tuple[str, dict[str, str]]]:
    """XRANGE / XREVRANGE entries (read undecoded) as text."""
    return [_entry(event_id, fields) for event_id, fields in reply or []]


async def _xrange(redis: Redis, command: str, *args: str | int) -> list[tuple[str, dict[str, str]]]:
    return _range_entries(await records.execute(redis, command, keys.EVENTS, *args, raw=True))


def _entries(reply: Any) -> list[tuple[str, dict[str, str]]]:
    """XREAD's entries from a RESP2 (list) or RESP3 (map) reply."""
    streams = list(reply.values()) if isinstance(reply, dict) else [s[1] for s in reply]
    return [_entry(event_id, fields) for stream in streams for event_id, fields in stream]


@dataclass(eq=False)
class Subscription:
    queue: asyncio.Queue[tuple[StreamId, bytes]]
    dropped: bool = False
    wakeup: asyncio.Event = field(default_factory=asyncio.Event)


_hubs: weakref.WeakSet[EventHub] = weakref.WeakSet()


def end_all_streams() -> None:
    """At server shutdown: end every event stream of this process, so their connections close at
    once instead of holding the graceful shutdown until it gives up (clients reconnect with
    ``Last-Event-ID`` to another process, or to this one restarted, and miss nothing)."""
    for hub in list(_hubs):
        hub.end_streams()


class EventHub:
    """Tails ``andre:events`` once per process and fans each frame out to every subscriber."""

    def __init__(
        self,
        redis: Redis,
        *,
        encode: Encode,
        subscriber_queue_size: int = 256,
        block_ms: int = 5000,
    ) -> None:
        self.redis = redis
        self.encode = encode
        # Snapshots and queue_update resolution share reads: a thousand clients reconnecting
        # at once cost a handful of queue reads, not a thousand.
        self.queue_reader = QueueReader(redis)
        self.subscriber_queue_size = subscriber_queue_size
        self.block_ms = block_ms
        self.last_id = "0-0"
        self._subs: set[Subscription] = set()
        self._task: asyncio.Task[None] | None = None
        self._started = asyncio.Event()
        self._stopping = False
        self._ending = False
        _hubs.add(self)

    @property
    def subscriber_count(self) -> int:
        return len(self._subs)

    async def newest_id(self) -> StreamId:
        """The id of the stream's newest entry, ``(0, 0)`` when it is empty."""
        return await _newest_id(self.redis)

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="andre-event-hub")
            # Subscribers must know the tail id the hub starts from; wait a moment for it.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(5):
                    await self._started.wait()

    async def __aenter__(self) -> EventHub:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def stop(self) -> None:
        task, self._task = self._task, None
        self._stopping = True
        if task is None:
            return
        # Cancelling the tail mid-read is safe: blocking_call closes a half-read connection.
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        for sub in list(self._subs):
            self._drop(sub)

    def subscribe(self) -> Subscription:
        sub = Subscription(queue=asyncio.Queue(maxsize=self.subscriber_queue_size))
        if self._ending:
            sub.dropped = True  # the server is shutting down: this stream ends at once
        else:
            self._subs.add(sub)
        return sub

    def end_streams(self) -> None:
        """End every open stream now and any opened from here on (server shutdown)."""
        self._ending = True
        for sub in list(self._subs):
            self._drop(sub)

    def unsubscribe(self, sub: Subscription) -> None:
        self._subs.discard(sub)

    def _drop(self, sub: Subscription) -> None:
        sub.dropped = True
        sub.wakeup.set()
        self._subs.discard(sub)

    def _fan_out(self, frames: list[tuple[StreamId, bytes]]) -> None:
        for sub in list(self._subs):
            try:
                for item in frames:
                    sub.queue.put_nowait(item)
            except asyncio.QueueFull:
                self._drop(sub)  # too slow: it reconnects and replays from the stream
            else:
                sub.wakeup.set()

    async def _run(self) -> None:
        backoff = _TAIL_BACKOFF_MIN_S
        failures = 0
        while not self._stopping:
            try:
                if not self._started.is_set():
                    last = await _xrange(self.redis, "XREVRANGE", "+", "-", "COUNT", 1)
                    self.last_id = last[0][0] if last else "0-0"
                    self._started.set()
                reply = await blocking_call(
                    self.redis,
                    self.block_ms / 1000,
                    *("XREAD", "COUNT", 500, "BLOCK", self.block_ms),
                    *("STREAMS", keys.EVENTS, self.last_id),
                    decode=False,  # undecoded, see _text
                )
                if failures:
                    log.info("event hub: reading the stream again after %d failures", failures)
                failures = 0
                backoff = _TAIL_BACKOFF_MIN_S
                if not reply:
                    continue
                entries = _entries(reply)
                if not entries:
                    continue
                self.last_id = entries[-1][0]
                if self._subs:
                    self._fan_out(await _frames_for(self.queue_reader, self.encode, entries))
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - the tail must outlive Redis hiccups
                if self._stopping:
                    break
                if not isinstance(exc, REDIS_UNAVAILABLE):
                    log.warning("event hub: reading the stream failed; retrying", exc_info=True)
                elif not failures:
                    # An outage is one line, not a traceback per retry.
                    log.warning("event hub: Redis unavailable (%s); retrying", type(exc).__name__)
                failures += 1
                await asyncio.sleep(backoff)
                # Capped low: live events resume within a second or two of Redis coming back.
                backoff = min(backoff * 2, _TAIL_BACKOFF_MAX_S)


class _ReplayTooLong(Exception):
    """A resume would replay more than ``_REPLAY_MAX_BYTES``: send the current state instead."""


async def _replay(hub: EventHub, after: str) -> AsyncIterator[tuple[StreamId | None, bytes]]:
    """The entries after ``after``, bounded in bytes and memory whatever their number.

    Pages of ``_REPLAY_PAGE`` entries; every ``queue_update`` of the whole replay becomes one
    current-queue frame at the end (with the newest id when the newest entry is a queue_update,
    else without an id, so the client's Last-Event-ID stays the newest replayed one). The other
    frames (which carry their own data) may add up to ``_REPLAY_MAX_BYTES``; past that the
    caller sends a snapshot instead (``_ReplayTooLong``). A yield waits for the client to take
    the bytes (the ASGI server's flow control), so a slow reader holds one frame, not a replay.
    """
    redis = hub.redis
    start = after
    sent = 0
    queue_due = False
    newest: tuple[StreamId, str] | None = None
    last_is_queue = False
    for _ in range(_REPLAY_MAX_PAGES):
        entries = await _xrange(redis, "XRANGE", f"({start}", "+", "COUNT", _REPLAY_PAGE)
        if not entries:
            break
        for event_id, fields in entries:
            sid = parse_id(event_id)
            etype = fields.get("type", "")
            if sid is None or etype not in EVENT_TYPES:
                continue
            newest = (sid, event_id)
            last_is_queue = etype == "queue_update"
            if last_is_queue:
                queue_due = True
                continue
            payload = fields.get("data") or "{}"
            if not _is_json_object(payload):
                records.report_damaged("event", event_id, "data is not a JSON object")
                continue
            data = hub.encode(event_id, etype, payload)
            sent += len(data)
            if sent > _REPLAY_MAX_BYTES:
                raise _ReplayTooLong
            yield sid, data
        if len(entries) < _REPLAY_PAGE:
            break
        start = entries[-1][0]
    else:
        raise _ReplayTooLong
    if queue_due and newest is not None:
        queue_json = await hub.queue_reader.get_json()
        if last_is_queue:
            yield newest[0], hub.encode(newest[1], "queue_update", queue_json)
        else:
            yield None, hub.encode(None, "queue_update", queue_json)


async def _newest_id(redis: Redis) -> StreamId:
    newest = await _xrange(redis, "XREVRANGE", "+", "-", "COUNT", 1)
    return (parse_id(newest[0][0]) or (0, 0)) if newest else (0, 0)


async def _snapshot(hub: EventHub, event_id: str | None) -> bytes:
    queue_json = await hub.queue_reader.get_json()
    np_json = await _now_playing_json(hub.redis)
    return hub.encode(event_id, "queue_update", queue_json) + hub.encode(
        event_id, "now_playing", np_json
    )


async def follow(
    hub: EventHub, resume: StreamId | None, *, newest: StreamId, idle_s: float
) -> AsyncGenerator[bytes | None, None]:
    """One subscriber's frames: a snapshot (no ``resume``) or the replay after ``resume``, then
    live frames; ``None`` after ``idle_s`` without one (the caller sends a keep-alive).

    ``newest`` is the stream's newest id when the client came (``EventHub.newest_id``).
    """
    redis = hub.redis
    sub = hub.subscribe()  # before reading anything, so nothing falls between replay and live
    try:
        last: StreamId = (0, 0)
        if resume is not None and resume > newest:
            # Ahead of the stream (made up, or from before a Redis reset): replaying from there
            # would hold back every live event, so start fresh like a client without an id.
            resume = None
        if resume is None:
            tail = hub.last_id
            yield await _snapshot(hub, tail if tail != "0-0" else None)
            last = parse_id(tail) or (0, 0)
        else:
            oldest = await _xrange(redis, "XRANGE", "-", "+", "COUNT", 1)
            if oldest and (parse_id(oldest[0][0]) or (0, 0)) > resume:
                # Part of what the client missed was trimmed away: give it the current state.
                yield await _snapshot(hub, None)
            last = resume
            try:
                async for sid, data in _replay(hub, f"{resume[0]}-{resume[1]}"):
                    if sid is None:
                        yield data  # the replay's one current queue, after the newest entry
                    elif sid > last:
                        last = sid
                        yield data
            except _ReplayTooLong:
                # Too much to replay: the current state, and live events after the newest id.
                last = max(last, await _newest_id(redis))
                yield await _snapshot(hub, None)
        while not sub.dropped:
            try:
                sid, data = sub.queue.get_nowait()
            except asyncio.QueueEmpty:
                sub.wakeup.clear()
                try:
                    async with asyncio.timeout(idle_s):
                        await sub.wakeup.wait()
                except TimeoutError:
                    yield None
                continue
            if sid > last:
                last = sid
                yield data
    finally:
        hub.unsubscribe(sub)


async def count_open(
    frames: AsyncIterable[Any], open_streams: dict[str, int], who: str
) -> AsyncIterator[Any]:
    """Pass a stream through while counting it among ``who``'s open streams (the per-user and
    per-token caps of both services read ``open_streams``)."""
    open_streams[who] = open_streams.get(who, 0) + 1
    try:
        async for chunk in frames:
            yield chunk
    finally:
        left = open_streams.get(who, 1) - 1
        if left > 0:
            open_streams[who] = left
        else:
            open_streams.pop(who, None)
        aclose = getattr(frames, "aclose", None)
        if aclose is not None:
            await aclose()
