"""Server-sent events: queue, now playing, positions and airhorns, resumable by Last-Event-ID."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse

from services.api.deps import IdentityDep, StateDep
from services.api.errors import error_docs
from services.api.routes import PREFIX
from services.api.scopes import needs
from shared.eventhub import QueueMode
from shared.sse import sse_response

router = APIRouter(prefix=PREFIX, tags=["events"])


@router.get(
    "/events",
    response_class=StreamingResponse,
    responses={
        200: {"content": {"text/event-stream": {}}},
        **error_docs({429: "Too many open streams for this token"}),
    },
    openapi_extra=needs("read"),
)
async def stream_events(
    request: Request,
    state: StateDep,
    identity: IdentityDep,
    queue: Annotated[
        QueueMode,
        Query(
            description=(
                "How queue changes arrive: `full` (default) sends the whole queue as "
                "`queue_update` on every change; `delta` sends it once, then a small "
                "`queue_delta` per change (docs/contracts.md, Events)"
            )
        ),
    ] = "full",
) -> StreamingResponse:
    """The event stream (text/event-stream); send Last-Event-ID to resume."""
    # Each open stream holds a socket and a frame queue: one token opening hundreds must not
    # exhaust the replicas (the web caps its users the same way, ANDRE_SSE_STREAMS_PER_USER). The
    # count is a lease per stream in Redis (shared.streamcap), so it holds across replicas.
    lease = await state.stream_cap.acquire(
        state.redis, identity.email, "Too many open event streams for this token; close some"
    )
    try:
        response = await sse_response(state.hub, request, mode=queue)
    except BaseException:
        await lease.release()
        raise
    response.body_iterator = lease.hold_while(response.body_iterator)
    return response
