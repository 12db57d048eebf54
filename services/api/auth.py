"""Bearer-token auth for every /api route but health: one ASGI layer, timing-safe, rate-limited.

``BearerAuth`` is the only token check: it answers 401/403/429/503 (and audits them) before any
route runs, and stores the caller's ``ApiIdentity`` in the request scope, where routes read it
through ``services.api.deps.IdentityDep`` without checking again.

Tokens are looked up by their SHA-256 digest, and the entry found is confirmed with
``hmac.compare_digest``: what the lookup's timing depends on is the digest of the guess, which
nobody can steer towards a stored one, so neither the length nor a matching prefix of a token
leaks, and the cost does not grow with the number of tokens (rotation keeps several).

A successful request costs no Redis round trip; wrong tokens are counted per client IP in Redis
(shared by replicas) and a client over the limit is also remembered in-process, so its further
wrong or missing tokens get 429 without a Redis round trip. A valid token is never refused by
that failure counter: everyone behind one office NAT would otherwise be locked out by one bad
script, and the count throttles nothing a 256-bit token needs (docs/security.md).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.routing import compile_path
from starlette.types import ASGIApp, Receive, Scope, Send

from services.api.errors import error_response
from services.api.scopes import RouteScopes, ScopeName, allows
from services.api.settings import ApiSettings
from services.api.state import api_state
from shared import ratelimit
from shared.asgi import scope_header
from shared.clientip import client_ip, rate_subject
from shared.logs import audit
from shared.queue.errors import RateLimited
from shared.settings import is_placeholder

log = logging.getLogger(__name__)

_NAME_RE = re.compile(r"[a-z0-9][a-z0-9._-]{0,31}")
_BLANK = re.compile(r"\s")  # what str.isspace() calls blank
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
    """Who a token is and what it may do, so the one auth layer can refuse a request before any
    route runs."""

    email: str  # who the token acts as: settings.api_email or name@api
    token_name: str  # "main" or the name in ANDRE_API_TOKENS (never the token)
    scope: ScopeName = "control"


def token_scope(name: str, settings: ApiSettings) -> ScopeName:
    """A token's scope by its name: ANDRE_API_ADMIN_TOKENS, ANDRE_API_READ_TOKENS, else control."""
    if name in settings.api_admin_tokens and name in settings.api_read_tokens:
        raise ValueError(
            f"API token {name!r} is in both ANDRE_API_ADMIN_TOKENS and ANDRE_API_READ_TOKENS"
        )
    if name in settings.api_admin_tokens:
        return "admin"
    if name in settings.api_read_tokens:
        return "read"
    return "control"


def _digest(token: str) -> bytes:
    # Header values arrive as latin-1 text; UTF-8 encodes any of them (non-ASCII → plain mismatch).
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()


class TokenTable:
    """Configured tokens as (identity, digest); the tokens themselves are not kept."""

    def __init__(self, entries: list[tuple[ApiIdentity, bytes]]) -> None:
        self._by_digest: dict[bytes, tuple[ApiIdentity, bytes]] = {}
        for identity, digest in entries:
            self._by_digest.setdefault(digest, (identity, digest))  # the first of duplicates

    def __bool__(self) -> bool:
        return bool(self._by_digest)

    @classmethod
    def from_settings(cls, settings: ApiSettings) -> TokenTable:
        entries: list[tuple[ApiIdentity, bytes]] = []
        main = settings.api_token.get_secret_value().strip()
        if main:
            identity = ApiIdentity(settings.api_email, "main", token_scope("main", settings))
            entries.append((identity, _digest(main)))
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
            identity = ApiIdentity(f"{name}@api", name, token_scope(name, settings))
            entries.append((identity, _digest(token)))
        return cls(entries)

    def match(self, token: str) -> ApiIdentity | None:
        digest = _digest(token)
        identity, expected = self._by_digest.get(digest, (None, b""))
        if identity is None or not hmac.compare_digest(digest, expected):
            return None
        return identity


def parse_bearer(header: str | None) -> str | None:
    """The token of ``Bearer <token>``, or None when the header is missing or malformed."""
    if not header:
        return None
    scheme, sep, token = header.partition(" ")
    if not sep or scheme.lower() != "bearer" or not token or _BLANK.search(token):
        return None
    return token


class GuardedPaths:
    """The paths ``BearerAuth`` guards: those of the app's /api routes but the public ones.

    Anything else (an unknown path, "/api/queue/") goes on to the router unchecked, which
    answers 404: only a route that exists can need a token.
    """

    def __init__(self, paths: Iterable[str], public: Iterable[str] = ("/api/health",)) -> None:
        skip = set(public)
        wanted = [p for p in paths if p.startswith("/api/") and p not in skip]
        self._exact = frozenset(p for p in wanted if "{" not in p)
        # A route with path parameters ("/api/queue/{id}") is matched as its pattern.
        self._patterns = tuple(compile_path(p)[0] for p in wanted if "{" in p)

    def __contains__(self, path: object) -> bool:
        if path in self._exact:
            return True
        return isinstance(path, str) and any(p.match(path) for p in self._patterns)


