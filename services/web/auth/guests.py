"""Guest invites: admins issue expiring passphrases (argon2id-hashed); guests sign in at /guest/."""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from fastapi import APIRouter, Request
from redis.asyncio import Redis
from starlette.requests import HTTPConnection
from starlette.responses import RedirectResponse, Response

from services.web.auth.common import (
    DIGITS,
    form_str,
    read_form,
    read_signed_form,
    render_presession_form,
)
from services.web.auth.deps import (
    CSRF_HEADER,
    AdminPageUserDep,
    SessionStoreDep,
    WebSettingsDep,
    check_csrf,
    get_optional_user,
    request_ip,
)
from services.web.errors import Forbidden, TooManyRequests, WebError
from services.web.identity.emails import normalise_email
from services.web.identity.sessions import GUEST_ENDED_MESSAGE, SessionStore, SessionUser, sign_in
from services.web.settings import WebSettings
from services.web.state import LimitsDep, RedisDep, web_state
from services.web.templating import templates
from shared import keys
from shared.clientip import rate_subject
from shared.logs import audit
from shared.queue import records
from shared.queue.errors import RateLimited
from shared.ratelimit import give_back, hit

router = APIRouter()
PURPOSE = "guest-login"

# argon2id with argon2-cffi's defaults (RFC 9106 low-memory profile: t=3, m=64 MiB, p=4).
_hasher = PasswordHasher()
# Each verification holds 64 MiB for a moment: bound how many run at once.
_verify_slots = asyncio.Semaphore(4)
_PASSPHRASE_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i look-alikes


def new_passphrase() -> str:
    """Four groups of five from a 31-symbol alphabet: about 99 bits."""
    groups = ("".join(secrets.choice(_PASSPHRASE_ALPHABET) for _ in range(5)) for _ in range(4))
    return "-".join(groups)


# Checks made past a failure limit queue for this single slot, giving up after a few seconds.
_throttled_slot = asyncio.Semaphore(1)
_THROTTLED_WAIT_S = 5.0


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    return _hasher.hash(secrets.token_urlsafe(16))


