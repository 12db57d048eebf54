"""Settings of the ``andre`` CLI: the shared base plus the API client's and the admin's."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from pydantic import Field, field_validator

from shared.settings import AndreSettings

LOCAL_CA = Path("caddy/data/pki/authorities/local/root.crt")
"""Where the local stack's Caddy keeps its CA certificate, under the stack folder."""


class CliSettings(AndreSettings):
    # Nothing is required up front: each command checks the one secret it uses when it runs.
    required_secrets: ClassVar[tuple[str, ...]] = ()

    service_name: str = "cli"
    """Name in log lines and the Redis client name."""
    redis_username: str = "andre-admin"
    """Redis ACL user of backup, restore and import: the admin user (ANDRE_REDIS_PASSWORD is
    its password)."""

    # Backups and imports send one large transaction: a longer wait than a service's request.
    redis_timeout_s: float = Field(default=30.0, gt=0, le=600)
    """Longest wait for one Redis reply."""

    api_url: str = "https://localhost:8443"
    """Base URL of the REST API for `andre api` (the local stack by default)."""
    api_ca: Path | None = None
    """CA certificate that verifies the API's TLS certificate; unset: the local stack's Caddy CA
    for a localhost URL, else the system's trust store."""
    api_token_file: Path | None = None
    """File holding the API token (when ANDRE_API_TOKEN is not set)."""
    api_timeout_s: float = Field(default=10.0, gt=0, le=300)
    """Longest wait for one API answer."""
    stack_dir: Path = Path("var")
    """Folder of the local stack's state (`make up`), where its Caddy CA lives."""

    @field_validator("api_ca", "api_token_file", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: Any) -> Any:
        # ANDRE_API_CA= in a .env means "not set", not the current directory.
        return None if isinstance(value, str) and not value.strip() else value

    def local_ca(self) -> Path:
        return self.stack_dir / LOCAL_CA
