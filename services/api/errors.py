"""Every error the api answers, as ``{"error": "..."}``: one table from exceptions to statuses."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from shared.queue.errors import (
    AlreadyVoted,
    DomainError,
    InvalidInput,
    ItemNotFound,
    NoFreeAirhorns,
    NothingPlaying,
    OwnSongUpvote,
    QueueFull,
    RateLimited,
)
from shared.spotify.errors import (
    SpotifyError,
    SpotifyNoActiveDevice,
    SpotifyNotConfigured,
    SpotifyNotConnected,
    SpotifyNotFound,
    SpotifyRateLimited,
    SpotifyUpstreamError,
)

log = logging.getLogger(__name__)


class ApiError(Exception):
    """An HTTP error with a message safe to show."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers


STATUS: dict[type[Exception], int] = {
    ItemNotFound: 404,
    AlreadyVoted: 409,
    OwnSongUpvote: 409,
    NothingPlaying: 409,
    QueueFull: 409,
    NoFreeAirhorns: 409,
    InvalidInput: 400,
    RateLimited: 429,
    SpotifyNotFound: 404,
    SpotifyRateLimited: 429,
    SpotifyUpstreamError: 502,
    SpotifyNotConfigured: 503,
    SpotifyNotConnected: 503,
    SpotifyNoActiveDevice: 503,
}


def error_response(
    status: int, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def status_of(exc: Exception) -> int:
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 502 if isinstance(exc, SpotifyError) else 500


async def _api_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return error_response(exc.status, exc.message, exc.headers)


async def _known_error(_: Request, exc: Exception) -> JSONResponse:
    status = status_of(exc)
    headers = None
    if isinstance(exc, RateLimited | SpotifyRateLimited):
        headers = {"Retry-After": str(exc.retry_after_s)}
    if status == 500:
        log.error("unmapped domain error", exc_info=exc)
        return error_response(500, "Internal error")
    return error_response(status, str(exc) or "Error", headers)


async def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    # Never FastAPI's 422 shape: name the first bad field in the house format.
    assert isinstance(exc, RequestValidationError)
    for err in exc.errors():
        loc = [str(p) for p in err.get("loc", ()) if p not in ("body", "query", "header", "path")]
        name = loc[0] if loc else "body"
        if err.get("type") == "missing":
            return error_response(400, f"Missing required field: {name}")
        return error_response(400, f"Invalid field: {name}")
    return error_response(400, "Invalid request")


async def _http_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    messages = {404: "Not found", 405: "Method not allowed"}
    message = messages.get(exc.status_code) or str(exc.detail or "Error")
    return error_response(exc.status_code, message, dict(exc.headers or {}) or None)


async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
    log.error("unexpected error", exc_info=exc)
    return error_response(500, "Internal error")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(DomainError, _known_error)
    app.add_exception_handler(SpotifyError, _known_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
