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
import collections
import contextlib
import logging
import re
import weakref
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from redis.asyncio import Redis

from shared import keys
from shared.queue import records
from shared.queue.control import get_now_playing
from shared.queue.delta import Snapshot, diff
from shared.queue.events import EVENT_TYPES
from shared.queue.queue import QueueReader
from shared.redis_client import REDIS_UNAVAILABLE, blocking_call

log = logging.getLogger(__name__)

_ID_RE = re.compile(r"[0-9]{1,20}-[0-9]{1,20}")
_ID_PART_MAX = 2**64 - 1  # Redis stream ids are two unsigned 64-bit numbers
_REPLAY_PAGE = 100  # entries held at once (a now_playing entry carries its item's comments)
# A resume replays airhorns and room announcements of this last stretch only (moments, not state).
_MOMENTS_REPLAY_MS = 5_000
_MOMENTS_MAX = 10
# Queue frames of one process are at least this far apart; changes in between are merged.
COALESCE_S = 0.2
# A replay costs at most one fresh snapshot's bytes, or this much when the snapshot is smaller
# (a short queue must not cost a reconnecting client the horn blown a second ago).
_REPLAY_FLOOR = 8 * 1024
_REPLAY_MAX_PAGES = 1_000  # events_max_len (<= 100,000) / _REPLAY_PAGE: the loop is bounded
_TAIL_BACKOFF_MIN_S = 0.1
_TAIL_BACKOFF_MAX_S = 1.0

StreamId = tuple[int, int]
# How this process's clients receive one event: (id or None, type, data JSON) -> bytes. Called
# once per event per process; every subscriber shares the result.
Encode = Callable[[str | None, str, str], bytes]
# How a stream receives queue changes: ``delta`` (a ``queue_delta`` per change, the web's) or
# ``full`` (the whole ``queue_update`` per change, as the original's bots expect).
QueueMode = Literal["delta", "full"]


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


@dataclass(frozen=True, slots=True)
class _Event:
    sid: StreamId
    id: str
    type: str
    data: str  # JSON object text; "" for queue_update (readers resolve the queue)


def _events(entries: list[tuple[str, dict[str, str]]]) -> list[_Event]:
    """Stream entries as events; a damaged entry is skipped (reported once), never sent."""
    out = []
    for event_id, fields in entries:
        sid = parse_id(event_id)
        etype = fields.get("type", "")
        if sid is None or etype not in EVENT_TYPES:
            continue
        data = ""
        if etype != "queue_update":
            data = fields.get("data") or "{}"
            if not _is_json_object(data):
                records.report_damaged("event", event_id, "data is not a JSON object")
                continue
        out.append(_Event(sid, event_id, etype, data))
    return out


@dataclass(eq=False)
class Subscription:
    queue: asyncio.Queue[tuple[StreamId, bytes]]
    mode: QueueMode = "delta"
    dropped: bool = False
    wakeup: asyncio.Event = field(default_factory=asyncio.Event)
    # Keep-alives: the hub's ticker sets ``ping_due`` once the stream was quiet for ``idle_s``
    # (one timer for all streams instead of a timeout armed and cancelled per frame).
    idle_s: float = 15.0
    quiet_since: float = 0.0
    ping_due: bool = False


_hubs: weakref.WeakSet[EventHub] = weakref.WeakSet()


def end_all_streams() -> None:
    """At server shutdown: end every event stream of this process, so their connections close at
    once instead of holding the graceful shutdown until it gives up (clients reconnect with
    ``Last-Event-ID`` to another process, or to this one restarted, and miss nothing)."""
    for hub in list(_hubs):
        hub.end_streams()


