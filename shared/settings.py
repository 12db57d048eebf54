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


MIN_SECRET_KEY_CHARS = 16

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
        use_attribute_docstrings=True,
    )

    # Secrets each service cannot run without in prod; extended by the service classes.
    required_secrets: ClassVar[tuple[str, ...]] = ("redis_password",)

    env: Literal["dev", "prod"] = "dev"
    """`dev` or `prod`; dev-only features (dev login) refuse to run in prod."""
    public_url: str = "https://localhost:8443"
    """Public origin, e.g. `https://andre.example.com`: OAuth redirect URIs, Origin allow-list."""
    service_name: str = "andre"
    """Name in log lines and the Redis client name."""
    log_level: str = "INFO"
    """Python log level of the service's JSON logs."""
    bind_host: str = "127.0.0.1"
    """Address the service listens on (`0.0.0.0` inside containers)."""
    port: int = Field(default=8000, ge=1, le=65535)
    """Port the service listens on (8000 in compose; 8001/8002/8003 in the local stack)."""

    redis_url: str = "redis://127.0.0.1:6380/0"
    """Redis URL (`redis://redis:6379/0` in compose)."""
    redis_username: str = "default"
    """This service's Redis ACL user."""
    redis_password: SecretStr = SecretStr("")
    """This service's Redis ACL password."""
    redis_max_connections: int = Field(default=50, ge=1)
    """Size of the bounded, blocking Redis connection pool."""
    redis_pool_timeout_s: float = Field(default=0.5, gt=0, le=30)
    """How long a request waits for a free pooled connection before answering 503."""
    redis_timeout_s: float = Field(default=0.75, gt=0, le=30)
    """Longest wait for one Redis reply: a hung Redis gives a 503 after this, never a hang (a
    coalesced queue read may wait for two: still under 2 s)."""
    redis_connect_timeout_s: float = Field(default=1.0, gt=0, le=30)
    """Longest wait to open a connection to Redis."""

    secret_key: SecretStr = SecretStr("")
    """Key for session material and for encrypting stored Spotify tokens."""

    api_token: SecretStr = SecretStr("")
    """The REST API bearer token (acts as `ANDRE_API_EMAIL`)."""
    api_email: str = "openclaw@api"
    """Identity the main API token acts as."""
    api_tokens: SecretStr = SecretStr("")
    """Extra named tokens `name=token,...` for rotation; each acts as `name@api`."""

    spotify_client_id: str = ""
    """Spotify app client id; without it and the secret, the demo catalog is used."""
    spotify_client_secret: SecretStr = SecretStr("")
    """Spotify app client secret."""
    spotify_market: str = "US"
    """Market for searches and auto-fill."""
    spotify_email: str = ""
    """Account whose linked Spotify drives `/api/spotify/*` and the house speaker."""

    bender_email: str = "bender@andre"
    """Identity credited with auto-filled songs."""
    play_log_dir: Path = Path("var/play_logs")
    """Folder of the daily JSON-lines play logs."""
    history_max_len: int = Field(default=500, ge=1)
    """Finished plays kept in Redis history (the player trims to it; an import merges within it)."""
    trusted_proxies: CommaList = Field(default_factory=list)
    """Comma list of proxy IPs/CIDRs whose X-Forwarded-For is believed over TCP (compose: Caddy's
    fixed address). Empty: no TCP peer is believed (the local stack's Caddy uses the socket)."""
    proxy_socket: Path | None = None
    """Unix socket the service also listens on, for the proxy only (created 0600); its
    X-Forwarded-For is believed (the local stack: `var/run/<service>.sock`)."""
    events_max_len: int = Field(default=2_000, ge=100, le=100_000)
    """Approximate length bound of the Redis event stream (about an hour of events; a client
    resuming from an older id gets a fresh snapshot)."""
    # Queue rules (shared/queue): caps that keep one user or bot from flooding everyone.
    queue_max_len: int = Field(default=1000, ge=1, le=5000)
    """Most songs the queue holds."""
    add_many_max: int = Field(default=50, ge=1, le=200)
    """Most tracks one album or playlist add queues (each still counts against the add limit)."""
    comment_max_chars: int = Field(default=500, ge=1, le=5000)
    """Longest comment accepted."""
    airhorn_max_per_window: int = Field(default=3, ge=0)
    """Paid airhorns one user may blast per window."""
    airhorn_window_s: int = Field(default=60, ge=1)
    """Window of the paid-airhorn cap."""
    airhorn_free_jams: int = Field(default=3, ge=1)
    """Jams from other people a song needs to earn its queuer a free airhorn."""
    airhorn_free_max: int = Field(default=5, ge=0)
    """Most free airhorn credits a user can hold."""
    # Moderation (shared/queue/moderation.py): what it takes to act on someone else's song.
    moderation_skip_votes: int = Field(default=3, ge=0, le=100)
    """Distinct people whose votes skip a song someone else queued (its queuer and admins skip
    at once; 0: only they may)."""
    moderation_remove_votes: int = Field(default=3, ge=0, le=100)
    """Distinct people whose votes remove a queued song someone else added (its queuer and
    admins remove at once; 0: only they may)."""
    moderation_vote_ttl_s: int = Field(default=3600, ge=60, le=86_400)
    """How long a vote to skip or remove a song stays counted."""
    moderation_pause: Literal["anyone", "members", "admins"] = "members"
    """Who may pause and resume: anyone signed in, members (not guests) or admins only."""
    bender_filter_s: int = Field(default=7 * 24 * 3600, ge=60, le=90 * 24 * 3600)
    """How long a track someone queued, played or filtered stays out of Bender's suggestions."""

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
        # Optional secrets (Spotify, extra tokens...) may be empty, but never a placeholder.
        for name in type(self).model_fields:
            value = getattr(self, name)
            if isinstance(value, SecretStr) and value.get_secret_value():
                if is_placeholder(value.get_secret_value()):
                    raise InsecureSettingError(
                        f"ANDRE_{name.upper()} is a placeholder; set a real secret or leave it "
                        "empty for ANDRE_ENV=prod"
                    )
        key = self.secret_key.get_secret_value()
        if key and len(key) < MIN_SECRET_KEY_CHARS:
            # It signs CSRF/OAuth bindings and encrypts stored Spotify tokens: no short words.
            raise InsecureSettingError(
                f"ANDRE_SECRET_KEY is shorter than {MIN_SECRET_KEY_CHARS} characters; use a long "
                "random value for ANDRE_ENV=prod"
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


def default(name: str) -> Any:
    """The default of a shared setting, for code that needs it without settings at hand (a
    keyword default, test rules): the settings stay the one owner of the number."""
    return AndreSettings.model_fields[name].get_default(call_default_factory=True)


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
