"""Security headers set by the app too (defence in depth behind Caddy); never any CORS header."""

from __future__ import annotations

from urllib.parse import quote

from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.web.auth.deps import get_optional_user
from services.web.settings import WebSettings

# Same policy as deploy/caddy/andre.caddy: no inline script or style, Spotify artwork and API only.
# Demo artwork is same-origin (/art/demo/, routes/art.py), so images need no data: allowance.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; "
    "img-src 'self' https://i.scdn.co https://*.scdn.co; media-src 'self' blob:; "
    "connect-src 'self' https://api.spotify.com; frame-ancestors 'none'; base-uri 'self'; "
    "form-action 'self'; object-src 'none'"
)

# Public artwork (routes/art.py): an SVG opened on its own may load nothing and run nothing.
ART_PREFIX = "/art/"
ART_CSP = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'"

_BASE_HEADERS: tuple[tuple[str, str], ...] = (
    ("content-security-policy", CSP),
    ("x-content-type-options", "nosniff"),
    ("x-frame-options", "DENY"),
    ("referrer-policy", "strict-origin-when-cross-origin"),
    (
        "permissions-policy",
        "accelerometer=(), camera=(), geolocation=(), gyroscope=(), microphone=(), "
        "payment=(), usb=()",
    ),
    ("cross-origin-opener-policy", "same-origin"),
    ("cross-origin-resource-policy", "same-origin"),
)

# Anything a CORS layer (or a careless route) might emit; foreign origins get none of it.
_CORS_HEADERS = (
    "access-control-allow-origin",
    "access-control-allow-credentials",
    "access-control-allow-methods",
    "access-control-allow-headers",
    "access-control-expose-headers",
    "access-control-max-age",
)


class SecurityHeadersMiddleware:
    """Adds the security headers, ``Cache-Control: no-store`` off /static, strips CORS headers.

    Artwork under /art/ is the same for everyone (no cookie is read): its route's own public
    ``Cache-Control`` stands, it gets no ``Vary: Cookie`` and a strict CSP of its own. Any answer
    there without a Cache-Control of its own (a 404) is ``no-store`` like the pages.
    """

    def __init__(self, app: ASGIApp, settings: WebSettings) -> None:
        self.app = app
        self.headers = list(_BASE_HEADERS)
        if settings.cookies_secure and not settings.is_dev:
            self.headers.append(
                ("strict-transport-security", "max-age=31536000; includeSubDomains")
            )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = str(scope.get("path", ""))
        static = path.startswith("/static/")
        art = path.startswith(ART_PREFIX)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name in _CORS_HEADERS:
                    del headers[name]
                for name, value in self.headers:
                    headers[name] = value
                if art:
                    headers["content-security-policy"] = ART_CSP
                    if "cache-control" not in headers:
                        headers["cache-control"] = "no-store"
                    await send(message)
                    return
                if not static:
                    # Pages and JSON carry per-user data and CSRF tokens: no shared caches.
                    headers["cache-control"] = "no-store"
                headers.append("vary", "Cookie")
            await send(message)

        await self.app(scope, receive, send_with_headers)


_FORM_TYPES = (b"application/x-www-form-urlencoded", b"multipart/form-data")


class ActionBodyGuard:
    """Bodies of browser JSON actions: the session is checked before a byte is read, and no
    body may exceed ``max_bytes`` (413). Without this, FastAPI reads and parses a body before
    any dependency runs, so anyone reaching the port could make the process hold megabytes
    for a request that ends in 401. Sign-in forms (form types) have their own cap (read_form).
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("POST", "PUT", "PATCH", "DELETE"):
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        declared = headers.get(b"content-length")
        has_body = declared not in (None, b"0") or b"transfer-encoding" in headers
        content_type = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
        if not has_body or content_type in _FORM_TYPES:
            await self.app(scope, receive, send)
            return
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            await self._refuse(scope, receive, send, 413, "Request body too large")
            return
        # Same lookup the route's dependency makes (cached in the scope): one check, made early.
        if await get_optional_user(Request(scope)) is None:
            await self._refuse(scope, receive, send, 401, "Not signed in")
            return
        seen = 0
        max_bytes = self.max_bytes

        async def counted_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > max_bytes:
                    if message.get("more_body", False):
                        await _drain(receive)
                    raise HTTPException(413, "Request body too large")
            return message

        await self.app(scope, counted_receive, send)

    @staticmethod
    async def _refuse(scope: Scope, receive: Receive, send: Send, status: int, text: str) -> None:
        # The body is read and thrown away (up to the proxy's own cap), never kept: a proxy still
        # sending it would turn an early answer into a 502. Past the cap the connection closes.
        drained = await _drain(receive)
        headers = {} if drained else {"Connection": "close"}
        response = JSONResponse({"error": text}, status_code=status, headers=headers)
        await response(scope, receive, send)


_DRAIN_MAX_BYTES = 1024 * 1024  # Caddy refuses bigger bodies itself (deploy/caddy/andre.caddy)


async def _drain(receive: Receive) -> bool:
    """Discard the rest of a request body; False if it went past ``_DRAIN_MAX_BYTES``."""
    seen = 0
    while seen <= _DRAIN_MAX_BYTES:
        message = await receive()
        if message["type"] != "http.request":
            return False  # the client went away
        seen += len(message.get("body", b""))
        if not message.get("more_body", False):
            return True
    return False


class RelativeSlashRedirect:
    """``/login`` → ``/login/`` as a relative redirect (the router's own redirect is off).

    Starlette builds that redirect from the Host header and the scheme it saw (http behind
    Caddy), so a hostile Host made it point anywhere and it leaked the upstream address. Here the
    redirect happens only where the router found nothing (a 404) and the other form of the path
    is a route; ``Location`` is the path alone, resolved by the browser against our own origin.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = str(scope.get("path", ""))
        if scope["type"] != "http" or path in ("", "/") or path.startswith("//"):
            await self.app(scope, receive, send)
            return
        redirecting = False

        async def send_or_redirect(message: Message) -> None:
            nonlocal redirecting
            if message["type"] == "http.response.start" and message["status"] == 404:
                target = self._other_form(scope, path)
                if target is not None:
                    redirecting = True
                    query = scope.get("query_string", b"").decode("latin-1")
                    location = target + (f"?{query}" if query else "")
                    await send(
                        {
                            "type": "http.response.start",
                            "status": 307,
                            "headers": [(b"location", location.encode("latin-1"))],
                        }
                    )
                    await send({"type": "http.response.body", "body": b""})
                    return
            if redirecting:
                return  # the 404's body
            await send(message)

        await self.app(scope, receive, send_or_redirect)

    @staticmethod
    def _other_form(scope: Scope, path: str) -> str | None:
        other = path.rstrip("/") if path.endswith("/") else path + "/"
        if not other or other.startswith("//"):
            return None
        probe = {**scope, "path": other}
        for route in scope["app"].router.routes:
            match, _ = route.matches(probe)
            if match != Match.NONE:
                return quote(other)
        return None