class EventHub:
    """Tails ``andre:events`` once per process and fans each frame out to every subscriber.

    It also holds the process's current queue ``Snapshot``: each batch of entries that changed
    the queue costs one queue read, one diff and one frame per mode, whatever the number of
    subscribers; a new stream starts from that snapshot without reading Redis for the queue.
    """

    def __init__(
        self,
        redis: Redis,
        *,
        encode: Encode,
        subscriber_queue_size: int = 256,
        block_ms: int = 5000,
        coalesce_s: float = COALESCE_S,
    ) -> None:
        self.redis = redis
        self.encode = encode
        # Snapshots share reads: changes arriving while one is read are covered by the next.
        self.queue_reader = QueueReader(redis)
        self.subscriber_queue_size = subscriber_queue_size
        self.block_ms = block_ms
        self.coalesce_s = coalesce_s
        self.last_id = "0-0"
        # The queue as of ``last_id`` (or newer): every queue frame fanned out after it was set
        # starts from it, so a stream that takes it and subscribes in the same step misses none.
        # None while nobody subscribes (not kept up to date then); the first queue frame after
        # it is the whole view, whatever the mode.
        self.queue: Snapshot | None = None
        self._queue_generation = 0  # bumped whenever the tail sets ``queue``
        self._subs: set[Subscription] = set()
        self._task: asyncio.Task[None] | None = None
        self._ticker: asyncio.Task[None] | None = None
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

    async def read_snapshot(self) -> Snapshot:
        return Snapshot.of(await self.queue_reader.get_view())

    async def current_snapshot(self) -> Snapshot:
        """The hub's snapshot; when it keeps none (nobody followed it), one read now, which the
        hub adopts if its tail set nothing meanwhile, so the streams arriving together share one
        snapshot and its one encoding instead of each holding its own copy."""
        if self.queue is not None:
            return self.queue
        generation = self._queue_generation
        snap = await self.read_snapshot()
        if self.queue is None and self._queue_generation == generation:
            self.queue = snap
        if self.queue is not None and self.queue.version == snap.version:
            return self.queue
        return snap

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="andre-event-hub")
            self._ticker = asyncio.create_task(self._tick(), name="andre-event-hub-pings")
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
        ticker, self._ticker = self._ticker, None
        self._stopping = True
        if task is None:
            return
        # Cancelling the tail mid-read is safe: blocking_call closes a half-read connection.
        task.cancel()
        if ticker is not None:
            ticker.cancel()
        await asyncio.gather(task, *([ticker] if ticker else []), return_exceptions=True)
        await self.queue_reader.aclose()
        for sub in list(self._subs):
            self._drop(sub)

    def subscribe(self, mode: QueueMode = "delta", idle_s: float = 15.0) -> Subscription:
        sub = Subscription(
            queue=asyncio.Queue(maxsize=self.subscriber_queue_size),
            mode=mode,
            idle_s=idle_s,
            quiet_since=asyncio.get_running_loop().time(),
        )
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

    def _fan_out(self, frames: dict[QueueMode, list[tuple[StreamId, bytes]]]) -> None:
        for sub in list(self._subs):
            try:
                for item in frames[sub.mode]:
                    sub.queue.put_nowait(item)
            except asyncio.QueueFull:
                # Too slow: it reconnects and replays, which costs at most one snapshot (so a
                # client that cannot keep up gets the changes coalesced into one).
                self._drop(sub)
            else:
                sub.wakeup.set()

    async def _tick(self) -> None:
        """Mark the streams that have been quiet for their ``idle_s`` (they send a keep-alive)."""
        loop = asyncio.get_running_loop()
        while not self._stopping:
            shortest = min((sub.idle_s for sub in self._subs), default=1.0)
            await asyncio.sleep(min(1.0, max(0.01, shortest / 4)))
            now = loop.time()
            for sub in list(self._subs):
                if not sub.ping_due and now - sub.quiet_since >= sub.idle_s:
                    sub.ping_due = True
                    sub.wakeup.set()

    async def _process(self, entries: list[tuple[str, dict[str, str]]]) -> bool:
        """One read of the tail: the batch's queue changes become ONE queue frame (at the last
        of them), read once and diffed once; the other events pass as they are."""
        events = _events(entries)
        queue_at = max(
            (k for k, event in enumerate(events) if event.type == "queue_update"), default=-1
        )
        if queue_at >= 0 and not self._subs:
            # Nobody follows this process's stream (an api replica no bot listens to): no read;
            # the snapshot is stale and the next stream reads its own (``follow``).
            self.last_id = entries[-1][0]
            self.queue = None
            self._queue_generation += 1
            return False
        new = await self.read_snapshot() if queue_at >= 0 else None
        # Nothing awaits from here to the fan-out: a stream that subscribes and takes
        # ``self.queue`` in one step gets every frame that follows it and none before.
        self.last_id = entries[-1][0]
        old = self.queue
        if new is not None:
            self.queue = new
            self._queue_generation += 1
        if not self._subs:
            return False
        modes = {sub.mode for sub in self._subs}
        frames: dict[QueueMode, list[tuple[StreamId, bytes]]] = {mode: [] for mode in modes}
        for k, event in enumerate(events):
            if event.type != "queue_update":
                frame = self.encode(event.id, event.type, event.data)
                for mode in modes:
                    frames[mode].append((event.sid, frame))
            elif k == queue_at and new is not None:
                for mode in modes:
                    queue_frame = self._queue_frame(event.id, old, new, mode)
                    if queue_frame is not None:
                        frames[mode].append((event.sid, queue_frame))
        self._fan_out(frames)
        return new is not None and (old is None or old.version != new.version)

    def _queue_frame(
        self, event_id: str, old: Snapshot | None, new: Snapshot, mode: QueueMode
    ) -> bytes | None:
        """What one queue change sends in ``mode``: nothing when the view did not change, else a
        ``queue_delta`` (the snapshot instead when there is no base or the delta is larger)."""
        if old is not None and old.version == new.version:
            return None
        if mode == "delta" and old is not None:
            payload = diff(old, new)
            if payload is not None and len(payload) < len(new.json):
                return self.encode(event_id, "queue_delta", payload)
        return new.frame(self.encode, event_id)

    async def _run(self) -> None:
        backoff = _TAIL_BACKOFF_MIN_S
        failures = 0
        loop = asyncio.get_running_loop()
        hold_until = 0.0
        while not self._stopping:
            try:
                # Coalescing: after a queue frame, the next read waits out ``coalesce_s``, so
                # changes made meanwhile go out as ONE delta (a burst of votes costs each
                # listener one frame, not one per vote); a change after a quiet spell goes out
                # at once.
                if (delay := hold_until - loop.time()) > 0:
                    await asyncio.sleep(delay)
                if not self._started.is_set():
                    last = await _xrange(self.redis, "XREVRANGE", "+", "-", "COUNT", 1)
                    self.queue = await self.read_snapshot()
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
                entries = _entries(reply) if reply else []
                # Nobody subscribed (an api no bot listens to): no need to read each change as it
                # comes either; the tail catches up in one read per ``coalesce_s``.
                if entries and (await self._process(entries) or not self._subs):
                    hold_until = loop.time() + self.coalesce_s
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


