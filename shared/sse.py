"""Server-sent events at the service edge: the frames, keep-alives, resume and the response.

Both services' events routes (``/api/events``, the web's ``/events``) stream through this one
helper, so the wire format has one owner; the hub (``shared.eventhub``) encodes each event with
``frame`` once per process and knows nothing of HTTP. What each route adds around it (its caps,
the web's session re-check) stays in the route.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from starlette.requests import Request
from starlette.responses import StreamingResponse

from shared.eventhub import EventHub, QueueMode, StreamId, follow, parse_id

PING_INTERVAL_S = 15.0
RETRY = b"retry: 2000\n\n"  # the client's reconnect delay, sent first
PING = b": ping\n\n"  # a comment: keeps proxies from closing an idle stream


def frame(event_id: str | None, event_type: str, data: str) -> bytes:
    """One SSE message; ``data`` is JSON without newlines, but split defensively anyway."""
    lines = [f"id: {event_id}"] if event_id else []
    lines.append(f"event: {event_type}")
    lines.extend(f"data: {part}" for part in (data or "{}").split("\n"))
    return ("\n".join(lines) + "\n\n").encode("utf-8")


async def event_stream(
    hub: EventHub,
    request: Request,
    *,
    ping_interval_s: float = PING_INTERVAL_S,
    newest: StreamId | None = None,
    mode: QueueMode = "delta",
) -> AsyncIterator[bytes]:
    """The SSE byte stream for one client: snapshot or replay from ``Last-Event-ID``, then live
    frames, with a ``: ping`` after ``ping_interval_s`` without one."""
    resume = parse_id(request.headers.get("last-event-id", "").strip())
    if newest is None:
        newest = await hub.newest_id()
    frames = follow(hub, resume, newest=newest, idle_s=ping_interval_s, mode=mode)
    try:
        yield RETRY
        async for data in frames:
            yield PING if data is None else data
    finally:
        await frames.aclose()


async def sse_response(
    hub: EventHub,
    request: Request,
    *,
    ping_interval_s: float = PING_INTERVAL_S,
    mode: QueueMode = "delta",
) -> StreamingResponse:
    """A ``text/event-stream`` response any service can return from its events route.

    The stream's first Redis read happens here, before the response starts: with Redis down the
    client gets the service's 503 instead of a stream that opens and dies at once.
    """
    newest = await hub.newest_id()
    return StreamingResponse(
        event_stream(hub, request, ping_interval_s=ping_interval_s, newest=newest, mode=mode),
        media_type="text/event-stream",
        headers={
            "Cache-Control": "no-cache, no-store",
            "X-Accel-Buffering": "no",
            "Connection": "keep-alive",
        },
    )
