from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis

from services.player.settings import PlayerSettings
from tests.support.redis_server import RedisServer


class FakeClock:
    """Milliseconds that move only when the test says so."""

    def __init__(self, now_ms: int = 1_800_000_000_000) -> None:
        self.now = now_ms

    async def now_ms(self) -> int:
        return self.now

    def advance(self, ms: int) -> None:
        self.now += ms


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def redis_player(redis_clean: RedisServer) -> AsyncIterator[Redis]:
    client = redis_clean.client("andre-player")
    yield client
    await client.aclose()


@pytest.fixture
def make_settings(redis_clean: RedisServer, tmp_path: Path) -> Any:
    def make(**overrides: Any) -> PlayerSettings:
        values: dict[str, Any] = {
            **redis_clean.settings_kwargs("andre-player"),
            "play_log_dir": tmp_path / "logs",
            "_env_file": None,
        }
        values.update(overrides)
        return PlayerSettings(**values)

    return make


@pytest.fixture
def settings(make_settings: Any) -> PlayerSettings:
    return make_settings()  # type: ignore[no-any-return]