class _Missed:
    """What a resuming client missed, collapsed to what it needs to end in the same state.

    The queue, now playing and the position are states: the newest of each says it all (the
    queue as the stream's snapshot). ``credits`` is a state per user: the newest per user.
    Airhorns and room announcements are moments: only those of the last few seconds are replayed
    (a horn blown a minute ago is not news), at most ``_MOMENTS_MAX``.
    """

    def __init__(self, horizon_ms: int) -> None:
        self.horizon_ms = horizon_ms
        self.queue: _Event | None = None
        self.latest: dict[str, _Event] = {}  # now_playing / player_position / credits:<user>
        self.moments: collections.deque[_Event] = collections.deque(maxlen=_MOMENTS_MAX)

    def add(self, event: _Event) -> None:
        if event.type == "queue_update":
            self.queue = event
        elif event.type in ("airhorn", "room"):
            if event.sid[0] >= self.horizon_ms:
                self.moments.append(event)
        elif event.type == "credits":
            user = records.loads(event.data).get("user")
            self.latest[f"credits:{user}"] = event
        else:
            self.latest[event.type] = event

    def frames(self, encode: Encode, snap: Snapshot) -> list[tuple[StreamId, bytes]]:
        """In stream order; the queue as ``snap`` at the id of the last missed queue change."""
        out = [
            (event.sid, encode(event.id, event.type, event.data)) for event in self.latest.values()
        ]
        out += [(event.sid, encode(event.id, event.type, event.data)) for event in self.moments]
        if self.queue is not None:
            out.append((self.queue.sid, snap.frame(encode, self.queue.id)))
        out.sort(key=lambda pair: pair[0])
        return out


