"""Redis access: one bounded, blocking, self-healing async pool per service, its own ACL user."""

from __future__ import annotations

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from shared.settings import AndreSettings


def create_redis(settings: AndreSettings, *, max_connections: int | None = None) -> Redis:
    """Open a client; the caller owns it and must ``await client.aclose()``.

    Nothing connects here: connections are made lazily by the pool, so creating a
    client at start-up never fails just because Redis is a moment late.
    """
    pool = BlockingConnectionPool.from_url(
        settings.redis_url,
        username=settings.redis_username or None,
        password=settings.redis_password.get_secret_value() or None,
        max_connections=max_connections or settings.redis_max_connections,
        timeout=settings.redis_pool_timeout_s,
        decode_responses=True,
        health_check_interval=30,
        socket_connect_timeout=5,
        socket_keepalive=True,
        client_name=f"andre-{settings.service_name}",
        retry=Retry(ExponentialBackoff(cap=2.0, base=0.05), retries=6),
        retry_on_error=[RedisConnectionError, RedisTimeoutError],
    )
    # from_pool: the client owns the pool, so aclose() also closes every pooled connection.
    return Redis.from_pool(pool)


async def redis_ok(client: Redis) -> bool:
    """PING for health endpoints; any failure means unhealthy, never an exception."""
    try:
        return bool(await client.ping())
    except Exception:  # noqa: BLE001 - health must report, not raise
        return False
