"""Every error the api answers, as ``{"error": "..."}``: one table from exceptions to statuses."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from shared.http_errors import describe_validation, domain_status, retry_after_header
from shared.queue.errors import DomainError
from shared.redis_client import (
    DAMAGED_MESSAGE,
    REDIS_UNAVAILABLE,
    is_wrong_type,
    log_unavailable,
    unavailable_message,
)
from shared.redis_client import RETRY_AFTER_S as REDIS_RETRY_AFTER_S
from shared.spotify.errors import SpotifyError

log = logging.getLogger(__name__)


class ApiError(Exception):
    """An HTTP error with a message safe to show."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers


def error_docs(statuses: dict[int, str]) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for error statuses, each in the house ``{"error"}`` shape."""
    return {status: error_doc(text) for status, text in statuses.items()}


def error_doc(text: str) -> dict[str, Any]:
    return {
        "description": text,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "properties": {"error": {"type": "string"}},
                    "required": ["error"],
                }
            }
        },
    }


def error_response(
    status: int, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


async def _api_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return error_response(exc.status, exc.message, exc.headers)


async def _known_error(_: Request, exc: Exception) -> JSONResponse:
    status = domain_status(exc)
    headers = retry_after_header(exc) or None
    if status == 500:
        log.error("unmapped domain error", exc_info=exc)
        return error_response(500, "Internal error")
    return error_response(status, str(exc) or "Error", headers)


async def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return error_response(400, describe_validation(exc))


async def _http_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    messages = {404: "Not found", 405: "Method not allowed"}
    message = messages.get(exc.status_code) or str(exc.detail or "Error")
    return error_response(exc.status_code, message, dict(exc.headers or {}) or None)


async def unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    """Whatever no handler took: 503 while Redis cannot serve, else a logged 500."""
    if isinstance(exc, REDIS_UNAVAILABLE):
        log_unavailable(log, exc, request.url.path)
        return error_response(
            503, unavailable_message(exc), {"Retry-After": str(REDIS_RETRY_AFTER_S)}
        )
    if is_wrong_type(exc):
        # A damaged key: say so plainly (the log names the command's error), no traceback.
        log.error("damaged Redis key on %s: %s", request.url.path, exc)
        return error_response(503, DAMAGED_MESSAGE)
    log.error("unexpected error", exc_info=exc)
    return error_response(500, "Internal error")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(DomainError, _known_error)
    app.add_exception_handler(SpotifyError, _known_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    # Anything else is answered by shared.asgi.ContainErrors (see services.api.app), which keeps
    # the connection open where Starlette's own last-resort handler would have it closed.
