"""Fixtures shared by the whole suite: one real Redis per session, wiped between tests."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
import respx
from redis.asyncio import Redis

from shared.queue import records
from tests.support.redis_server import RedisServer

APP_LOGGERS = ("shared", "services", "andre")


@pytest.fixture(scope="session", autouse=True)
def app_logs_live() -> Iterator[None]:
    # Every logging call of the app builds its record, down to DEBUG: a bad `extra=` key or a
    # broken %-format fails the test that reaches it, as it would fail in production.
    loggers = [logging.getLogger(name) for name in APP_LOGGERS]
    saved = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.DEBUG)
    yield
    for lg, level in zip(loggers, saved, strict=True):
        lg.setLevel(level)


@pytest.fixture(autouse=True)
def forget_damaged_reports() -> Iterator[None]:
    # Damaged records are logged once per process; ids repeat from one test to the next.
    records.forget_reports()
    yield
    records.forget_reports()


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer.start()
    yield server
    server.stop()


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    """A redis-server of the test's own, for tests that stop, kill or restart it."""
    server = RedisServer.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
async def redis_clean(redis_server: RedisServer) -> AsyncIterator[RedisServer]:
    """The session's Redis with no keys in it, before and after the test."""
    await redis_server.wipe()
    yield redis_server
    await redis_server.wipe()


@pytest.fixture
async def redis_api(redis_clean: RedisServer) -> AsyncIterator[Redis]:
    client = redis_clean.client("andre-api")
    yield client
    await client.aclose()


@pytest.fixture
def spotify() -> Iterator[respx.MockRouter]:
    # Every request must match a route: nothing leaves the test for a real host.
    with respx.mock(assert_all_mocked=True, assert_all_called=False) as router:
        yield router


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client
