"""Settings of the web service: sign-in (OIDC, guests, dev), sessions and their timeouts."""

from __future__ import annotations

from typing import Any, ClassVar
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator

from shared.settings import AndreSettings, CommaList, InsecureSettingError, is_placeholder


def _split_lower(value: Any) -> Any:
    if isinstance(value, str):
        return [part.strip().lower() for part in value.split(",") if part.strip()]
    if isinstance(value, list | tuple):
        return [str(part).strip().lower() for part in value if str(part).strip()]
    return value


class WebSettings(AndreSettings):
    required_secrets: ClassVar[tuple[str, ...]] = (
        "redis_password",
        "secret_key",
        "oidc_client_id",
        "oidc_client_secret",
    )

    service_name: str = "web"
    """Name in log lines and the Redis client name."""
    redis_username: str = "andre-web"
    """This service's Redis ACL user."""

    oidc_issuer: str = "https://accounts.google.com"
    """OpenID Connect issuer (discovery at `/.well-known/openid-configuration`)."""
    oidc_client_id: str = ""
    """OIDC client id."""
    oidc_client_secret: SecretStr = SecretStr("")
    """OIDC client secret."""
    oidc_scopes: str = "openid email profile"
    """Scopes asked of the OIDC provider."""
    # Exact domains (after the last "@"); "*" lets anyone with a verified e-mail in.
    allowed_email_domains: CommaList = Field(default_factory=list)
    """Comma list of e-mail domains allowed to sign in; `*` for any (prod refuses an empty list)."""
    admin_emails: CommaList = Field(default_factory=list)
    """Comma list of admins (may issue guest invites)."""

    session_idle_timeout_s: int = Field(default=12 * 3600, ge=60)
    """A session ends after this long without a request."""
    session_absolute_timeout_s: int = Field(default=7 * 24 * 3600, ge=300)
    """A session ends this long after sign-in, whatever happens."""
    oauth_flow_ttl_s: int = Field(default=600, ge=30, le=3600)
    """How long a sign-in or Spotify-link flow may take."""
    guest_max_days: int = Field(default=30, ge=1, le=365)
    """Longest validity of a guest invite."""
    max_body_bytes: int = Field(default=16 * 1024, ge=256)
    """Largest body of a browser JSON action (413 past it; read only after the session check)."""
    join_link_ttl_s: int = Field(default=600, ge=60, le=24 * 3600)
    """How long a one-tap guest join link (and its QR code) works; it works once."""
    sse_streams_per_user: int = Field(default=16, ge=1)
    """Open `/events` streams one user may hold over every web replica (a few tabs; more: 429)."""

    # Rate limits (fixed windows in Redis, shared by every replica): each bucket NAME has
    # NAME_max hits per NAME_window_s seconds; services.web.limits builds them.
    web_add_max: int = Field(default=50, ge=1)
    """Songs one person may add from the browser (search or Bender's suggestion) per window."""
    web_add_window_s: int = Field(default=3600, ge=1)
    """Window of the `web_add` limit."""
    web_airhorn_max: int = Field(default=20, ge=1)
    """Airhorns one person may blow per window."""
    web_airhorn_window_s: int = Field(default=3600, ge=1)
    """Window of the `web_airhorn` limit."""
    web_comment_max: int = Field(default=30, ge=1)
    """Comments one person may post per window."""
    web_comment_window_s: int = Field(default=3600, ge=1)
    """Window of the `web_comment` limit."""
    web_search_max: int = Field(default=600, ge=1)
    """Searches one person may run per window (each may cost Spotify requests)."""
    web_search_window_s: int = Field(default=3600, ge=1)
    """Window of the `web_search` limit."""
    web_action_max: int = Field(default=60, ge=1)
    """Other queue actions (vote, jam, skip, remove, pause, ...) one person may take per window."""
    web_action_window_s: int = Field(default=60, ge=1)
    """Window of the `web_action` limit."""
    web_filter_max: int = Field(default=60, ge=1)
    """Bender Filters one person may set per window (each writes a 7-day key)."""
    web_filter_window_s: int = Field(default=3600, ge=1)
    """Window of the `web_filter` limit."""
    login_start_ip_max: int = Field(default=120, ge=1)
    """OIDC sign-in starts from one client IP per window (each stores a flow record)."""
    login_start_ip_window_s: int = Field(default=600, ge=1)
    """Window of the `login_start_ip` limit."""
    sign_in_email_max: int = Field(default=30, ge=1)
    """Sign-ins (OIDC or guest) of one e-mail address per window."""
    sign_in_email_window_s: int = Field(default=3600, ge=1)
    """Window of the `sign_in_email` limit."""
    guest_login_ip_max: int = Field(default=10, ge=1)
    """Failed guest sign-ins (and used join links) from one client IP per window."""
    guest_login_ip_window_s: int = Field(default=900, ge=1)
    """Window of the `guest_login_ip` limit."""
    guest_login_email_max: int = Field(default=5, ge=1)
    """Failed guest sign-ins for one e-mail address per window."""
    guest_login_email_window_s: int = Field(default=900, ge=1)
    """Window of the `guest_login_email` limit."""
    spotify_connect_max: int = Field(default=20, ge=1)
    """Spotify link starts of one person per window."""
    spotify_connect_window_s: int = Field(default=600, ge=1)
    """Window of the `spotify_connect` limit."""

    @field_validator("allowed_email_domains", "admin_emails", mode="before")
    @classmethod
    def _lower_comma_list(cls, value: Any) -> Any:
        return _split_lower(value)

    @model_validator(mode="after")
    def _refuse_open_or_insecure_prod(self) -> WebSettings:
        if self.env != "prod":
            return self
        if not self.allowed_email_domains:
            raise InsecureSettingError(
                "ANDRE_ALLOWED_EMAIL_DOMAINS is empty; list the domains allowed to sign in "
                "(or set it to * to let any verified e-mail in) for ANDRE_ENV=prod"
            )
        if urlsplit(self.public_url).scheme != "https":
            raise InsecureSettingError("ANDRE_PUBLIC_URL must be https:// for ANDRE_ENV=prod")
        if is_placeholder(self.oidc_issuer) or urlsplit(self.oidc_issuer).scheme != "https":
            raise InsecureSettingError("ANDRE_OIDC_ISSUER must be an https:// URL")
        return self

    @property
    def oidc_configured(self) -> bool:
        return bool(self.oidc_client_id and self.oidc_client_secret.get_secret_value())

    @property
    def public_origin(self) -> str:
        """scheme://host[:port] of the public URL, the only origin allowed to act."""
        return origin_of(self.public_url) or ""

    @property
    def cookies_secure(self) -> bool:
        return urlsplit(self.public_url).scheme == "https"

    @property
    def session_cookie_name(self) -> str:
        # __Host- makes the browser refuse the cookie unless Secure, Path=/ and host-only, so a
        # sibling subdomain cannot plant or shadow it.
        return "__Host-andre" if self.env == "prod" else "andre_session"

    @property
    def presession_cookie_name(self) -> str:
        return "__Host-andre-pre" if self.env == "prod" else "andre_pre"

    def is_admin(self, email: str) -> bool:
        return email.lower() in self.admin_emails

    def email_domain_allowed(self, email: str) -> bool:
        if "*" in self.allowed_email_domains:
            return True
        if not self.allowed_email_domains:
            return self.env != "prod"  # dev with no list: anyone (prod refuses to start)
        _, _, domain = email.lower().rpartition("@")
        return domain in self.allowed_email_domains


_DEFAULT_PORTS = {"http": 80, "https": 443}


def origin_of(url: str) -> str | None:
    """Normalised origin of a URL (default ports dropped), or None for anything odd."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if scheme not in _DEFAULT_PORTS or not host:
        return None
    if ":" in host:
        host = f"[{host}]"
    if port is None or port == _DEFAULT_PORTS[scheme]:
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"
