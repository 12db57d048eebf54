"""Server-sent events: queue, now playing, positions and airhorns, resumable by Last-Event-ID."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse

from services.api.deps import HubDep
from shared.events import sse_response

router = APIRouter(tags=["events"])


@router.get(
    "/events",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def stream_events(request: Request, hub: HubDep) -> StreamingResponse:
    """The event stream (text/event-stream); send Last-Event-ID to resume."""
    return await sse_response(hub, request)
