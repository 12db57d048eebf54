"""Settings of the player worker."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from shared.settings import AndreSettings


class PlayerSettings(AndreSettings):
    required_secrets: ClassVar[tuple[str, ...]] = ("redis_password",)

    service_name: str = "player"
    """Name in log lines and the Redis client name."""
    redis_username: str = "andre-player"
    """This service's Redis ACL user."""
    heartbeat_ttl_s: int = Field(default=15, ge=2)
    """Lifetime of the worker's heartbeat key (its health check)."""

    # Leader lock: a standby takes over at most leader_ttl_ms + standby_poll_s after a crash.
    leader_ttl_ms: int = Field(default=4000, ge=500)
    """Leader lock lifetime; a standby takes over at most this long after a crash."""
    leader_refresh_s: float = Field(default=1.0, gt=0)
    """How often the leader refreshes its lock."""
    standby_poll_s: float = Field(default=0.25, gt=0)
    """How often a standby tries to become leader."""
    position_event_interval_s: float = Field(default=2.0, gt=0, le=5.0)
    """Interval of `player_position` events while playing (at most 5 s)."""

    bender_max_minutes: int = Field(default=120, ge=0)
    """Auto-fill stops after this many minutes of continuous auto-fill, until a human adds a
    song; 0 turns auto-fill off."""
    bender_backoff_max_s: float = Field(default=300.0, gt=0)
    """Longest auto-fill backoff when nothing is found or Spotify is rate-limited."""
    speaker_backoff_max_s: float = Field(default=60.0, gt=0)
    """Longest retry backoff of the house speaker."""
