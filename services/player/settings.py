"""Settings of the player worker."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from shared.settings import AndreSettings


class PlayerSettings(AndreSettings):
    required_secrets: ClassVar[tuple[str, ...]] = ("redis_password",)

    service_name: str = "player"
    redis_username: str = "andre-player"
    heartbeat_ttl_s: int = Field(default=15, ge=2)
    tick_interval_s: float = Field(default=0.1, gt=0)
