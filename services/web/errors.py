"""One table from errors to HTTP: JSON ``{"error": ...}`` for actions, a small page for browsers."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse, RedirectResponse, Response

from services.web.templating import templates
from shared.http_errors import describe_validation, domain_status, retry_after_header
from shared.queue import errors as qerr
from shared.redis_client import (
    DAMAGED_MESSAGE,
    REDIS_UNAVAILABLE,
    is_wrong_type,
    log_unavailable,
    unavailable_message,
)
from shared.redis_client import RETRY_AFTER_S as REDIS_RETRY_AFTER_S
from shared.spotify import errors as serr

log = logging.getLogger(__name__)


class WebError(Exception):
    """An error whose message is safe to show; ``html`` forces a page even for fetch callers."""

    status_code = 400

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        headers: dict[str, str] | None = None,
        html: bool = False,
    ) -> None:
        super().__init__(message)
        self.message = message
        if status_code is not None:
            self.status_code = status_code
        self.headers = headers or {}
        self.html = html


class BadRequest(WebError):
    status_code = 400


class NotSignedIn(WebError):
    status_code = 401


class Forbidden(WebError):
    status_code = 403


class NotFound(WebError):
    status_code = 404


class TooManyRequests(WebError):
    status_code = 429

    def __init__(self, message: str, retry_after_s: int, *, html: bool = False) -> None:
        super().__init__(message, headers={"Retry-After": str(retry_after_s)}, html=html)


class LoginRequired(Exception):
    """A page was asked for without a session: send the browser to sign in (``to``)."""

    def __init__(self, to: str = "/login/") -> None:
        super().__init__(to)
        self.to = to


def wants_html(request: Request) -> bool:
    """Browsers navigating ask for text/html; fetch() and scripts get JSON."""
    return "text/html" in request.headers.get("accept", "")


def error_response(
    request: Request,
    status_code: int,
    message: str,
    *,
    headers: dict[str, str] | None = None,
    html: bool = False,
) -> Response:
    if html or wants_html(request):
        return templates.TemplateResponse(
            request,
            "auth/error.html",
            {"status_code": status_code, "message": message},
            status_code=status_code,
            headers=headers,
        )
    return JSONResponse({"error": message}, status_code=status_code, headers=headers)


async def _web_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, WebError)
    return error_response(request, exc.status_code, exc.message, headers=exc.headers, html=exc.html)


async def _login_required(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, LoginRequired)
    return RedirectResponse(exc.to, status_code=302)


async def _domain_error(request: Request, exc: Exception) -> Response:
    status = domain_status(exc)
    headers = retry_after_header(exc)
    message = str(exc) or "Request failed"
    if isinstance(exc, serr.SpotifyUpstreamError):
        message = "Spotify is not answering properly; try again shortly"
    return error_response(request, status, message, headers=headers)


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    # Never FastAPI's 422 shape: it echoes the input back.
    return JSONResponse({"error": describe_validation(exc)}, status_code=400)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    detail: Any = exc.detail
    message = detail if isinstance(detail, str) else "Request failed"
    if exc.status_code == 404:
        message = "Not found"
    elif exc.status_code == 405:
        message = "Method not allowed"
    return error_response(request, exc.status_code, message, headers=dict(exc.headers or {}))


async def unexpected_error(request: Request, exc: Exception) -> Response:
    """Whatever no handler took: 503 while Redis cannot serve, else a logged 500."""
    if isinstance(exc, REDIS_UNAVAILABLE):
        log_unavailable(log, exc, request.url.path)
        headers = {"Retry-After": str(REDIS_RETRY_AFTER_S)}
        return error_response(request, 503, unavailable_message(exc), headers=headers)
    if is_wrong_type(exc):
        log.error("damaged Redis key on %s: %s", request.url.path, exc)
        return error_response(request, 503, DAMAGED_MESSAGE)
    log.error("unhandled error on %s", request.url.path, exc_info=exc)
    return error_response(request, 500, "Internal error")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(WebError, _web_error)
    app.add_exception_handler(LoginRequired, _login_required)
    app.add_exception_handler(qerr.DomainError, _domain_error)
    app.add_exception_handler(serr.SpotifyError, _domain_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    # Anything else is answered by shared.asgi.ContainErrors with unexpected_error (see
    # services.web.app), inside the security-headers layer so even a 500 carries them.
