"""Security headers set by the app too (defence in depth behind Caddy); never any CORS header."""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.web.settings import WebSettings

# Same policy as deploy/caddy/andre.caddy: no inline script or style, Spotify artwork and API only.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; "
    "img-src 'self' data: https://i.scdn.co https://*.scdn.co; media-src 'self' blob:; "
    "connect-src 'self' https://api.spotify.com; frame-ancestors 'none'; base-uri 'self'; "
    "form-action 'self'; object-src 'none'"
)

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
    """Adds the security headers, ``Cache-Control: no-store`` off /static, strips CORS headers."""

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
        static = str(scope.get("path", "")).startswith("/static/")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name in _CORS_HEADERS:
                    del headers[name]
                for name, value in self.headers:
                    headers[name] = value
                if not static:
                    # Pages and JSON carry per-user data and CSRF tokens: no shared caches.
                    headers["cache-control"] = "no-store"
                headers.append("vary", "Cookie")
            await send(message)

        await self.app(scope, receive, send_with_headers)
