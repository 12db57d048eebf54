"""A fast path for ``GET /api/queue``, the route every bot and dashboard polls.

FastAPI's routing and dependency solving cost more than the queue read itself, so an
authenticated ``GET /api/queue`` (no query string) is answered here, before FastAPI, with the same
token check (``AuthGuard.quick_identity``) and the same coalesced read the route uses. Anything
else, including every request whose token is not plainly valid, goes to FastAPI unchanged, where
the token dependency answers 401/403/429/503 and audits. The FastAPI route stays as the
documented definition (OpenAPI) and serves ``GET /api/queue?...``.
"""

from __future__ import annotations

from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Receive, Scope, Send

from services.api.auth import AuthGuard
from shared.queue.queue import QueueReader

PATH = "/api/queue"


class QueueFastPath:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["method"] == "GET"
            and scope["path"] == PATH
            and not scope["query_string"]
        ):
            state = scope["app"].state
            reader: QueueReader | None = getattr(state, "queue_reader", None)
            guard: AuthGuard = state.guard
            if reader is not None and guard.quick_identity(HTTPConnection(scope)) is not None:
                body = (await reader.get_json()).encode("utf-8")
                await send(
                    {
                        "type": "http.response.start",
                        "status": 200,
                        "headers": [
                            (b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode()),
                        ],
                    }
                )
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)
