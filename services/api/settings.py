"""Settings of the api service."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field, field_validator

from shared.settings import AndreSettings, CommaList, _split_commas


class ApiSettings(AndreSettings):
    required_secrets: ClassVar[tuple[str, ...]] = ("redis_password", "api_token")

    service_name: str = "api"
    """Name in log lines and the Redis client name."""
    redis_username: str = "andre-api"
    """This service's Redis ACL user."""

    # Wrong tokens from one client IP before it gets 429 for the rest of the window.
    api_bad_token_max: int = Field(default=10, ge=1)
    """Wrong tokens from one client IP before it gets 429 for the rest of the window."""
    api_bad_token_window_s: int = Field(default=300, ge=1)
    """Window of the wrong-token limit."""
    # Songs one token identity may add per window (each add may cost a Spotify lookup).
    api_add_max: int = Field(default=60, ge=1)
    """Songs one token identity may add per window."""
    api_add_window_s: int = Field(default=60, ge=1)
    """Window of the API add limit."""
    api_sse_streams_per_token: int = Field(default=16, ge=1)
    """Open `/api/events` streams one token may hold per api process (more get 429)."""
    # Request bodies are tiny JSON objects; anything bigger is refused with 413 unread.
    api_max_body_bytes: int = Field(default=16 * 1024, ge=256)
    """Largest request body; bigger ones get 413 unread."""
    # Moderation exemption (issue 14, see services/api/moderation.py): until scoped tokens exist,
    # a token is "marked admin" by naming it here.
    api_admin_tokens: CommaList = Field(default_factory=list)
    """Comma list of API token names ("main" for ANDRE_API_TOKEN, else the names in
    ANDRE_API_TOKENS) that act as admins for moderation: they skip, remove, pause and clear
    without votes. Every other token follows the same rules as a person."""

    @field_validator("api_admin_tokens", mode="before")
    @classmethod
    def _admin_token_list(cls, value: Any) -> Any:
        return _split_commas(value)
