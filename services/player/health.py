"""``python -m services.player.health``: exit 0 when the worker's heartbeat is fresh, else 1."""

from __future__ import annotations

import asyncio
import sys

from services.player.settings import PlayerSettings
from shared import keys
from shared.redis_client import create_redis
from shared.settings import load_settings


async def check(settings: PlayerSettings) -> bool:
    redis = create_redis(settings, max_connections=1)
    try:
        return await redis.get(keys.PLAYER_HEARTBEAT) is not None
    except Exception:  # noqa: BLE001 - any failure is "unhealthy"
        return False
    finally:
        await redis.aclose()


def main() -> None:
    settings = load_settings(PlayerSettings)
    sys.exit(0 if asyncio.run(check(settings)) else 1)


if __name__ == "__main__":
    main()
