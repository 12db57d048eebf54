"""shared.streamcap: open-stream leases in Redis, counted over every replica."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from shared import keys
from shared.errors import RateLimited
from shared.queue.errors import WrongKeyType
from shared.streamcap import StreamCap


async def _frames(n: int, gap_s: float = 0.0) -> AsyncIterator[bytes]:
    for i in range(n):
        await asyncio.sleep(gap_s)
        yield f"frame {i}".encode()


async def test_cap_refuses_past_max_and_a_release_frees_a_slot(redis_api: Redis) -> None:
    cap = StreamCap("api", 2)
    first = await cap.acquire(redis_api, "Bot@API", "full")
    await cap.acquire(redis_api, "bot@api", "full")  # subjects are case-insensitive
    with pytest.raises(RateLimited) as refused:
        await cap.acquire(redis_api, "bot@api", "full")
    assert str(refused.value) == "full" and 1 <= refused.value.retry_after_s <= 5
    # Another subject and the other service's kind have counts of their own.
    await cap.acquire(redis_api, "other@api", "full")
    await StreamCap("web", 2).acquire(redis_api, "bot@api", "full")
    await first.release()
    assert await cap.count(redis_api, "bot@api") == 1
    await cap.acquire(redis_api, "bot@api", "full")
    assert await cap.count(redis_api, "bot@api") == 2


async def test_two_caps_on_one_redis_share_the_count(redis_api: Redis) -> None:
    # Two replicas are two StreamCap objects (two processes) over the same keys.
    replica_a, replica_b = StreamCap("web", 3), StreamCap("web", 3)
    await replica_a.acquire(redis_api, "alice@example.com", "full")
    await replica_b.acquire(redis_api, "alice@example.com", "full")
    await replica_a.acquire(redis_api, "alice@example.com", "full")
    with pytest.raises(RateLimited):
        await replica_b.acquire(redis_api, "alice@example.com", "full")


async def test_unrenewed_leases_expire_a_crashed_replicas_slots(redis_api: Redis) -> None:
    cap = StreamCap("web", 1, lease_s=0.3)
    await cap.acquire(redis_api, "alice@example.com", "full")  # its replica then dies
    with pytest.raises(RateLimited):
        await cap.acquire(redis_api, "alice@example.com", "full")
    await asyncio.sleep(0.4)
    await cap.acquire(redis_api, "alice@example.com", "full")
    # The set itself expires with its newest lease: nothing stays behind.
    ttl_ms = await redis_api.pttl(keys.stream_leases("web", "alice@example.com"))
    assert 0 < ttl_ms <= 300


async def test_held_stream_renews_its_lease_and_gives_it_back_at_the_end(
    redis_api: Redis,
) -> None:
    cap = StreamCap("web", 1, lease_s=0.4, refresh_s=0.1)
    lease = await cap.acquire(redis_api, "alice@example.com", "full")
    got = [chunk async for chunk in lease.hold_while(_frames(8, gap_s=0.1))]
    assert len(got) == 8  # 0.8 s: twice the lease, kept alive by the renewals
    assert await cap.count(redis_api, "alice@example.com") == 0


async def test_renewal_keeps_a_quiet_stream_counted(redis_api: Redis) -> None:
    cap = StreamCap("web", 1, lease_s=0.4, refresh_s=0.1)
    lease = await cap.acquire(redis_api, "alice@example.com", "full")
    stream = lease.hold_while(_frames(2, gap_s=1.0))
    reader = asyncio.create_task(anext(stream))
    await asyncio.sleep(0.9)  # no frame yet, more than twice the lease
    assert await cap.count(redis_api, "alice@example.com") == 1
    with pytest.raises(RateLimited):
        await cap.acquire(redis_api, "alice@example.com", "full")
    await reader
    await stream.aclose()
    assert await cap.count(redis_api, "alice@example.com") == 0


async def test_stream_cancelled_mid_read_still_gives_its_lease_back(redis_api: Redis) -> None:
    cap = StreamCap("api", 1)
    lease = await cap.acquire(redis_api, "bot@api", "full")
    stream = lease.hold_while(_frames(1, gap_s=30))
    reader = asyncio.create_task(anext(stream))
    await asyncio.sleep(0.05)
    reader.cancel()  # a client disconnect cancels the read in progress
    with pytest.raises(asyncio.CancelledError):
        await reader
    assert await cap.count(redis_api, "bot@api") == 0


async def test_lease_key_of_the_wrong_type_is_refused_as_damage(redis_api: Redis) -> None:
    await redis_api.set(keys.stream_leases("api", "bot@api"), "oops")
    with pytest.raises(WrongKeyType):
        await StreamCap("api", 1).acquire(redis_api, "bot@api", "full")


async def test_renewal_failing_on_a_damaged_key_keeps_the_stream_going(
    redis_api: Redis, caplog: pytest.LogCaptureFixture
) -> None:
    cap = StreamCap("api", 1, lease_s=1, refresh_s=0.05)
    lease = await cap.acquire(redis_api, "bot@api", "full")
    await redis_api.delete(lease.key)
    await redis_api.set(lease.key, "oops")  # damaged while the stream is open
    got = [chunk async for chunk in lease.hold_while(_frames(4, gap_s=0.05))]
    assert len(got) == 4
    assert "could not renew an event-stream lease" in caplog.text
