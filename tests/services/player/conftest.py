from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
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

    def monotonic(self) -> float:
        """The same clock in seconds, for code that measures intervals (Retry-After)."""
        return self.now / 1000


class SteppedWaiter:
    """``wait_or_stop`` on the test's clock: nothing sleeps.

    Each call first runs the next scripted action (what happens meanwhile in the room), then
    returns at once: woken if ``wake`` is set, else after moving the clock by the timeout. The
    ``stop_after``-th call stops the loop. ``calls`` holds ``(timeout_s, woken)``; ``woken`` is
    None when the caller passed no wake event.
    """

    def __init__(
        self,
        clock: FakeClock,
        *,
        stop_after: int | None = None,
        script: list[Callable[[], Awaitable[None]]] | None = None,
    ) -> None:
        self.clock = clock
        self.stop_after = stop_after
        self.script = list(script or [])
        self.calls: list[tuple[float | None, bool | None]] = []

    async def __call__(
        self, stop: asyncio.Event, timeout_s: float | None, *, wake: asyncio.Event | None = None
    ) -> bool:
        if self.stop_after is not None and len(self.calls) + 1 >= self.stop_after:
            # Stopped before anything else runs, like a stop that arrives as the wait begins.
            self.calls.append((timeout_s, None if wake is None else wake.is_set()))
            stop.set()
            return True
        await asyncio.sleep(0)  # other tasks run, as they would during a real wait
        if self.script:
            await self.script.pop(0)()
        woken = None if wake is None else wake.is_set()
        self.calls.append((timeout_s, woken))
        if stop.is_set():
            return True
        if woken:
            return False
        assert timeout_s is not None, "nothing would ever end this wait"
        self.clock.advance(round(timeout_s * 1000))
        return False

    @property
    def timeouts(self) -> list[float | None]:
        return [timeout for timeout, _ in self.calls]


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
