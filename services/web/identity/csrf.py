"""CSRF defences: same-origin check, per-session tokens, pre-session tokens for sign-in forms."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from starlette.requests import HTTPConnection, Request
from starlette.responses import Response

from services.web.settings import WebSettings

# Dev may run without ANDRE_SECRET_KEY (prod refuses to start without one); a per-process key
# then signs the pre-session tokens, which is enough for a single dev process.
_DEV_FALLBACK_KEY = secrets.token_bytes(32)
PRESESSION_MAX_AGE_S = 3600


def tokens_equal(a: str, b: str) -> bool:
    """Constant-time comparison; empty never matches."""
    if not a or not b:
        return False
    return hmac.compare_digest(a.encode("utf-8"), b.encode("utf-8"))


def same_origin(conn: HTTPConnection, settings: WebSettings) -> bool:
    """The request's Origin is exactly our public origin (a missing Origin is not).

    Compared as sent, not parsed: a browser serialises an origin one way (lower case, no path,
    no user info, default port dropped), so ``https://evil@host``, a path or another case is
    not a browser on our page.
    """
    origin = conn.headers.get("origin")
    if not origin or origin == "null":
        return False
    return tokens_equal(origin, settings.public_origin)


def _key(settings: WebSettings) -> bytes:
    secret = settings.secret_key.get_secret_value()
    return secret.encode("utf-8") if secret else _DEV_FALLBACK_KEY


def _presession_mac(settings: WebSettings, nonce: str) -> str:
    return hmac.new(_key(settings), f"presession\x00{nonce}".encode(), hashlib.sha256).hexdigest()


def new_presession(settings: WebSettings) -> str:
    """A server-chosen pre-session value: a random nonce and our MAC of it."""
    nonce = secrets.token_urlsafe(32)
    return f"{nonce}.{_presession_mac(settings, nonce)}"


def presession_value(conn: HTTPConnection, settings: WebSettings) -> str:
    """The browser's pre-session value if we issued it, else "" (a value the client made up, or
    one planted in its cookie jar by someone else, binds nothing)."""
    value = conn.cookies.get(settings.presession_cookie_name, "")[:128]
    nonce, sep, mac = value.partition(".")
    if not sep or len(nonce) < 32 or not tokens_equal(mac, _presession_mac(settings, nonce)):
        return ""
    return value


def ensure_presession(request: Request, settings: WebSettings) -> tuple[str, bool]:
    """The browser's pre-session value, or a fresh one (``True``: set it on the response)."""
    value = presession_value(request, settings)
    if value:
        return value, False
    return new_presession(settings), True


def set_presession_cookie(response: Response, settings: WebSettings, value: str) -> None:
    response.set_cookie(
        settings.presession_cookie_name,
        value,
        max_age=PRESESSION_MAX_AGE_S,
        path="/",
        secure=settings.cookies_secure,
        httponly=True,
        samesite="lax",
    )


def form_token(settings: WebSettings, presession: str, purpose: str) -> str:
    """The hidden-field token of a sign-in form: bound to this browser's cookie and the form."""
    mac = hmac.new(_key(settings), f"{purpose}\x00{presession}".encode(), hashlib.sha256)
    return mac.hexdigest()


def check_form_token(conn: HTTPConnection, settings: WebSettings, purpose: str, token: str) -> bool:
    presession = presession_value(conn, settings)
    if not presession:
        return False
    return tokens_equal(form_token(settings, presession, purpose), token)


def binding_digest(settings: WebSettings, presession: str) -> str:
    """Ties an OAuth flow to the browser that started it (stops login CSRF via a stolen URL)."""
    return form_token(settings, presession, "oauth-binding")