# Where the identity and the client address live for the rest of the request (Starlette's
# ``request.state`` reads the same dict).
_STATE = "state"
_IDENTITY = "identity"
_CLIENT_IP = "client_ip"


def identity_of(scope: Scope) -> ApiIdentity:
    """The identity ``BearerAuth`` stored for this request."""
    identity = scope.get(_STATE, {}).get(_IDENTITY)
    if not isinstance(identity, ApiIdentity):
        # A programming error (a route outside GuardedPaths asking who the caller is): a 500,
        # never a request served without its check.
        raise RuntimeError(f"{scope.get('path')} is not behind BearerAuth")
    return identity


def request_ip(request: Request, trusted_proxies: Iterable[str]) -> str:
    """The client's address, worked out once per request (only audits and limits need it)."""
    state: dict[str, Any] = request.scope.setdefault(_STATE, {})
    ip = state.get(_CLIENT_IP)
    if not isinstance(ip, str):
        ip = state[_CLIENT_IP] = client_ip(request, trusted_proxies)
    return ip


def _authorization(scope: Scope) -> str | None:
    value = scope_header(scope, b"authorization")
    return None if value is None else value.decode("latin-1")  # as Starlette decodes values


class BearerAuth:
    """The token check in front of every guarded path (pure ASGI, one per app; see above)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        tokens: TokenTable,
        settings: ApiSettings,
        guarded: GuardedPaths,
        scopes: RouteScopes,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.app = app
        self.tokens = tokens
        self.guarded = guarded
        self.scopes = scopes
        self.trusted_proxies = tuple(settings.trusted_proxies)
        self.limit = ratelimit.Limit(
            "bad_token", settings.api_bad_token_max, settings.api_bad_token_window_s
        )
        self.clock = clock
        self._blocked_until: dict[str, float] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] not in self.guarded:
            await self.app(scope, receive, send)
            return
        token = parse_bearer(_authorization(scope)) if self.tokens else None
        identity = None if token is None else self.tokens.match(token)
        if identity is None:
            await self._refuse(scope, receive, send, token)
            return
        needed = self.scopes.needed(scope["method"], scope["path"])
        if needed is not None and not allows(identity.scope, needed):
            await self._out_of_scope(scope, receive, send, identity, needed)
            return
        scope.setdefault(_STATE, {})[_IDENTITY] = identity
        await self.app(scope, receive, send)

    async def _out_of_scope(
        self, scope: Scope, receive: Receive, send: Send, identity: ApiIdentity, needed: str
    ) -> None:
        ip = request_ip(Request(scope, receive), self.trusted_proxies)
        audit(
            "auth",
            identity=identity.email,
            client_ip=ip,
            path=scope["path"],
            outcome="out_of_scope",
            scope=identity.scope,
            needed=needed,
        )
        message = f"This token has the {identity.scope} scope; this request needs {needed}"
        await error_response(403, message)(scope, receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, token: str | None) -> None:
        request = Request(scope, receive)
        ip = request_ip(request, self.trusted_proxies)
        outcome, status, message = "invalid_token", 403, "Invalid API token"
        headers: dict[str, str] = {}
        if not self.tokens:
            outcome, status, message = "not_configured", 503, "API token not configured on server"
        elif blocked := self._blocked_for(ip):
            # Checked after the token: a valid token is never refused by the failure count (one
            # bad script behind an office NAT must not lock everyone out).
            outcome, status = "rate_limited", 429
            message = f"Too many invalid tokens; try again in {blocked} s"
            headers["Retry-After"] = str(blocked)
        elif token is None:
            outcome, status = "missing_token", 401
            message = "Missing or malformed Authorization header"
            headers["WWW-Authenticate"] = "Bearer"
        else:
            try:
                await self._count_failure(request, ip)
            except RateLimited as exc:
                outcome, status, message = "rate_limited", 429, str(exc)
                headers["Retry-After"] = str(exc.retry_after_s)
            except Exception:  # noqa: BLE001 - a store outage must not turn a 403 into a 5xx
                log.warning("could not count an invalid API token", exc_info=True)
        audit("auth", identity=None, client_ip=ip, path=scope["path"], outcome=outcome)
        await error_response(status, message, headers or None)(scope, receive, send)

    def _blocked_for(self, ip: str) -> int:
        ip = rate_subject(ip)
        until = self._blocked_until.get(ip)
        if until is None:
            return 0
        left = until - self.clock()
        if left <= 0:
            del self._blocked_until[ip]
            return 0
        return max(1, int(left + 0.999))

    def _block(self, ip: str, seconds: int) -> None:
        ip = rate_subject(ip)
        if len(self._blocked_until) >= _BLOCK_CACHE_MAX:
            now = self.clock()
            self._blocked_until = {k: v for k, v in self._blocked_until.items() if v > now}
            if len(self._blocked_until) >= _BLOCK_CACHE_MAX:
                self._blocked_until.clear()
        self._blocked_until[ip] = self.clock() + seconds

    async def _count_failure(self, request: Request, ip: str) -> None:
        redis = api_state(request).redis
        try:
            await ratelimit.hit(redis, self.limit, rate_subject(ip))
        except RateLimited as exc:
            self._block(ip, exc.retry_after_s)
            raise
