"""Settings of the api service."""

from __future__ import annotations

from typing import ClassVar

from shared.settings import AndreSettings


class ApiSettings(AndreSettings):
    required_secrets: ClassVar[tuple[str, ...]] = ("redis_password", "api_token")

    service_name: str = "api"
    redis_username: str = "andre-api"
