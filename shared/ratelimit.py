"""Fixed-window rate limits in Redis, shared by every replica (per user, per client IP, ...)."""

from __future__ import annotations

from dataclasses import dataclass

from redis.asyncio import Redis

from shared import keys
from shared.errors import RateLimited
from shared.queue import records, scripts

__all__ = ["Limit", "RateLimited", "check", "give_back", "hit"]


@dataclass(frozen=True)
class Limit:
    bucket: str  # e.g. "add", "airhorn", "bad_token"
    max_hits: int
    window_s: int

    def key(self, subject: str) -> str:
        return keys.rate(self.bucket, subject.lower())


async def hit(redis: Redis, limit: Limit, subject: str) -> None:
    """Count one action; raise RateLimited (with Retry-After seconds) past the limit."""
    # scripts/window.lua: the same fixed window as the airhorn cap. A damaged counter starts a
    # new window instead of failing every request of its subject; reset says it did.
    count, ttl_ms, reset = await scripts.RATE_HIT(
        redis, [limit.key(subject)], [limit.window_s * 1000]
    )
    if reset:
        records.report_damaged("rate counter", limit.key(subject), "not an integer; reset")
    if int(count) > limit.max_hits:
        raise RateLimited.after_ms("requests", ttl_ms)


async def give_back(redis: Redis, limit: Limit, subject: str) -> None:
    """Return one counted hit (e.g. a sign-in attempt that turned out to be good)."""
    await scripts.RATE_GIVE_BACK(redis, [limit.key(subject)], [])


def _count(key: str, value: str | bytes | None) -> int:
    if value is None:
        return 0
    try:
        return int(value)
    except ValueError:
        # Counts as no hits; the next hit() resets it.
        records.report_damaged("rate counter", key, "not an integer")
        return 0


async def check(redis: Redis, limit: Limit, subject: str) -> None:
    """Raise RateLimited if the subject is already over the limit, without counting."""
    key = limit.key(subject)
    count = _count(key, await records.execute(redis, "GET", key, raw=True))
    if count >= limit.max_hits:
        ttl_ms = await redis.pttl(key)
        retry = max(1, -(-int(ttl_ms) // 1000)) if ttl_ms and ttl_ms > 0 else limit.window_s
        raise RateLimited(f"Too many requests; try again in {retry} s", retry)
