"""The web's live updates (``/events``): the SSE stream's lifecycle for a signed-in browser.

A user may hold ``sse_streams_per_user`` open streams over every replica (a lease per stream in
Redis, ``shared.streamcap``); each stream ends once its session is gone. The stream itself is
``shared.sse`` over the process's hub, the same as ``/api/events``.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from services.web.auth.deps import ReadUserDep, SessionStoreDep
from services.web.identity.sessions import session_id_from
from services.web.routes.deps import HubDep
from services.web.state import web_state
from shared.sse import sse_response

router = APIRouter()

# An open /events stream re-checks its session this often (logout must end it, not only refuse
# the next request).
SSE_SESSION_RECHECK_S = 15.0


async def _while_signed_in(
    frames: AsyncIterable[Any], still_signed_in: Callable[[], Awaitable[bool]]
) -> AsyncIterator[Any]:
    """Pass an event stream through, ending it once its session is gone (sign-out, timeout,
    revoked guest): checked before a frame goes out (a ping comes at least every 15 s), at most
    every ``SSE_SESSION_RECHECK_S``."""
    next_check = time.monotonic() + SSE_SESSION_RECHECK_S
    try:
        async for chunk in frames:
            if time.monotonic() >= next_check:
                if not await still_signed_in():
                    return
                next_check = time.monotonic() + SSE_SESSION_RECHECK_S
            yield chunk
    finally:
        aclose = getattr(frames, "aclose", None)
        if aclose is not None:
            await aclose()


@router.get("/events")
async def stream_events(
    request: Request, user: ReadUserDep, hub: HubDep, store: SessionStoreDep
) -> Response:
    """Live updates (queue_update, now_playing, player_position, airhorn) as SSE."""
    # Each open stream holds a socket and a frame queue: one account opening thousands must not
    # exhaust the replicas.
    state = web_state(request.app)
    lease = await state.stream_cap.acquire(
        state.redis, user.email, "Too many open live-update streams; close a tab"
    )
    session_id = session_id_from(request, store.settings)

    async def still_signed_in() -> bool:
        return await store.load(session_id, touch=False) is not None

    try:
        response = await sse_response(hub, request)
    except BaseException:
        await lease.release()
        raise
    checked = _while_signed_in(response.body_iterator, still_signed_in)
    response.body_iterator = lease.hold_while(checked)
    return response
