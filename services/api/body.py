"""Request bodies read by hand: a size cap (413), JSON objects only, strict field types (400).

FastAPI's own body validation answers 422 in its own shape and coerces loosely; the API contract
wants ``Missing required field: <name>`` / ``Invalid field: <name>`` and JSON booleans only.
The pydantic models here only document the bodies in OpenAPI.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, Field
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.api.errors import ApiError
from shared.spotify.uris import REF_PATTERN

MAX_ID_LEN = 64
MAX_URI_LEN = 300
MAX_DEVICE_ID_LEN = 128


class IdBody(BaseModel):
    id: str = Field(min_length=1, max_length=MAX_ID_LEN)


class VoteBody(BaseModel):
    id: str = Field(min_length=1, max_length=MAX_ID_LEN)
    up: bool = True


class AddBody(BaseModel):
    uri: str = Field(
        min_length=1,
        max_length=MAX_URI_LEN,
        pattern=REF_PATTERN,
        description="spotify:track:…, spotify:episode:… or an open.spotify.com link",
    )


class TransferBody(BaseModel):
    device_id: str = Field(min_length=1, max_length=MAX_DEVICE_ID_LEN)
    play: bool = True


def documented(model: type[BaseModel]) -> dict[str, Any]:
    """``openapi_extra`` that shows ``model`` as the JSON request body."""
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": model.model_json_schema()}},
        }
    }


def too_large() -> ApiError:
    return ApiError(413, "Request body too large")


async def read_object(request: Request) -> dict[str, Any]:
    """The JSON object in the body ({} when empty); 413 past the cap, 400 when not an object."""
    limit: int = request.app.state.settings.api_max_body_bytes
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            if int(declared) > limit:
                raise too_large()
        except ValueError as exc:
            raise ApiError(400, "Invalid Content-Length") from exc
    chunks = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large()
        chunks.append(chunk)
    raw = b"".join(chunks)
    if not raw.strip():
        return {}
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise ApiError(400, "Body is not valid JSON") from exc
    if not isinstance(data, dict):
        raise ApiError(400, "Body must be a JSON object")
    return data


def _valid_text(value: str) -> bool:
    try:
        value.encode("utf-8")  # lone surrogates ("\ud800") parse as JSON but are not text
    except UnicodeEncodeError:
        return False
    return True


def required_str(data: dict[str, Any], name: str, max_len: int = MAX_ID_LEN) -> str:
    value = data.get(name)
    if value is None or value == "":
        raise ApiError(400, f"Missing required field: {name}")
    if not isinstance(value, str) or len(value) > max_len or not _valid_text(value):
        raise ApiError(400, f"Invalid field: {name}")
    return value


def optional_bool(data: dict[str, Any], name: str, default: bool) -> bool:
    if name not in data:
        return default
    value = data[name]
    if not isinstance(value, bool):  # JSON booleans only: "false" must not mean true
        raise ApiError(400, f"Invalid field: {name}")
    return value


class BodySizeLimit:
    """Refuse a declared oversized body before any route runs (chunked bodies: see read_object)."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            for name, value in scope["headers"]:
                if name == b"content-length":
                    if not value.isdigit() or int(value) > self.max_bytes:
                        await self._refuse(send, 413 if value.isdigit() else 400)
                        return
                    break
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
