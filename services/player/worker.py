"""The worker loop: ``tick()`` does one unit of work, ``run()`` repeats it until ``stop()``."""

from __future__ import annotations

import asyncio
import logging
import time

from redis.asyncio import Redis

from services.player.settings import PlayerSettings
from shared import keys

log = logging.getLogger(__name__)


class Worker:
    def __init__(self, settings: PlayerSettings, redis: Redis) -> None:
        self.settings = settings
        self.redis = redis
        self._stopping = asyncio.Event()

    async def heartbeat(self) -> None:
        await self.redis.set(
            keys.PLAYER_HEARTBEAT, f"{time.time():.3f}", ex=self.settings.heartbeat_ttl_s
        )

    async def tick(self) -> None:
        await self.heartbeat()

    async def run(self) -> None:
        log.info("player worker started")
        while not self._stopping.is_set():
            try:
                await self.tick()
            except Exception:
                # One failed tick must never kill the DJ; the next tick retries.
                log.exception("player tick failed")
            try:
                await asyncio.wait_for(self._stopping.wait(), self.settings.tick_interval_s)
            except TimeoutError:
                pass
        log.info("player worker stopped")

    def stop(self) -> None:
        self._stopping.set()
