import asyncio
import signal
import time

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from shared.redis_client import blocking_call, create_redis
from shared.settings import AndreSettings
from tests.support.outage import redis_stopped
from tests.support.redis_server import RedisServer


def _settings(server: RedisServer, **overrides: object) -> AndreSettings:
    return AndreSettings(_env_file=None, **server.settings_kwargs("andre-api"), **overrides)  # type: ignore[call-arg]


async def test_redis_client_hung_server_fails_within_timeout_then_recovers(
    own_redis: RedisServer,
) -> None:
    redis = create_redis(_settings(own_redis))
    try:
        await redis.set("andre:probe", "1")
        with redis_stopped(own_redis):
            for _ in range(3):
                start = time.monotonic()
                with pytest.raises(RedisTimeoutError):
                    await redis.get("andre:probe")
                # One reply timeout (1 s), never retried: well inside a 2 s answer.
                assert time.monotonic() - start < 1.6
        # The same client serves again at once: no restart, no new pool.
        assert await redis.get("andre:probe") == "1"
    finally:
        await redis.aclose()


async def test_redis_client_restarted_server_first_call_succeeds(own_redis: RedisServer) -> None:
    redis = create_redis(_settings(own_redis))
    try:
        await redis.set("andre:probe", "kept")
        own_redis.halt(signal.SIGKILL)
        start = time.monotonic()
        with pytest.raises(RedisConnectionError):
            await redis.get("andre:probe")
        assert time.monotonic() - start < 1.0  # refused at once, not a backoff ladder
        own_redis.launch()
        # The pooled connection died with the old server: one silent retry takes a fresh one.
        assert await redis.get("andre:probe") == "kept"
    finally:
        await redis.aclose()


async def test_redis_client_blocking_call_outlives_reply_timeout(own_redis: RedisServer) -> None:
    redis = create_redis(_settings(own_redis, redis_timeout_s=0.2))
    try:
        start = time.monotonic()
        reply = await blocking_call(redis, 0.6, "BLPOP", "andre:wake", 0.6)
        assert reply is None and time.monotonic() - start >= 0.55
        await redis.rpush("andre:wake", "x")
        assert await blocking_call(redis, 5, "BLPOP", "andre:wake", 5) == ["andre:wake", "x"]
    finally:
        await redis.aclose()


async def test_redis_client_cancelled_blocking_call_leaves_pool_usable(
    own_redis: RedisServer,
) -> None:
    redis = create_redis(_settings(own_redis, redis_max_connections=1))
    try:
        task = asyncio.create_task(blocking_call(redis, 5, "BLPOP", "andre:wake", 5))
        await asyncio.sleep(0.2)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        # The only connection went back closed, not half-read: the next call gets a clean reply.
        await redis.rpush("andre:wake", "after")
        assert await redis.lpop("andre:wake") == "after"
    finally:
        await redis.aclose()


async def test_redis_client_blocking_call_cancelled_while_connecting_ends_at_once(
    redis_clean: RedisServer,
) -> None:
    # Cancelled at every step of a fresh connection's set-up: redis-py swallowed some of these,
    # and the BLPOP then ran its whole 30 s.
    for steps in range(16):
        redis = create_redis(_settings(redis_clean))
        try:
            task = asyncio.create_task(blocking_call(redis, 30, "BLPOP", "andre:wake", 30))
            for _ in range(steps):
                await asyncio.sleep(0)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await asyncio.wait_for(task, 5)  # a guard, far below the 30 s block
        finally:
            await redis.aclose()


async def test_redis_client_blocking_call_on_hung_server_never_desyncs_pool(
    own_redis: RedisServer,
) -> None:
    # One connection only: a connection given back with a reply still owed would hand that reply
    # to the next command (an XREAD's answer read as a GET's, seen on main under SIGSTOP).
    redis = create_redis(_settings(own_redis, redis_max_connections=1, redis_timeout_s=0.3))
    try:
        await redis.set("andre:probe", "value")
        with redis_stopped(own_redis):
            with pytest.raises(RedisTimeoutError):
                await blocking_call(redis, 0.2, "BLPOP", "andre:wake", 0.2)
        for _ in range(5):
            assert await redis.get("andre:probe") == "value"
        await redis.rpush("andre:wake", "x")
        assert await blocking_call(redis, 1, "BLPOP", "andre:wake", 1) == ["andre:wake", "x"]
    finally:
        await redis.aclose()


