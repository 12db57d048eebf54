"""Fixed-window rate limits in Redis, shared by every replica (per user, per client IP, ...)."""

from __future__ import annotations

from dataclasses import dataclass

from redis.asyncio import Redis

from shared import keys
from shared.queue import records
from shared.queue.errors import RateLimited

# INCR and set the window's expiry in one round trip; returns (count, ttl_ms, reset).
# A counter that is not an integer (damaged) starts a new window instead of failing every
# request of its subject; reset = 1 tells the caller to report it.
_HIT = """
local reset = 0
local n = redis.pcall('INCR', KEYS[1])
if type(n) ~= 'number' then
  redis.call('SET', KEYS[1], '1', 'PX', ARGV[1])
  n = 1
  reset = 1
end
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]); ttl = tonumber(ARGV[1]) end
return {n, ttl, reset}
"""

# Undo one count, only while the window's key still exists (a DECR after it expired would
# create a key without a TTL).
_GIVE_BACK = """
if redis.call('EXISTS', KEYS[1]) == 1 then return redis.call('DECR', KEYS[1]) end
return 0
"""


@dataclass(frozen=True)
class Limit:
    bucket: str  # e.g. "add", "airhorn", "bad_token"
    max_hits: int
    window_s: int

    def key(self, subject: str) -> str:
        return keys.rate(self.bucket, subject.lower())


async def hit(redis: Redis, limit: Limit, subject: str) -> None:
    """Count one action; raise RateLimited (with Retry-After seconds) past the limit."""
    count, ttl_ms, reset = await redis.eval(_HIT, 1, limit.key(subject), limit.window_s * 1000)
    if reset:
        records.report_damaged("rate counter", limit.key(subject), "not an integer; reset")
    if int(count) > limit.max_hits:
        retry = max(1, -(-int(ttl_ms) // 1000))
        raise RateLimited(f"Too many requests; try again in {retry} s", retry)


async def give_back(redis: Redis, limit: Limit, subject: str) -> None:
    """Return one counted hit (e.g. a sign-in attempt that turned out to be good)."""
    await redis.eval(_GIVE_BACK, 1, limit.key(subject))


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
