"""Request bodies: a size cap (413), JSON objects only, then the strict models of shared.bodies.

FastAPI's own body validation answers 422 in its own shape and cannot tell an empty body from a
missing one; the API contract wants 400 ``Missing required field: <name>`` / ``Invalid field:
<name>``, and an empty body reads as ``{}``. So a route takes its body as ``json_body(Model)``,
and ``services.api.scopes.needs(scope, Model)`` shows that model in OpenAPI.
"""

from __future__ import annotations

import json
from typing import Any, TypeVar

from fastapi import Depends
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError
from starlette.requests import ClientDisconnect, Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.api.errors import ApiError
from services.api.state import api_state
from shared.asgi import scope_header
from shared.http_errors import describe_validation

M = TypeVar("M", bound=BaseModel)


def json_body(model: type[M]) -> Any:
    """A dependency: the request's JSON object validated by ``model`` (400 in the house shape)."""

    async def read(request: Request) -> M:
        return await read_model(request, model)

    return Depends(read)


async def read_model(request: Request, model: type[M]) -> M:
    """The request's JSON object validated by ``model`` (400 in the house shape): what
    ``json_body`` gives a route, for an endpoint that takes the request only."""
    data = await read_object(request)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ApiError(400, describe_validation(RequestValidationError(exc.errors()))) from exc


def too_large() -> ApiError:
    return ApiError(413, "Request body too large")


async def read_object(request: Request) -> dict[str, Any]:
    """The JSON object in the body ({} when empty); 413 past the cap, 400 when not an object."""
    limit = api_state(request).settings.api_max_body_bytes
    declared = scope_header(request.scope, b"content-length")
    if declared is not None:
        if not declared.isdigit():
            raise ApiError(400, "Invalid Content-Length")
        if int(declared) > limit:
            raise too_large()
    raw = await _read_body(request, limit)
    if not raw.strip():
        return {}
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise ApiError(400, "Body is not valid JSON") from exc
    if not isinstance(data, dict):
        raise ApiError(400, "Body must be a JSON object")
    return data


async def _read_body(request: Request, limit: int) -> bytes:
    """The body's bytes, refused past ``limit`` as they arrive (a chunked body declares no
    length). Read from the ASGI messages: the body is read once, here, for the route."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise too_large()
        chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


class BodySizeLimit:
    """Refuse a declared oversized body before any route runs (chunked bodies: see read_object)."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            value = scope_header(scope, b"content-length")
            if value is not None and (not value.isdigit() or int(value) > self.max_bytes):
                await self._refuse(send, 413 if value.isdigit() else 400)
                return
        await self.app(scope, receive, send)

    @staticmethod
    async def _refuse(send: Send, status: int) -> None:
        body = json.dumps(
            {"error": "Request body too large" if status == 413 else "Invalid Content-Length"}
        ).encode()
        start: Message = {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
        await send(start)
        await send({"type": "http.response.body", "body": body})
