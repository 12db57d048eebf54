"""Settings of the web service."""

from __future__ import annotations

from typing import ClassVar

from shared.settings import AndreSettings


class WebSettings(AndreSettings):
    required_secrets: ClassVar[tuple[str, ...]] = ("redis_password", "secret_key")

    service_name: str = "web"
    redis_username: str = "andre-web"
