"""Server-side sessions in Redis: the cookie holds only a random id, Redis a digest of it."""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from dataclasses import asdict, dataclass

from redis.asyncio import Redis
from starlette.requests import HTTPConnection
from starlette.responses import RedirectResponse, Response

from services.web.errors import TooManyRequests
from services.web.identity.csrf import new_presession, set_presession_cookie
from services.web.settings import WebSettings
from shared import keys
from shared.logs import audit
from shared.queue import records
from shared.queue.errors import RateLimited
from shared.ratelimit import Limit, hit

SESSION_ID_BYTES = 32


def digest(value: str) -> str:
    """The Redis-side name of a secret (session id, OAuth state): never the secret itself."""
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class SessionUser:
    """Who is signed in, as the routes see it; identity never comes from a request body."""

    email: str
    name: str
    is_admin: bool
    is_guest: bool
    csrf_token: str


@dataclass(frozen=True)
class SessionRecord:
    email: str
    name: str
    is_admin: bool
    is_guest: bool
    csrf_token: str
    created_at: float
    expires_at: float  # absolute end: created_at + absolute timeout (earlier for guests)

    def user(self) -> SessionUser:
        return SessionUser(self.email, self.name, self.is_admin, self.is_guest, self.csrf_token)

    @classmethod
    def from_stored(cls, raw: bytes) -> SessionRecord:
        """The stored record; ValueError when damaged. Types are checked, not coerced: a
        damaged ``"is_admin": "false"`` must not read as true."""
        data = records.loads(raw)
        why = records.check_fields(data, _SESSION_FIELDS)
        if why is not None:
            raise ValueError(why)
        return cls(**{name: data[name] for name, _, _ in _SESSION_FIELDS})


_SESSION_FIELDS: tuple[records.Field, ...] = (
    ("email", "string", True),
    ("name", "string", True),
    ("is_admin", "boolean", True),
    ("is_guest", "boolean", True),
    ("csrf_token", "string", True),
    ("created_at", "number", True),
    ("expires_at", "number", True),
)


_ENDED_TTL_S = 24 * 3600  # how long a browser is told why its guest session ended
GUEST_ENDED_URL = "/guest/?ended=1"
GUEST_ENDED_MESSAGE = (
    "Your guest invite was revoked or has expired, so you were signed out: "
    "ask whoever invited you for a new one."
)


async def ended_as_guest(redis: Redis, session_id: str) -> bool:
    """Whether this cookie's session was ended because its guest invite was revoked or expired."""
    if not session_id or len(session_id) > 128:
        return False
    return bool(await redis.exists(keys.session_ended(digest(session_id))))


class SessionStore:
    def __init__(self, redis: Redis, settings: WebSettings, *, sign_ins: Limit) -> None:
        self.redis = redis
        self.settings = settings
        # Every sign-in stores a session until its idle timeout (Redis is noeviction): one
        # identity (say, a guest with a valid passphrase in a loop) must not be able to grow that
        # without bound (ANDRE_SIGN_IN_EMAIL_MAX per e-mail and window).
        self.sign_ins = sign_ins

    def _ttl_s(self, record: SessionRecord, now: float) -> int:
        return max(1, int(min(self.settings.session_idle_timeout_s, record.expires_at - now)))

    async def create(
        self,
        *,
        email: str,
        name: str,
        is_admin: bool,
        is_guest: bool,
        expires_at: float | None = None,
    ) -> tuple[str, SessionRecord]:
        """A new session; returns the cookie id (shown to nobody but the browser) and record."""
        now = time.time()
        absolute = now + self.settings.session_absolute_timeout_s
        record = SessionRecord(
            email=email.lower(),
            name=name,
            is_admin=is_admin,
            is_guest=is_guest,
            csrf_token=secrets.token_urlsafe(32),
            created_at=now,
            expires_at=min(absolute, expires_at) if expires_at else absolute,
        )
        session_id = secrets.token_urlsafe(SESSION_ID_BYTES)
        await self.redis.set(
            keys.session(digest(session_id)),
            json.dumps(asdict(record)),
            ex=self._ttl_s(record, now),
        )
        return session_id, record

    async def load(self, session_id: str, *, touch: bool = True) -> SessionRecord | None:
        """The live session for a cookie id; each use pushes the idle timeout back.

        ``touch=False`` only checks (an open event stream re-checking that its session still
        exists must not keep an idle session alive by itself).
        """
        if not session_id or len(session_id) > 128:
            return None
        key = keys.session(digest(session_id))
        # Redis' TTL is the idle clock: each use pushes it back (in the same round trip as the
        # read); no use within the idle timeout and the key is gone.
        # Undecoded, so that a damaged value reads as no session instead of failing every page.
        if touch:
            ttl_s = self.settings.session_idle_timeout_s
            raw = await records.execute(self.redis, "GETEX", key, "EX", ttl_s, raw=True)
        else:
            raw = await records.execute(self.redis, "GET", key, raw=True)
        if raw is None:
            return None
        try:
            record = SessionRecord.from_stored(raw)
        except ValueError as exc:
            # The key is a digest of the cookie id: safe to name in the log.
            records.report_damaged("session", key, str(exc))
            await self.redis.delete(key)
            return None
        now = time.time()
        if now >= record.expires_at:
            await self.redis.delete(key)
            return None
        # A revoked or expired guest invite ends the guest's sessions at once.
        if record.is_guest and not await guest_active(
            self.redis, record.email, now, record.created_at
        ):
            await self.redis.delete(key)
            await self.redis.set(keys.session_ended(digest(session_id)), "guest", ex=_ENDED_TTL_S)
            return None
        if touch and record.expires_at - now < self.settings.session_idle_timeout_s:
            await self.redis.expire(key, self._ttl_s(record, now))  # never past the absolute end
        return record

    async def revoke(self, session_id: str) -> None:
        if session_id and len(session_id) <= 128:
            await self.redis.delete(keys.session(digest(session_id)))


