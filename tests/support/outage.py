"""Helpers for tests that stop a real redis-server under a service: its own server, timed calls."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from tests.support.redis_server import RedisServer

T = TypeVar("T")


@contextmanager
def redis_stopped(server: RedisServer) -> Iterator[None]:
    """SIGSTOP the server (hung: connections open, nothing answers); SIGCONT whatever happens."""
    assert server.proc is not None
    os.kill(server.proc.pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(server.proc.pid, signal.SIGCONT)


async def timed(call: Callable[[], Awaitable[T]]) -> tuple[T, float]:
    start = time.monotonic()
    result = await call()
    return result, time.monotonic() - start