def _verify(hash_: str, password: str) -> bool:
    try:
        return _hasher.verify(hash_, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


async def verify_password(hash_: str | None, password: str) -> bool:
    """Constant work whether or not the guest exists (no e-mail enumeration by timing)."""
    async with _verify_slots:
        ok = await asyncio.to_thread(_verify, hash_ or _dummy_hash(), password)
    return ok and hash_ is not None


async def _verify_throttled(hash_: str | None, password: str) -> bool:
    try:
        await asyncio.wait_for(_throttled_slot.acquire(), _THROTTLED_WAIT_S)
    except TimeoutError:
        return False
    try:
        return await verify_password(hash_, password)
    finally:
        _throttled_slot.release()


@dataclass(frozen=True)
class Guest:
    email: str
    hash: str
    expires_at: float
    by: str
    created_at: float

    @property
    def expires_iso(self) -> str:
        return datetime.fromtimestamp(self.expires_at, UTC).strftime("%Y-%m-%d %H:%M UTC")


async def sign_in_guest(
    conn: HTTPConnection,
    store: SessionStore,
    guest: Guest,
    *,
    client_ip: str,
    path: str,
    method: str,
) -> RedirectResponse:
    """Sign a guest in until their invite ends (the guest page and a join link both do)."""
    return await sign_in(
        conn,
        store,
        email=guest.email,
        name="Guest",
        is_guest=True,
        expires_at=guest.expires_at,
        client_ip=client_ip,
        path=path,
        method=method,
    )


def _parse_guest(email: str, raw: str | bytes | None) -> Guest | None:
    if raw is None:
        return None
    try:
        data: dict[str, Any] = records.loads(raw)
        return Guest(
            email=email,
            hash=str(data["hash"]),
            expires_at=float(data["expires_at"]),
            by=str(data.get("by", "")),
            created_at=float(data.get("created_at", 0)),
        )
    except (KeyError, TypeError, ValueError):
        return None


async def issue_guest(redis: Redis, email: str, days: int, by: str) -> tuple[str, Guest]:
    passphrase = new_passphrase()
    now = time.time()
    hash_ = await asyncio.to_thread(_hasher.hash, passphrase)
    guest = Guest(email=email, hash=hash_, expires_at=now + days * 86400, by=by, created_at=now)
    record = {"hash": guest.hash, "expires_at": guest.expires_at, "by": by, "created_at": now}
    await redis.hset(keys.GUESTS, email, json.dumps(record))
    return passphrase, guest


async def list_guests(redis: Redis) -> list[Guest]:
    # Undecoded: one damaged invite must not take the admin page down with it.
    entries = await records.execute(redis, "HGETALL", keys.GUESTS, raw=True)
    parsed = (_parse_guest(bytes(e).decode("utf-8", "replace"), raw) for e, raw in entries.items())
    guests = [g for g in parsed if g is not None]
    return sorted(guests, key=lambda g: g.expires_at)


# --- guest sign-in --------------------------------------------------------------------------


@router.get("/guest/")
async def guest_form(request: Request, settings: WebSettingsDep) -> Response:
    """The guest sign-in form."""
    if await get_optional_user(request) is not None:
        return RedirectResponse("/", status_code=302)
    # A fixed message chosen by a flag, never text from the URL.
    context = {"error": GUEST_ENDED_MESSAGE} if request.query_params.get("ended") == "1" else {}
    return render_presession_form(request, settings, "auth/guest_login.html", PURPOSE, context)


@router.post("/guest/")
async def guest_sign_in(
    request: Request,
    settings: WebSettingsDep,
    redis: RedisDep,
    store: SessionStoreDep,
    limits: LimitsDep,
) -> Response:
    """Sign a guest in with the e-mail and passphrase an admin gave them."""
    form = await read_signed_form(request, settings, PURPOSE)
    ip = request_ip(request)
    raw_email = form_str(form, "email", 254)
    email = normalise_email(raw_email) or raw_email.strip().lower()
    password = form_str(form, "password", 256)
    # Every attempt is counted before the passphrase is checked (a burst of concurrent guesses
    # must not all pass a check made before any of them failed); a success gives its count back.
    attempts = (
        (limits.guest_login_ip, rate_subject(ip)),
        (limits.guest_login_email, email or "-"),
    )
    limited: RateLimited | None = None
    for limit, subject in attempts:
        try:
            await hit(redis, limit, subject)
        except RateLimited as exc:
            if limited is None or exc.retry_after_s > limited.retry_after_s:
                limited = exc

    stored = await records.execute(redis, "HGET", keys.GUESTS, email, raw=True) if email else None
    guest = _parse_guest(email, stored)
    now = time.time()
    if guest is not None and guest.expires_at <= now:
        await redis.hdel(keys.GUESTS, email)  # expired invites are refused and forgotten
        guest = None
    if limited is None:
        ok = await verify_password(guest.hash if guest else None, password)
    else:
        # Over a failure limit the guessing is slowed, never the real guest locked out: the
        # passphrase is still checked, one such check at a time per process (so guesses past the
        # limit cannot crowd the normal verification slots), and a wrong one answers 429.
        ok = await _verify_throttled(guest.hash if guest else None, password)
    ok = ok and guest is not None
    if (not ok or guest is None) and limited is not None:
        audit(
            "login_failed",
            identity=email or None,
            client_ip=ip,
            path="/guest/",
            outcome="rate_limited",
            method="guest",
        )
        raise TooManyRequests(str(limited), limited.retry_after_s, html=True)
    if not ok or guest is None:
        audit(
            "login_failed",
            identity=email or None,
            client_ip=ip,
            path="/guest/",
            outcome="refused",
            method="guest",
        )
        return render_presession_form(
            request,
            settings,
            "auth/guest_login.html",
            PURPOSE,
            {
                "error": "Sign-in failed: wrong e-mail or passphrase, or the invite expired.",
                "email": email,
            },
            status_code=401,
        )
    for limit, subject in attempts:
        await give_back(redis, limit, subject)  # a sign-in that worked is not a failed one
    if _hasher.check_needs_rehash(guest.hash):
        await issue_rehash(redis, guest, password)
    return await sign_in_guest(request, store, guest, client_ip=ip, path="/guest/", method="guest")


async def issue_rehash(redis: Redis, guest: Guest, password: str) -> None:
    hash_ = await asyncio.to_thread(_hasher.hash, password)
    record = {
        "hash": hash_,
        "expires_at": guest.expires_at,
        "by": guest.by,
        "created_at": guest.created_at,
    }
    await redis.hset(keys.GUESTS, guest.email, json.dumps(record))


# --- admin ----------------------------------------------------------------------------------


async def _not_guest_address(redis: Redis, settings: WebSettings, email: str) -> str | None:
    """Why ``email`` cannot be a guest, or None. A guest acts as its e-mail everywhere (queue,
    votes, that address's linked Spotify via /spotify/token), so an invite must never be a
    passphrase for someone else's identity: not an admin, not a single-sign-on domain, not an
    address that already linked Spotify here."""
    domain = email.rpartition("@")[2]
    if settings.is_admin(email):
        return "That address is an admin's; admins sign in with single sign-on."
    if domain in settings.allowed_email_domains:
        return f"Addresses at {domain} sign in with single sign-on; guests are for others."
    if await redis.exists(keys.user_tokens(email)):
        return "That address already has an account here (it linked Spotify)."
    return None


async def _admin_page(
    request: Request,
    redis: Redis,
    user: SessionUser,
    *,
    status_code: int = 200,
    **context: Any,
) -> Response:
    return templates.TemplateResponse(
        request,
        "auth/admin_guests.html",
        {
            "user": user,
            "csrf_token": user.csrf_token,
            "guests": await list_guests(redis),
            "now": time.time(),
            "max_days": web_state(request.app).settings.guest_max_days,
            **context,
        },
        status_code=status_code,
    )


@router.get("/admin/guests")
async def list_guest_invites(request: Request, user: AdminPageUserDep, redis: RedisDep) -> Response:
    """Admins: the guest invites and a form to issue one."""
    return await _admin_page(request, redis, user)


@router.post("/admin/guests")
async def change_guest_invites(
    request: Request, user: AdminPageUserDep, redis: RedisDep, settings: WebSettingsDep
) -> Response:
    """Admins: issue (``action=issue``: email, days) or revoke (``action=revoke``: email)."""
    form = await read_form(request)
    try:
        check_csrf(request, user, request.headers.get(CSRF_HEADER) or form_str(form, "csrf_token"))
    except WebError as exc:
        raise Forbidden(exc.message, html=True) from exc
    action = form_str(form, "action", 16) or "issue"
    email = normalise_email(form_str(form, "email", 254))
    ip = request_ip(request)
    if email is None:
        return await _admin_page(
            request, redis, user, status_code=400, error="Enter a valid e-mail address."
        )
    if action == "revoke":
        await redis.hdel(keys.GUESTS, email)
        audit(
            "guest_revoke",
            identity=user.email,
            client_ip=ip,
            path="/admin/guests",
            outcome="ok",
            guest=email,
        )
        return await _admin_page(request, redis, user, notice=f"Invite for {email} revoked.")
    if action != "issue":
        return await _admin_page(request, redis, user, status_code=400, error="Unknown action.")
    refusal = await _not_guest_address(redis, settings, email)
    if refusal:
        return await _admin_page(request, redis, user, status_code=400, error=refusal)
    days_raw = form_str(form, "days", 8).strip()
    if not DIGITS.fullmatch(days_raw) or not 1 <= int(days_raw) <= settings.guest_max_days:
        return await _admin_page(
            request,
            redis,
            user,
            status_code=400,
            error=f"Days must be a whole number from 1 to {settings.guest_max_days}.",
        )
    passphrase, guest = await issue_guest(redis, email, int(days_raw), user.email)
    audit(
        "guest_issue",
        identity=user.email,
        client_ip=ip,
        path="/admin/guests",
        outcome="ok",
        guest=email,
        expires_at=int(guest.expires_at),
    )
    # The passphrase is shown this once, to the admin who created it; only its hash is kept.
    return await _admin_page(
        request, redis, user, status_code=201, issued=guest, passphrase=passphrase
    )