async def guest_active(redis: Redis, email: str, now: float, session_created_at: float) -> bool:
    """The guest's invite is live and is the one the session signed in with: re-issuing an
    invite (a new passphrase) ends the sessions of the old one."""
    raw = await records.execute(redis, "HGET", keys.GUESTS, email, raw=True)
    if raw is None:
        return False
    try:
        invite = records.loads(raw)
        issued_at = float(invite.get("created_at", 0))
        return float(invite["expires_at"]) > now and session_created_at >= issued_at
    except (AttributeError, KeyError, TypeError, ValueError):
        return False


def session_id_from(conn: HTTPConnection, settings: WebSettings) -> str:
    return conn.cookies.get(settings.session_cookie_name, "")


def set_session_cookie(response: Response, settings: WebSettings, session_id: str) -> None:
    # No Max-Age: the browser forgets it at exit; the server enforces idle/absolute timeouts.
    response.set_cookie(
        settings.session_cookie_name,
        session_id,
        path="/",
        secure=settings.cookies_secure,
        httponly=True,
        samesite="lax",
    )


def clear_session_cookie(response: Response, settings: WebSettings) -> None:
    response.delete_cookie(
        settings.session_cookie_name,
        path="/",
        secure=settings.cookies_secure,
        httponly=True,
        samesite="lax",
    )


async def start_session(
    conn: HTTPConnection,
    response: Response,
    store: SessionStore,
    *,
    email: str,
    name: str,
    is_admin: bool,
    is_guest: bool,
    expires_at: float | None = None,
    counted: bool = True,
) -> SessionRecord:
    """Sign in: revoke whatever id the browser had (no fixation) and issue a fresh one.

    Sign-ins per e-mail are rate-limited (429) unless ``counted=False`` (dev login only).
    """
    if counted:
        try:
            await hit(store.redis, store.sign_ins, email)
        except RateLimited as exc:
            raise TooManyRequests(str(exc), exc.retry_after_s, html=True) from exc
    await store.revoke(session_id_from(conn, store.settings))
    session_id, record = await store.create(
        email=email, name=name, is_admin=is_admin, is_guest=is_guest, expires_at=expires_at
    )
    set_session_cookie(response, store.settings, session_id)
    # A new pre-session value too: whatever bound the sign-in forms and OAuth flow before is spent.
    set_presession_cookie(response, store.settings, new_presession(store.settings))
    return record


async def sign_in(
    conn: HTTPConnection,
    store: SessionStore,
    *,
    email: str,
    name: str,
    is_admin: bool = False,
    is_guest: bool = False,
    expires_at: float | None = None,
    counted: bool = True,
    client_ip: str,
    path: str,
    method: str,
    to: str = "/",
    **details: str,
) -> RedirectResponse:
    """Sign the browser in (``start_session``) and send it on (303 to ``to``), with the one
    ``login`` audit line (``path`` as logged: never a secret-bearing URL; ``details`` such as who
    made a screen session)."""
    response = RedirectResponse(to, status_code=303)
    await start_session(
        conn,
        response,
        store,
        email=email,
        name=name,
        is_admin=is_admin,
        is_guest=is_guest,
        expires_at=expires_at,
        counted=counted,
    )
    audit(
        "login",
        identity=email,
        client_ip=client_ip,
        path=path,
        outcome="ok",
        method=method,
        **details,
    )
    return response
