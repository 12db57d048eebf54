"""Settings shared by every service: one pydantic-settings base, extended once per service."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, TypeVar

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

SECRETS_DIR = Path("/run/secrets")

# Values that people paste from examples; in prod they are as bad as an empty secret.
_PLACEHOLDERS = frozenset(
    {
        "changeme",
        "change-me",
        "change_me",
        "placeholder",
        "secret",
        "password",
        "todo",
        "xxx",
        "none",
        "null",
        "example",
        "default",
    }
)


def is_placeholder(value: str) -> bool:
    """Tell whether a secret value is empty or an obvious placeholder."""
    v = value.strip().lower()
    if not v or v in _PLACEHOLDERS:
        return True
    if v.startswith(("your-", "your_", "<", "replace", "changeme", "dummy")):
        return True
    return len(set(v)) == 1  # "xxxxxxxx", "00000000"


CommaList = Annotated[list[str], NoDecode]


def _split_commas(value: Any) -> Any:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class InsecureSettingError(ValueError):
    """A secret required in prod is empty or a placeholder."""


class AndreSettings(BaseSettings):
    """Settings every service reads; services extend it with their own fields."""

    model_config = SettingsConfigDict(
        env_prefix="ANDRE_",
        env_file=".env",
        env_file_encoding="utf-8",
        secrets_dir=str(SECRETS_DIR) if SECRETS_DIR.is_dir() else None,
        extra="ignore",
        hide_input_in_errors=True,
    )

    # Secrets each service cannot run without in prod; extended by the service classes.
    required_secrets: ClassVar[tuple[str, ...]] = ("redis_password",)

    env: Literal["dev", "prod"] = "dev"
    public_url: str = "https://localhost:8443"
    service_name: str = "andre"
    log_level: str = "INFO"
    bind_host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)

    redis_url: str = "redis://127.0.0.1:6380/0"
    redis_username: str = "default"
    redis_password: SecretStr = SecretStr("")
    redis_max_connections: int = Field(default=50, ge=1)
    redis_pool_timeout_s: float = Field(default=5.0, gt=0)

    secret_key: SecretStr = SecretStr("")

    api_token: SecretStr = SecretStr("")
    api_email: str = "openclaw@api"
    api_tokens: SecretStr = SecretStr("")

    spotify_client_id: str = ""
    spotify_client_secret: SecretStr = SecretStr("")
    spotify_market: str = "US"
    spotify_email: str = ""

    bender_email: str = "bender@andre"
    play_log_dir: Path = Path("var/play_logs")
    trusted_proxies: CommaList = Field(default_factory=lambda: ["127.0.0.1", "::1"])
    events_max_len: int = Field(default=10_000, ge=100)
    # Queue rules (shared/queue): caps that keep one user or bot from flooding everyone.
    queue_max_len: int = Field(default=1000, ge=1, le=5000)
    comment_max_chars: int = Field(default=500, ge=1, le=5000)
    airhorn_max_per_window: int = Field(default=3, ge=0)
    airhorn_window_s: int = Field(default=60, ge=1)
    airhorn_free_jams: int = Field(default=3, ge=1)
    airhorn_free_max: int = Field(default=5, ge=0)

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _comma_list(cls, value: Any) -> Any:
        return _split_commas(value)

    @model_validator(mode="after")
    def _refuse_placeholder_secrets_in_prod(self) -> AndreSettings:
        if self.env != "prod":
            return self
        for name in self.required_secrets:
            value = getattr(self, name)
            raw = value.get_secret_value() if isinstance(value, SecretStr) else str(value)
            if is_placeholder(raw):
                variable = f"ANDRE_{name.upper()}"
                raise InsecureSettingError(
                    f"{variable} is empty or a placeholder; set a real secret for ANDRE_ENV=prod"
                )
        return self

    @property
    def is_dev(self) -> bool:
        return self.env == "dev"

    @property
    def spotify_configured(self) -> bool:
        return bool(self.spotify_client_id and self.spotify_client_secret.get_secret_value())

    def secret_values(self) -> list[str]:
        """Every secret value set, for the log redaction filter."""
        values = []
        for name in type(self).model_fields:
            value = getattr(self, name)
            if isinstance(value, SecretStr) and value.get_secret_value():
                values.append(value.get_secret_value())
        return values


S = TypeVar("S", bound=AndreSettings)


def describe_errors(exc: ValidationError) -> str:
    """One line per problem, naming the variable and never echoing the value."""
    lines = []
    for err in exc.errors(include_input=False, include_url=False):
        loc = ".".join(str(part) for part in err["loc"])
        msg = str(err["msg"]).removeprefix("Value error, ")
        lines.append(f"ANDRE_{loc.upper()}: {msg}" if loc else msg)
    return "; ".join(lines)


def load_settings(cls: type[S], **overrides: Any) -> S:
    """Build settings or stop the process with one clear line (no traceback, exit 2)."""
    try:
        return cls(**overrides)
    except ValidationError as exc:
        print(f"andre: invalid settings: {describe_errors(exc)}", file=sys.stderr)
        raise SystemExit(2) from None
