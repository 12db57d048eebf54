"""The room's shared controls beyond the queue: clearing it (admins) and the activity log."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from services.web.auth.deps import ActionUserDep, ReadUserDep, request_ip
from services.web.routes.actions import Ok, web_actor
from services.web.routes.deps import RulesDep
from services.web.state import LimitsDep, RedisDep
from shared import ratelimit as rl
from shared.audit import audited
from shared.queue import airhorns, moderation

router = APIRouter()

ACTIVITY_MAX = 100


class Cleared(Ok):
    removed: int


@router.post("/queue/clear")
async def clear_queue(
    request: Request, user: ActionUserDep, redis: RedisDep, limits: LimitsDep, rules: RulesDep
) -> Cleared:
    """Empty the queue (admins only; the page asks first; the playing song plays on)."""
    with audited(request, user.email, "clear", client_ip=request_ip(request)) as details:
        await rl.hit(redis, limits.action, user.email)
        details["removed"] = removed = await moderation.clear(redis, web_actor(user), rules=rules)
    return Cleared(removed=removed)


@router.get("/activity")
async def list_activity(
    user: ReadUserDep,
    redis: RedisDep,
    limit: Annotated[int, Query(ge=1, le=ACTIVITY_MAX)] = 50,
) -> JSONResponse:
    """Skips, removals, clears and pauses (newest first) and the recent airhorns (newest first)."""
    actions = await moderation.room_log(redis, limit)
    horns = list(reversed(await airhorns.recent_airhorns(redis)))[:limit]
    return JSONResponse({"actions": actions, "airhorns": horns})
