"""Fixtures of the shared tests: a started event hub on the api's Redis user."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from shared.eventhub import EventHub
from tests.shared.event_helpers import new_hub


@pytest.fixture
async def hub(redis_api: Redis) -> AsyncIterator[EventHub]:
    h = new_hub(redis_api)
    await h.start()
    yield h
    await h.stop()
