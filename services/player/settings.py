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

    # Leader lock: a standby takes over at most leader_ttl_ms + standby_poll_s after a crash.
    leader_ttl_ms: int = Field(default=4000, ge=500)
    leader_refresh_s: float = Field(default=1.0, gt=0)
    standby_poll_s: float = Field(default=0.25, gt=0)
    position_event_interval_s: float = Field(default=2.0, gt=0, le=5.0)
    history_max_len: int = Field(default=500, ge=1)

    # ANDRE_BENDER_MAX_MINUTES: auto-fill stops after this many minutes of continuous auto-fill
    # until a human adds a song; 0 turns auto-fill off.
    bender_max_minutes: int = Field(default=120, ge=0)
    bender_backoff_max_s: float = Field(default=300.0, gt=0)
    speaker_backoff_max_s: float = Field(default=60.0, gt=0)
