"""Caps on open event streams per user (web) or per token identity (api), over every replica.

Each open stream holds a lease in a Redis sorted set per subject (``keys.stream_leases``): lease
id -> expiry in Redis time. A stream takes its lease before the response starts (past the cap:
``RateLimited``, a 429), renews it every ``refresh_s`` while it stays open and gives it back when
it ends. A replica that dies with streams open gives nothing back: its leases expire after
``lease_s`` (and a lease taken for a response that never started expires the same way), so a
crash costs a user at most ``lease_s`` of a slot, never the slot for good.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass
from typing import Any

import anyio
from redis.asyncio import Redis
from redis.exceptions import RedisError

from shared import keys
from shared.errors import RateLimited
from shared.queue import scripts
from shared.queue.errors import DamagedRecord

log = logging.getLogger(__name__)

# A lease outlives a missed renewal or two (a slow Redis reply), and a crashed replica's streams
# stop counting within a minute.
LEASE_S = 60.0
REFRESH_S = 20.0
RELEASE_WAIT_S = 2.0


@dataclass(frozen=True)
class StreamCap:
    kind: str  # "web" (per user) or "api" (per token identity): separate counts
    max_streams: int
    lease_s: float = LEASE_S
    refresh_s: float = REFRESH_S

    def key(self, subject: str) -> str:
        return keys.stream_leases(self.kind, subject.lower())

    async def acquire(self, redis: Redis, subject: str, message: str) -> Lease:
        """Take a lease for one more open stream of ``subject``; ``RateLimited(message)`` (with a
        Retry-After of the time until the soonest lease may expire, at most 5 s) when
        ``max_streams`` are already open across the replicas."""
        lease = Lease(self, redis, self.key(subject), uuid.uuid4().hex)
        held, value = await lease.take(self.max_streams)
        if not held:
            retry_s = max(1, min(5, -(-int(value) // 1000)))
            raise RateLimited(message, retry_s)
        return lease

    async def count(self, redis: Redis, subject: str) -> int:
        """Open streams of ``subject`` now (leases not yet expired), for tests and diagnostics."""
        now_s, now_us = await redis.time()
        now_ms = int(now_s) * 1000 + int(now_us) // 1000
        return int(await redis.zcount(self.key(subject), f"({now_ms}", "+inf"))


@dataclass
class Lease:
    cap: StreamCap
    redis: Redis
    key: str
    lease_id: str

    async def take(self, max_streams: int) -> tuple[bool, int]:
        held, value = await scripts.STREAM_LEASE(
            self.redis, [self.key], [self.lease_id, max_streams, int(self.cap.lease_s * 1000)]
        )
        return bool(int(held)), int(value)

    async def release(self) -> None:
        """Give the lease back; with Redis away it stays until it expires (logged, not raised)."""
        try:
            await self.redis.zrem(self.key, self.lease_id)
        except (RedisError, OSError) as exc:
            log.warning(
                "could not give back an event-stream lease (it expires by itself): %s",
                type(exc).__name__,
            )

    async def _renew_forever(self) -> None:
        while True:
            await asyncio.sleep(self.cap.refresh_s)
            try:
                await self.take(0)  # a renewal is never refused: the stream is already open
            except (RedisError, OSError, DamagedRecord) as exc:
                # Redis away for a moment: the next renewal retries, the lease outlives two misses.
                log.warning("could not renew an event-stream lease: %s", type(exc).__name__)

    async def hold_while(self, frames: AsyncIterable[Any]) -> AsyncIterator[Any]:
        """Pass ``frames`` through, renewing the lease while they flow; give it back at the end."""
        renewer = asyncio.create_task(self._renew_forever(), name="stream-lease")
        try:
            async for chunk in frames:
                yield chunk
        finally:
            renewer.cancel()
            # Shielded and bounded: a stream ended by a client's disconnect runs this inside a
            # cancelled scope, where an unshielded await would be cancelled before the lease
            # went back (it would then block the user's slot until it expired).
            with anyio.move_on_after(RELEASE_WAIT_S, shield=True):
                with contextlib.suppress(asyncio.CancelledError):
                    await renewer
                await self.release()
            aclose = getattr(frames, "aclose", None)
            if aclose is not None:
                await aclose()
