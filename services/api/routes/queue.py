"""Queue routes: read the queue and now playing, add, vote, jam, remove, clear, skip, pause."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from services.api.auth import IdentityDep
from services.api.body import (
    MAX_URI_LEN,
    AddBody,
    IdBody,
    VoteBody,
    documented,
    optional_bool,
    read_object,
    required_str,
)
from services.api.deps import CatalogDep, QueueReaderDep, RulesDep, audited
from services.api.errors import ApiError, error_docs
from shared import ratelimit
from shared.asgi import RedisDep
from shared.queue import control
from shared.queue import queue as domain
from shared.queue.history import DEFAULT_HISTORY_LIMIT, MAX_HISTORY_LIMIT, get_history
from shared.queue.models import NowPlaying, Play, QueueView
from shared.spotify.uris import parse_ref

router = APIRouter(tags=["queue"])

_JSON = "application/json"
_OK = b'{"ok":true}'
_NO_ITEM = {404: "No such song in the queue"}
_DAMAGED = "the song's stored record is damaged (nothing was recorded)"


class Ok(BaseModel):
    ok: bool = True


class Added(BaseModel):
    ok: bool = True
    id: str


class Jammed(BaseModel):
    ok: bool = True
    jammed: bool


class History(BaseModel):
    plays: list[Play]


def ok() -> Response:
    return Response(_OK, media_type=_JSON)


@router.get("/queue", response_model=QueueView)
async def list_queue(reader: QueueReaderDep) -> Response:
    """The queue in play order and the Bender preview."""
    return Response(await reader.get_json(), media_type=_JSON)


@router.get("/playing", response_model=NowPlaying | dict[str, Any])
async def show_playing(redis: RedisDep) -> Response:
    """The playing song with its position and server_time; {} when idle."""
    view = await control.get_now_playing(redis)
    return Response(b"{}" if view is None else view.model_dump_json(), media_type=_JSON)


@router.post(
    "/queue/add",
    status_code=201,
    response_model=Added,
    openapi_extra=documented(AddBody),
    responses=error_docs(
        {
            404: "Unknown Spotify track or episode",
            409: "The queue is full, or its id counter is damaged",
            502: "Spotify upstream error",
        }
    ),
)
async def add_track(
    request: Request, redis: RedisDep, identity: IdentityDep, catalog: CatalogDep, rules: RulesDep
) -> JSONResponse:
    """Queue a Spotify track or episode (URI or open.spotify.com link) as the token's identity."""
    data = await read_object(request)
    ref = parse_ref(required_str(data, "uri", max_len=MAX_URI_LEN))
    if ref is None:
        raise ApiError(400, "Invalid field: uri")
    with audited(request, identity, "queue.add", uri=ref.uri) as details:
        await ratelimit.hit(redis, request.app.state.add_limit, identity.email)
        track = await catalog.lookup(ref.uri)
        item = await domain.add_item(redis, track, identity.email, rules=rules)
        details["item_id"] = item.id
    return JSONResponse({"ok": True, "id": item.id}, status_code=201)


@router.post(
    "/queue/vote",
    response_model=Ok,
    openapi_extra=documented(VoteBody),
    responses=error_docs(
        {**_NO_ITEM, 409: f"Already voted, an upvote of one's own song, or {_DAMAGED}"}
    ),
)
async def vote_track(
    request: Request, redis: RedisDep, identity: IdentityDep, rules: RulesDep
) -> Response:
    """Vote a song up (default) or down by one slot; one vote per identity per song."""
    data = await read_object(request)
    item_id = required_str(data, "id")
    up = optional_bool(data, "up", True)
    with audited(request, identity, "queue.vote", item_id=item_id, up=up):
        await domain.vote(redis, item_id, identity.email, up, rules=rules)
    return ok()


@router.post(
    "/queue/jam",
    response_model=Jammed,
    openapi_extra=documented(IdBody),
    responses=error_docs({**_NO_ITEM, 409: _DAMAGED.capitalize()}),
)
async def jam_track(
    request: Request, redis: RedisDep, identity: IdentityDep, rules: RulesDep
) -> JSONResponse:
    """Toggle the identity's jam on a queued or the playing song."""
    data = await read_object(request)
    item_id = required_str(data, "id")
    with audited(request, identity, "queue.jam", item_id=item_id) as details:
        jammed = await domain.toggle_jam(redis, item_id, identity.email, rules=rules)
        details["jammed"] = jammed
    return JSONResponse({"ok": True, "jammed": jammed})


@router.post(
    "/queue/remove",
    response_model=Ok,
    openapi_extra=documented(IdBody),
    responses=error_docs(_NO_ITEM),
)
async def remove_track(
    request: Request, redis: RedisDep, identity: IdentityDep, rules: RulesDep
) -> Response:
    """Remove a song from the queue."""
    data = await read_object(request)
    item_id = required_str(data, "id")
    with audited(request, identity, "queue.remove", item_id=item_id):
        await domain.remove_item(redis, item_id, rules=rules)
    return ok()


@router.post("/queue/clear", response_model=Ok)
async def clear_queue(
    request: Request, redis: RedisDep, identity: IdentityDep, rules: RulesDep
) -> Response:
    """Remove every queued song (the playing song plays on)."""
    with audited(request, identity, "queue.clear") as details:
        details["removed"] = await domain.clear_queue(redis, rules=rules)
    return ok()


@router.post("/queue/skip", response_model=Ok)
async def skip_track(
    request: Request, redis: RedisDep, identity: IdentityDep, rules: RulesDep
) -> Response:
    """Ask the player to end the playing song (no-op when idle)."""
    with audited(request, identity, "queue.skip") as details:
        details["changed"] = await control.request_skip(redis, rules=rules)
    return ok()


@router.post("/queue/pause", response_model=Ok)
async def pause_playback(
    request: Request, redis: RedisDep, identity: IdentityDep, rules: RulesDep
) -> Response:
    """Pause the shared clock (idempotent; no-op when idle)."""
    with audited(request, identity, "queue.pause") as details:
        details["changed"] = await control.pause(redis, rules=rules)
    return ok()


@router.post("/queue/resume", response_model=Ok)
async def resume_playback(
    request: Request, redis: RedisDep, identity: IdentityDep, rules: RulesDep
) -> Response:
    """Resume the shared clock (idempotent; no-op when idle)."""
    with audited(request, identity, "queue.resume") as details:
        details["changed"] = await control.resume(redis, rules=rules)
    return ok()


@router.get("/history", response_model=History)
async def list_history(
    redis: RedisDep,
    limit: Annotated[int, Query(ge=1, le=MAX_HISTORY_LIMIT)] = DEFAULT_HISTORY_LIMIT,
) -> Response:
    """Finished plays, newest first."""
    plays = await get_history(redis, limit)
    body = '{"plays":[' + ",".join(p.model_dump_json() for p in plays) + "]}"
    return Response(body, media_type=_JSON)