async def _replay(
    hub: EventHub, resume: StreamId, upto: str, snap: Snapshot
) -> AsyncIterator[bytes]:
    """What a client that saw ``resume`` missed up to ``upto`` (the hub's tail when it came),
    collapsed (``_Missed``) and never more bytes than one fresh snapshot (or ``_REPLAY_FLOOR``).

    Entries are read in pages of ``_REPLAY_PAGE`` and folded as they come, so memory stays
    bounded whatever their number; the queue is the hub's snapshot (one current view, however
    many changes were missed). Past the budget, or when part of the gap was trimmed from the
    stream, the client gets the fresh snapshot.
    """
    redis = hub.redis
    upto_sid = parse_id(upto) or (0, 0)
    if upto_sid <= resume:
        return
    oldest = await _xrange(redis, "XRANGE", "-", "+", "COUNT", 1)
    if oldest and (parse_id(oldest[0][0]) or (0, 0)) > resume:
        # Part of what the client missed was trimmed away: give it the current state.
        for frame in await _snapshot(hub, snap, upto):
            yield frame
        return
    missed = _Missed(horizon_ms=upto_sid[0] - _MOMENTS_REPLAY_MS)
    start = f"({resume[0]}-{resume[1]}"
    for _ in range(_REPLAY_MAX_PAGES):
        entries = await _xrange(redis, "XRANGE", start, upto, "COUNT", _REPLAY_PAGE)
        for event in _events(entries):
            missed.add(event)
        if len(entries) < _REPLAY_PAGE:
            break
        start = f"({entries[-1][0]}"
    else:
        for frame in await _snapshot(hub, snap, upto):
            yield frame
        return
    frames = missed.frames(hub.encode, snap)
    sent = sum(len(frame) for _, frame in frames)
    if sent > max(len(snap.frame(hub.encode, upto)), _REPLAY_FLOOR):
        fresh = await _snapshot(hub, snap, upto)
        if sent > max(sum(map(len, fresh)), _REPLAY_FLOOR):
            for frame in fresh:
                yield frame
            return
    for _, frame in frames:
        yield frame


async def _newest_id(redis: Redis) -> StreamId:
    newest = await _xrange(redis, "XREVRANGE", "+", "-", "COUNT", 1)
    return (parse_id(newest[0][0]) or (0, 0)) if newest else (0, 0)


async def _snapshot(hub: EventHub, snap: Snapshot, event_id: str | None) -> list[bytes]:
    """A fresh stream's first frames: the queue (``snap``: its one encoding, shared by every
    stream, never copied) and now playing, read now."""
    np_json = await _now_playing_json(hub.redis)
    return [snap.frame(hub.encode, event_id), hub.encode(event_id, "now_playing", np_json)]


async def follow(
    hub: EventHub,
    resume: StreamId | None,
    *,
    newest: StreamId,
    idle_s: float,
    mode: QueueMode = "delta",
) -> AsyncGenerator[bytes | None, None]:
    """One subscriber's frames: a snapshot (no ``resume``) or what it missed after ``resume``,
    then live frames; ``None`` after ``idle_s`` without one (the caller sends a keep-alive).

    ``newest`` is the stream's newest id when the client came (``EventHub.newest_id``). In
    ``delta`` mode a queue change is a ``queue_delta`` from the view the client holds; in
    ``full`` mode (the original's bots) every change is the whole ``queue_update``.
    """
    # One step, no await: the hub's snapshot and tail, and every frame after them.
    sub = hub.subscribe(mode, idle_s)
    snap = hub.queue
    upto = hub.last_id
    try:
        if snap is None:  # nobody followed this process until now (or Redis was down)
            snap = await hub.current_snapshot()
        if resume is not None and resume > newest:
            # Ahead of the stream (made up, or from before a Redis reset): replaying from there
            # would hold back every live event, so start fresh like a client without an id.
            resume = None
        tail = parse_id(upto) or (0, 0)
        if resume is None:
            for frame in await _snapshot(hub, snap, upto if upto != "0-0" else None):
                yield frame
            last = tail
        else:
            async for data in _replay(hub, resume, upto, snap):
                yield data
            last = max(resume, tail)
        loop = asyncio.get_running_loop()
        while not sub.dropped:
            if sub.queue.empty():
                if sub.ping_due:
                    sub.ping_due = False
                    sub.quiet_since = loop.time()
                    yield None
                    continue
                sub.wakeup.clear()
                await sub.wakeup.wait()
                continue
            # Everything queued goes out as one chunk: one write for a batch's frames.
            chunks = []
            while not sub.queue.empty():
                sid, data = sub.queue.get_nowait()
                if sid > last:
                    last = sid
                    chunks.append(data)
            if chunks:
                sub.quiet_since = loop.time()
                yield chunks[0] if len(chunks) == 1 else b"".join(chunks)
    finally:
        hub.unsubscribe(sub)
