"""Redis access: one bounded, blocking, self-healing async pool per service, its own ACL user.

Every call is bounded in time: a Redis that is down or hung (SIGSTOP, a full network) makes a
request fail within about ``redis_timeout_s`` with :data:`REDIS_UNAVAILABLE` errors, which each
service answers as a 503, and the pool reconnects by itself once Redis is back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Iterable
from typing import Any

from redis.asyncio import BlockingConnectionPool, ConnectionPool, Redis
from redis.asyncio.connection import AbstractConnection
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.connection import HiredisRespSerializer
from redis.exceptions import BusyLoadingError, OutOfMemoryError, ReadOnlyError, ResponseError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from shared.settings import AndreSettings

# Errors that mean "the store cannot serve right now" rather than "this request is wrong":
# down or refusing connections (ConnectionError, which also covers a pool with no free
# connection), hung (TimeoutError), still loading its AOF after a restart (BusyLoadingError is a
# ConnectionError), out of memory under noeviction, or a read-only replica.
REDIS_UNAVAILABLE: tuple[type[Exception], ...] = (
    RedisConnectionError,
    RedisTimeoutError,
    OutOfMemoryError,
    ReadOnlyError,
    BusyLoadingError,
)
UNAVAILABLE_MESSAGE = "The queue store is unavailable; try again in a few seconds"
DAMAGED_MESSAGE = "A stored record is damaged; an operator must repair it (see the service log)"
FULL_MESSAGE = "The queue store is full; an operator must free space"
RETRY_AFTER_S = 2


_OUTAGE_LOG_INTERVAL_S = 10.0
_last_outage_log = -_OUTAGE_LOG_INTERVAL_S


def unavailable_message(exc: BaseException) -> str:
    """What to tell a client for one of :data:`REDIS_UNAVAILABLE` (no server detail leaks)."""
    return FULL_MESSAGE if isinstance(exc, OutOfMemoryError) else UNAVAILABLE_MESSAGE


def is_wrong_type(exc: BaseException) -> bool:
    """A key holding another Redis type than the command needs (a hand edit, a bad restore)."""
    return isinstance(exc, ResponseError) and str(exc).startswith("WRONGTYPE")


def log_unavailable(logger: logging.Logger, exc: BaseException, path: str) -> None:
    """One warning per ten seconds per process: an outage under load must not flood the log."""
    global _last_outage_log
    now = time.monotonic()
    if now - _last_outage_log >= _OUTAGE_LOG_INTERVAL_S:
        _last_outage_log = now
        logger.warning(
            "redis unavailable; answering 503", extra={"error": type(exc).__name__, "path": path}
        )


class LeanCommands(AbstractConnection):
    """What each command costs in this process, trimmed without changing what is sent.

    - Packed by hiredis (redis-py's own serializer for its sync client): the asyncio client
      packs in Python, a dozen calls per argument, which was a tenth of a vote's time.
    - Written without a task: redis-py bounds every write by ``socket_timeout`` with
      ``asyncio.wait_for``, which on Python 3.11 starts a task per command. A write that fits
      under the transport's high-water mark never waits (``drain()`` returns at once), so it is
      handed to the transport directly; any other write (a large one, a full buffer, a
      connection not yet made or closing) takes redis-py's bounded path unchanged. The reply is
      still read under ``socket_timeout``.
    """

    _hiredis_packer = HiredisRespSerializer()

    def pack_command(self, *args: Any) -> list[bytes]:
        packed: list[bytes] = self._hiredis_packer.pack(*args)
        return packed

    async def send_packed_command(
        self, command: bytes | str | Iterable[bytes], check_health: bool = True
    ) -> None:
        writer = self._writer
        if (
            writer is not None
            and self._reader is not None
            and type(command) is list
            and not (check_health and self.health_check_interval)
        ):
            transport = writer.transport
            room = transport.get_write_buffer_limits()[1] - transport.get_write_buffer_size()
            if not transport.is_closing() and sum(map(len, command)) <= room:
                writer.writelines(command)
                return
        await super().send_packed_command(command, check_health)


class _LeanPool(BlockingConnectionPool):
    """The bounded, blocking pool, with a free connection handed out at once.

    redis-py's blocking pool takes a condition, arms a timeout and records pool metrics on every
    borrow and return, even when a connection is free and nobody waits; that was a tenth of a
    vote's time. Here a borrow with a free connection (or room for one) and no waiter takes it
    directly, still checked by ``ensure_connection``; when the pool is exhausted, or someone
    already waits, borrows and returns take redis-py's path, so waiters are woken in turn and
    bounded by the pool timeout as before.
    """

    _waiting = 0  # tasks inside the blocking path, waiting or about to

    async def get_connection(self, *args: Any, **kwargs: Any) -> AbstractConnection:
        if self._waiting or not self.can_get_connection():
            self._waiting += 1
            try:
                conn: AbstractConnection = await super().get_connection(*args, **kwargs)  # type: ignore[no-untyped-call]
                return conn
            finally:
                self._waiting -= 1
        connection: AbstractConnection = self.get_available_connection()  # type: ignore[no-untyped-call]
        try:
            await self.ensure_connection(connection)
        except BaseException:
            await self.release(connection)
            raise
        return connection

    async def release(self, connection: AbstractConnection) -> None:
        if self._waiting:
            await super().release(connection)  # under the condition, waking a waiter
            return
        await ConnectionPool.release(self, connection)
        if self._waiting:  # someone found the pool exhausted while this one was on its way back
            async with self._condition:
                self._condition.notify()


_LEAN: dict[type[AbstractConnection], type[AbstractConnection]] = {}


def _lean(connection_class: type[AbstractConnection]) -> type[AbstractConnection]:
    """``connection_class`` (TCP, TLS or a Unix socket, as the URL chose) with the lean path."""
    lean = _LEAN.get(connection_class)
    if lean is None:
        name = f"Lean{connection_class.__name__}"
        lean = _LEAN[connection_class] = type(name, (LeanCommands, connection_class), {})
    return lean


def create_redis(settings: AndreSettings, *, max_connections: int | None = None) -> Redis:
    """Open a client; the caller owns it and must ``await client.aclose()``.

    Nothing connects here: connections are made lazily by the pool, so creating a
    client at start-up never fails just because Redis is a moment late.
    """
    pool = _LeanPool.from_url(
        settings.redis_url,
        username=settings.redis_username or None,
        password=settings.redis_password.get_secret_value() or None,
        max_connections=max_connections or settings.redis_max_connections,
        timeout=settings.redis_pool_timeout_s,
        decode_responses=True,
        socket_timeout=settings.redis_timeout_s,
        socket_connect_timeout=settings.redis_connect_timeout_s,
        socket_keepalive=True,
        client_name=f"andre-{settings.service_name}",
        # One immediate retry, on connection errors only: a pooled connection that a Redis
        # restart closed fails at once and the retry takes a fresh one. A timeout is never
        # retried (Redis is hung: retrying only doubles the wait), and no backoff is spent
        # inside a request: the caller answers 503 and the client tries again.
        retry=Retry(NoBackoff(), retries=1, supported_errors=(RedisConnectionError,)),
    )
    pool.connection_class = _lean(pool.connection_class)
    # from_pool: the client owns the pool, so aclose() also closes every pooled connection.
    return Redis.from_pool(pool)


async def blocking_call(redis: Redis, timeout_s: float, *args: Any, decode: bool = True) -> Any:
    """Run a blocking command (BLPOP, XREAD BLOCK) that may legitimately wait ``timeout_s``.

    The pool's socket timeout is far shorter than such a wait, so the reply is read on a pooled
    connection under a deadline of its own: the command's wait plus the usual reply timeout. On
    any failure, the deadline or a cancellation the connection is closed, never returned to the
    pool with a reply still to come (the next borrower would read this command's answer).
    """
    pool = redis.connection_pool
    reply_timeout_s = pool.connection_kwargs.get("socket_timeout") or 0.0
    conn = await pool.get_connection()  # type: ignore[no-untyped-call]
    healthy = False
    try:
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            # redis-py can swallow a cancellation that lands while it sets up a new connection;
            # without this check the blocking command would then run its whole wait (a stop()
            # of the player or of the event hub delayed by up to one block).
            raise asyncio.CancelledError
        await conn.send_command(*args)
        try:
            # redis-py's own per-read timeout returns None when it expires (indistinguishable
            # from BLPOP's nil) and keeps the connection: use a deadline that raises instead.
            async with asyncio.timeout(timeout_s + reply_timeout_s):
                reply = await conn.read_response(disable_decoding=not decode, timeout=math.inf)
        except TimeoutError as exc:
            raise RedisTimeoutError(f"no reply to {args[0]} within its deadline") from exc
        healthy = True
        return reply
    finally:
        if not healthy:
            with contextlib.suppress(Exception):
                await asyncio.shield(conn.disconnect())
        await pool.release(conn)


async def redis_ok(client: Redis) -> bool:
    """PING for health endpoints; any failure means unhealthy, never an exception."""
    try:
        return bool(await client.ping())
    except Exception:  # noqa: BLE001 - health must report, not raise
        return False
