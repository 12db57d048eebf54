"""The error containment every FastAPI service wraps its app in."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

Responder = Callable[[Request, Exception], Awaitable[Response]]


def scope_header(scope: Scope, name: bytes) -> bytes | None:
    """The first value of header ``name`` (lower-case), read from the scope as it came: what
    Starlette's ``Headers`` would give, without building it for one header."""
    for key, value in scope["headers"]:
        if key == name:
            return value  # type: ignore[no-any-return]
    return None


class ContainErrors:
    """Answers any exception a request raises, and does not re-raise it.

    Starlette's outermost error layer sends its 500 and then re-raises, and uvicorn closes a
    connection whose response has started: the proxy in front (Caddy) may already have put that
    connection back in its pool, and the next POST on it fails with a bodyless 502. Answering here
    keeps the connection sound. An error after the response started (a stream that dies) still
    propagates: that connection must close, its response is incomplete.
    """

    def __init__(self, app: ASGIApp, respond: Responder) -> None:
        self.app = app
        self.respond = respond

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watch(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, watch)
        except Exception as exc:
            if started:
                raise
            response = await self.respond(Request(scope, receive), exc)
            await response(scope, receive, send)
