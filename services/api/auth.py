"""Bearer-token auth for every /api route but health: one dependency, constant-time, rate-limited.

Tokens are compared as SHA-256 digests with ``hmac.compare_digest`` against every configured
token, without an early exit, so neither the length nor a matching prefix of a token leaks
through timing. A successful request costs no Redis round trip; wrong tokens are counted per
client IP in Redis (shared by replicas) and a client over the limit is also remembered in-process,
so its further wrong or missing tokens get 429 without a Redis round trip. A valid token is never
refused by that failure counter: everyone behind one office NAT would otherwise be locked out by
one bad script, and the count throttles nothing a 256-bit token needs (docs/security.md).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import time
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from redis.asyncio import Redis
from starlette.requests import HTTPConnection

from services.api.errors import ApiError
from services.api.settings import ApiSettings
from shared import ratelimit
from shared.clientip import client_ip, rate_subject
from shared.logs import audit
from shared.queue.errors import RateLimited
from shared.settings import is_placeholder

log = logging.getLogger(__name__)

_NAME_RE = re.compile(r"[a-z0-9][a-z0-9._-]{0,31}")
_BLOCK_CACHE_MAX = 10_000

# Shown in the OpenAPI schema on every guarded route (services.api.app adds it there).
SECURITY_SCHEME = {
    "type": "http",
    "scheme": "bearer",
    "description": "Authorization: Bearer <API token>",
}
SCHEME_NAME = "HTTPBearer"


@dataclass(frozen=True)
class ApiIdentity:
    email: str  # who the token acts as: settings.api_email or name@api
    token_name: str  # "main" or the name in ANDRE_API_TOKENS (never the token)


def _digest(token: str) -> bytes:
    # Header values arrive as latin-1 text; UTF-8 encodes any of them (non-ASCII → plain mismatch).
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()


class TokenTable:
    """Configured tokens as (identity, digest); the tokens themselves are not kept."""

    def __init__(self, entries: list[tuple[ApiIdentity, bytes]]) -> None:
        self._entries = entries

    def __bool__(self) -> bool:
        return bool(self._entries)

    @classmethod
    def from_settings(cls, settings: ApiSettings) -> TokenTable:
        entries: list[tuple[ApiIdentity, bytes]] = []
        main = settings.api_token.get_secret_value().strip()
        if main:
            entries.append((ApiIdentity(settings.api_email, "main"), _digest(main)))
        named = settings.api_tokens.get_secret_value()
        for position, part in enumerate(p.strip() for p in named.split(",")):
            if not part:
                continue
            name, sep, token = part.partition("=")
            name, token = name.strip().lower(), token.strip()
            if not sep or not _NAME_RE.fullmatch(name) or not token:
                raise ValueError(
                    f"ANDRE_API_TOKENS entry {position + 1} is not name=token "
                    "(name: lower-case letters, digits, . _ -)"
                )
            if settings.env == "prod" and is_placeholder(token):
                raise ValueError(f"ANDRE_API_TOKENS entry {position + 1} ({name}) is a placeholder")
            entries.append((ApiIdentity(f"{name}@api", name), _digest(token)))
        return cls(entries)

    def match(self, token: str) -> ApiIdentity | None:
        digest = _digest(token)
        found: ApiIdentity | None = None
        for identity, expected in self._entries:
            equal = hmac.compare_digest(digest, expected)  # every entry, no early exit
            if equal and found is None:
                found = identity
        return found


def parse_bearer(header: str | None) -> str | None:
    """The token of ``Bearer <token>``, or None when the header is missing or malformed."""
    if not header:
        return None
    scheme, sep, token = header.partition(" ")
    if not sep or scheme.lower() != "bearer" or not token or any(c.isspace() for c in token):
        return None
    return token


class AuthGuard:
    def __init__(self, settings: ApiSettings, tokens: TokenTable) -> None:
        self.tokens = tokens
        self.trusted_proxies = list(settings.trusted_proxies)
        self.limit = ratelimit.Limit(
            "bad_token", settings.api_bad_token_max, settings.api_bad_token_window_s
        )
        self._blocked_until: dict[str, float] = {}

    def _blocked_for(self, ip: str) -> int:
        ip = rate_subject(ip)
        until = self._blocked_until.get(ip)
        if until is None:
            return 0
        left = until - time.monotonic()
        if left <= 0:
            del self._blocked_until[ip]
            return 0
        return max(1, int(left + 0.999))

    def _block(self, ip: str, seconds: int) -> None:
        ip = rate_subject(ip)
        if len(self._blocked_until) >= _BLOCK_CACHE_MAX:
            now = time.monotonic()
            self._blocked_until = {k: v for k, v in self._blocked_until.items() if v > now}
            if len(self._blocked_until) >= _BLOCK_CACHE_MAX:
                self._blocked_until.clear()
        self._blocked_until[ip] = time.monotonic() + seconds

    async def _count_failure(self, redis: Redis, ip: str) -> None:
        try:
            await ratelimit.hit(redis, self.limit, rate_subject(ip))
        except RateLimited as exc:
            self._block(ip, exc.retry_after_s)
            raise

    def quick_identity(self, conn: HTTPConnection) -> ApiIdentity | None:
        """Success-only check without side effects (no audit, no counting), for fast paths.

        None means "not obviously fine": the caller must hand the request to the full
        dependency, which answers 401/403/429/503 and writes the audit line.
        """
        if not self.tokens:
            return None
        # Same rule as authenticate: a valid token passes whatever its address's failure count.
        token = parse_bearer(conn.headers.get("authorization"))
        return None if token is None else self.tokens.match(token)

    async def authenticate(self, request: Request, redis: Redis) -> ApiIdentity:
        ip = client_ip(request, self.trusted_proxies)
        request.state.client_ip = ip
        path = request.url.path

        def fail(outcome: str) -> None:
            audit("auth", identity=None, client_ip=ip, path=path, outcome=outcome)

        if not self.tokens:
            fail("not_configured")
            raise ApiError(503, "API token not configured on server")
        token = parse_bearer(request.headers.get("authorization"))
        # Checked before the failure count: the holder of a valid token is never locked out by
        # someone else's wrong guesses from the same address (a NAT, a shared proxy).
        identity = None if token is None else self.tokens.match(token)
        if identity is None:
            blocked = self._blocked_for(ip)
            if blocked:
                fail("rate_limited")
                raise RateLimited(f"Too many invalid tokens; try again in {blocked} s", blocked)
        if token is None:
            fail("missing_token")
            raise ApiError(
                401,
                "Missing or malformed Authorization header",
                headers={"WWW-Authenticate": "Bearer"},
            )
        if identity is None:
            try:
                await self._count_failure(redis, ip)
            except RateLimited:
                fail("rate_limited")
                raise
            except Exception:  # noqa: BLE001 - counting must not turn a 403 into a 500
                log.warning("could not count an invalid API token", exc_info=True)
            fail("invalid_token")
            raise ApiError(403, "Invalid API token")
        request.state.identity = identity
        return identity


async def require_api_token(request: Request) -> ApiIdentity:
    """The identity behind the request's bearer token (401/403/429/503 otherwise)."""
    identity: ApiIdentity | None = getattr(request.state, "identity", None)
    if identity is not None:
        return identity  # already checked for this request (router and route both ask)
    guard: AuthGuard = request.app.state.guard
    return await guard.authenticate(request, request.app.state.redis)


IdentityDep = Annotated[ApiIdentity, Depends(require_api_token)]