# --- the lean command path (hiredis packing, no task per write) ------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ("SET", "andre:k", "v"),
        ("EVALSHA", "0" * 40, 2, "andre:a", "andre:b", "é", b"\xff\x00", 7, -3, 0.1, 1e20),
        ("CLIENT SETNAME", "andre-api"),
        ("SET", "andre:k", memoryview(b"view")),
    ],
)
def test_redis_client_lean_packing_sends_what_redis_py_would(
    own_redis: RedisServer, args: tuple[object, ...]
) -> None:
    from redis.asyncio.connection import Connection

    redis = create_redis(_settings(own_redis))
    pool = redis.connection_pool
    lean = pool.make_connection()
    plain = Connection(**pool.connection_kwargs)
    assert isinstance(lean, Connection) and type(lean) is not Connection
    assert b"".join(lean.pack_command(*args)) == b"".join(plain.pack_command(*args))


def test_redis_client_lean_packing_refuses_what_redis_py_refuses(own_redis: RedisServer) -> None:
    from redis.exceptions import DataError

    lean = create_redis(_settings(own_redis)).connection_pool.make_connection()
    for bad in (None, True, {"a": 1}):
        with pytest.raises(DataError):
            lean.pack_command("SET", "andre:k", bad)


async def test_redis_client_lean_path_round_trips_small_and_large_values(
    own_redis: RedisServer,
) -> None:
    redis = create_redis(_settings(own_redis))
    try:
        big = "x" * (4 * 1024 * 1024)  # past the transport's high-water mark: redis-py's path
        await redis.set("andre:big", big)
        await redis.set("andre:small", "é")
        assert await redis.get("andre:small") == "é"
        assert await redis.get("andre:big") == big
        pipe = redis.pipeline(transaction=True)
        pipe.set("andre:p", "1").incr("andre:p").get("andre:p")
        assert await pipe.execute() == [True, 2, "2"]
    finally:
        await redis.aclose()


async def test_redis_client_write_that_cannot_finish_is_still_bounded(
    own_redis: RedisServer,
) -> None:
    # A stopped Redis reads nothing: a large write fills the socket, then the transport's buffer.
    # It must fail within the reply timeout like any other call, not wait for ever.
    redis = create_redis(_settings(own_redis))
    try:
        await redis.set("andre:probe", "1")
        big = "y" * (16 * 1024 * 1024)
        with redis_stopped(own_redis):
            start = time.monotonic()
            with pytest.raises((RedisTimeoutError, RedisConnectionError)):
                await redis.set("andre:big", big)
            assert time.monotonic() - start < 2.5
            start = time.monotonic()
            with pytest.raises((RedisTimeoutError, RedisConnectionError)):
                await redis.get("andre:probe")  # a small write on a fresh connection
            assert time.monotonic() - start < 2.5
        assert await redis.get("andre:probe") == "1"
    finally:
        await redis.aclose()


async def test_redis_client_exhausted_pool_wakes_every_waiter_in_turn(
    own_redis: RedisServer,
) -> None:
    # Two connections, twelve callers each holding one for 0.1 s: the ones that find the pool
    # exhausted wait, and every return (by the quick path or redis-py's) hands a waiter its turn
    # long before the pool timeout.
    redis = create_redis(_settings(own_redis, redis_max_connections=2, redis_pool_timeout_s=3))
    try:
        start = time.monotonic()
        replies = await asyncio.gather(
            *(blocking_call(redis, 0.1, "BLPOP", f"andre:nothing:{n}", 0.1) for n in range(12))
        )
        assert replies == [None] * 12
        assert time.monotonic() - start < 2.0  # six rounds of 0.1 s, not a pool timeout
        pool = redis.connection_pool
        assert len(pool._in_use_connections) == 0  # noqa: SLF001 - every connection came back
        assert len(pool._available_connections) <= 2  # noqa: SLF001
        await redis.set("andre:probe", "after")
        assert await redis.get("andre:probe") == "after"
    finally:
        await redis.aclose()


async def test_redis_client_exhausted_pool_still_refuses_after_its_timeout(
    own_redis: RedisServer,
) -> None:
    redis = create_redis(_settings(own_redis, redis_max_connections=1, redis_pool_timeout_s=0.3))
    try:
        holder = asyncio.create_task(blocking_call(redis, 1.0, "BLPOP", "andre:nothing", 1.0))
        await asyncio.sleep(0.1)
        start = time.monotonic()
        with pytest.raises(RedisConnectionError):
            await redis.get("andre:probe")
        assert 0.25 < time.monotonic() - start < 0.8
        assert await holder is None
        assert await redis.get("andre:probe") is None  # the connection came back
    finally:
        await redis.aclose()
