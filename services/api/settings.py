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
    """Open `/api/events` streams one token may hold over every api replica (more get 429)."""
    # Request bodies are tiny JSON objects; anything bigger is refused with 413 unread.
    api_max_body_bytes: int = Field(default=16 * 1024, ge=256)
    """Largest request body; bigger ones get 413 unread."""
    # Token scopes (services/api/scopes.py): read < control < admin. A token named in neither
    # list has control, as every token had before scopes existed.
    api_admin_tokens: CommaList = Field(default_factory=list)
    """Comma list of API token names ("main" for ANDRE_API_TOKEN, else the names in
    ANDRE_API_TOKENS) with the admin scope: clear, the house speaker's devices and transfer, and
    moderation without votes (skip, remove, pause anyone's). Tokens in neither this list nor
    ANDRE_API_READ_TOKENS have the control scope and follow the same rules as a person."""
    api_read_tokens: CommaList = Field(default_factory=list)
    """Comma list of API token names with the read scope only (queue, playing, history, search,
    events: dashboards and office screens); anything else they send gets 403 naming the scope
    it needs."""

    @field_validator("api_admin_tokens", "api_read_tokens", mode="before")
    @classmethod
    def _token_name_list(cls, value: Any) -> Any:
        return _split_commas(value)
