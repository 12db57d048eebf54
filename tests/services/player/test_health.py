from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
from redis.asyncio import Redis

from services.player.app import create_app
from services.player.health import check
from services.player.worker import Worker
from shared import keys
from tests.services.player.conftest import FakeClock
from tests.support.redis_server import ROOT, RedisServer


async def test_health_check_without_heartbeat_fails_and_after_tick_passes(
    settings: Any, redis_player: Redis, clock: FakeClock
) -> None:
    assert await check(settings) is False

    await Worker(settings, redis_player, clock=clock).tick()

    assert await check(settings) is True
    assert 0 < await redis_player.ttl(keys.PLAYER_HEARTBEAT) <= settings.heartbeat_ttl_s


async def test_health_module_exit_code_follows_heartbeat(
    redis_clean: RedisServer, redis_player: Redis, tmp_path: Path
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANDRE_")}
    env.update(
        PYTHONPATH=str(ROOT),
        ANDRE_REDIS_URL=redis_clean.url,
        ANDRE_REDIS_PASSWORD=redis_clean.passwords["andre-player"],
    )

    def run() -> int:
        cmd = [sys.executable, "-m", "services.player.health"]
        return subprocess.run(cmd, env=env, cwd=tmp_path, timeout=30).returncode

    assert await asyncio.to_thread(run) == 1
    await redis_player.set(keys.PLAYER_HEARTBEAT, "1", ex=10)
    assert await asyncio.to_thread(run) == 0


async def test_health_endpoint_reports_ok_while_worker_runs(settings: Any) -> None:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://player") as client:
            for _ in range(100):
                response = await client.get("/health")
                if response.status_code == 200:
                    break
                await asyncio.sleep(0.05)
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "leader": True}
