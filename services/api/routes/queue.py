"""Queue routes: read the queue and now playing, add, vote, jam, remove, clear, skip, pause."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from services.api.auth import ApiIdentity, identity_of
from services.api.body import json_body, read_model
from services.api.deps import (
    IdentityDep,
    RedisDep,
    RulesDep,
    SettingsDep,
    StateDep,
    caller_ip,
)
from services.api.errors import ApiError, error_docs
from services.api.moderation import api_actor
from services.api.routes import PREFIX
from services.api.routing import RequestOnlyRoute
from services.api.scopes import needs
from services.api.settings import ApiSettings
from services.api.state import api_state
from shared import ratelimit
from shared.adding import add_collection
from shared.audit import audited
from shared.bodies import CommentBody, IdBody, Moderated, UriBody, VoteBody
from shared.queue import control, moderation
from shared.queue import queue as domain
from shared.queue.errors import NothingPlaying
from shared.queue.history import DEFAULT_HISTORY_LIMIT, MAX_HISTORY_LIMIT, get_history
from shared.queue.models import NowPlaying, Play, QueueView
from shared.queue.queue import QueueRules
from shared.spotify.uris import parse_collection, parse_ref

router = APIRouter(prefix=PREFIX, tags=["queue"])

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


_ADMIN_ONLY = {403: "Needs the admin scope (a token listed in ANDRE_API_ADMIN_TOKENS)"}
_VOTES_OFF = {403: "Votes are off (ANDRE_MODERATION_SKIP_VOTES=0) and it is not this token's song"}
_PAUSE_POLICY = {403: "ANDRE_MODERATION_PAUSE=admins and the token is not an admin"}


def ok() -> Response:
    return Response(_OK, media_type=_JSON)


QUEUE_PAGE_MAX = 500


def _page_param(request: Request, name: str, low: int, high: int) -> int | None:
    raw = request.query_params.get(name)
    if raw is None:
        return None
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise ApiError(400, f"Invalid query parameter: {name} (a whole number, {low}..{high})")
    return int(raw)


async def list_queue(request: Request) -> Response:
    """The queue in play order and the Bender preview; `offset` and `limit` give one page of a
    long queue, with `total` (the queue's length)."""
    reader = api_state(request).reader
    if not request.scope["query_string"]:
        return Response(await reader.get_json(), media_type=_JSON)
    offset = _page_param(request, "offset", 0, 10**6)
    limit = _page_param(request, "limit", 1, QUEUE_PAGE_MAX)
    view = await reader.get_view()
    if offset is None and limit is None:
        return Response(view.text, media_type=_JSON)
    start = offset or 0
    page = view.items[start : start + (limit or QUEUE_PAGE_MAX)]
    body = ",".join([text for _, text in page])
    text = (
        f'{{"queue":[{body}],"preview":{view.preview or "null"},'
        f'"total":{len(view.items)},"offset":{start},"limit":{limit or QUEUE_PAGE_MAX}}}'
    )
    return Response(text, media_type=_JSON)


_PAGE_PARAMS = [
    {
        "name": "offset",
        "in": "query",
        "required": False,
        "description": "First song of the page (0 = the next to play); with it the answer has "
        "`total`, `offset` and `limit`",
        "schema": {"type": "integer", "minimum": 0, "maximum": 10**6},
    },
    {
        "name": "limit",
        "in": "query",
        "required": False,
        "description": f"Songs in the page (1..{QUEUE_PAGE_MAX}, default {QUEUE_PAGE_MAX})",
        "schema": {"type": "integer", "minimum": 1, "maximum": QUEUE_PAGE_MAX},
    },
]

# The route every client polls: see services.api.routing for why it takes the request only.
router.add_api_route(
    "/queue",
    list_queue,
    methods=["GET"],
    response_model=QueueView,
    openapi_extra={**needs("read"), "parameters": _PAGE_PARAMS},
    responses=error_docs({400: "offset or limit is not a whole number in range"}),
    route_class_override=RequestOnlyRoute,
)


@router.get("/playing", response_model=NowPlaying | dict[str, Any], openapi_extra=needs("read"))
async def show_playing(redis: RedisDep) -> Response:
    """The playing song with its position and server_time; {} when idle."""
    view = await control.get_now_playing(redis)
    return Response(b"{}" if view is None else view.model_dump_json(), media_type=_JSON)


@router.post(
    "/queue/add",
    status_code=201,
    response_model=Added,
    openapi_extra=needs("control", UriBody),
    responses=error_docs(
        {
            404: "Unknown Spotify track, episode, album or playlist",
            200: "Already queued: counted as an upvote or a jam (outcome, message)",
            409: "The queue is full, its id counter is damaged, or the song is playing",
            502: "Spotify upstream error",
        }
    ),
)
async def add_track(
    body: Annotated[UriBody, json_body(UriBody)],
    request: Request,
    identity: IdentityDep,
    state: StateDep,
) -> JSONResponse:
    """Queue a Spotify track or episode, or an album's or playlist's tracks (each counted as
    one add), by URI or open.spotify.com link, as the token's identity."""
    redis = state.redis
    many = parse_collection(body.uri)
    if many is not None:
        with audited(
            request, identity.email, "queue.add", client_ip=caller_ip(request), uri=many.uri
        ) as details:
            batch = await add_collection(
                redis, state.catalog, many, identity.email, state.add_limit, rules=state.rules
            )
            details.update(batch.audit())
        return JSONResponse(batch.answer(), status_code=201)
    ref = parse_ref(body.uri)
    if ref is None:
        raise ApiError(400, "Invalid field: uri")
    with audited(
        request, identity.email, "queue.add", client_ip=caller_ip(request), uri=ref.uri
    ) as details:
        await ratelimit.hit(redis, state.add_limit, identity.email)
        track = await state.catalog.lookup(ref.uri)
        added = await domain.add_or_vote(redis, track, identity.email, rules=state.rules)
        details["item_id"] = added.item_id
        details["add_result"] = added.outcome
    if added.outcome == "added":
        return JSONResponse({"ok": True, "id": added.item_id}, status_code=201)
    # Already queued: this add counted as an upvote or a jam (issue 14).
    answer = {"ok": True, "id": added.item_id, "outcome": added.outcome, "message": added.message}
    return JSONResponse(answer, status_code=200)


async def vote_track(request: Request) -> Response:
    """Vote a song up (default) or down by one slot; one vote per identity per song."""
    body = await read_model(request, VoteBody)
    state = api_state(request)
    email = identity_of(request.scope).email
    item_id, up = body.id, body.up
    with audited(
        request, email, "queue.vote", client_ip=caller_ip(request), item_id=item_id, up=up
    ):
        await domain.vote(state.redis, item_id, email, up, rules=state.rules)
    return ok()


# Votes are the busiest write: like the queue read, the endpoint takes the request alone (the same
# body model and errors as json_body, the identity BearerAuth found, the app's state).
router.add_api_route(
    "/queue/vote",
    vote_track,
    methods=["POST"],
    response_model=Ok,
    openapi_extra=needs("control", VoteBody),
    responses=error_docs(
        {**_NO_ITEM, 409: f"Already voted, an upvote of one's own song, or {_DAMAGED}"}
    ),
    route_class_override=RequestOnlyRoute,
)


@router.post(
    "/queue/comment",
    response_model=Ok,
    openapi_extra=needs("control", CommentBody),
    responses=error_docs({**_NO_ITEM, 400: "Empty or too long comment"}),
)
async def comment_track(
    body: Annotated[CommentBody, json_body(CommentBody)],
    request: Request,
    redis: RedisDep,
    identity: IdentityDep,
    rules: RulesDep,
) -> Response:
    """Comment on a queued or the playing song as the token's identity."""
    with audited(
        request, identity.email, "queue.comment", client_ip=caller_ip(request), item_id=body.id
    ):
        await domain.add_comment(redis, body.id, identity.email, body.text, rules=rules)
    return ok()


@router.post(
    "/queue/jam",
    response_model=Jammed,
    openapi_extra=needs("control", IdBody),
    responses=error_docs({**_NO_ITEM, 409: _DAMAGED.capitalize()}),
)
async def jam_track(
    body: Annotated[IdBody, json_body(IdBody)],
    request: Request,
    redis: RedisDep,
    identity: IdentityDep,
    rules: RulesDep,
) -> JSONResponse:
    """Toggle the identity's jam on a queued or the playing song."""
    item_id = body.id
    with audited(
        request, identity.email, "queue.jam", client_ip=caller_ip(request), item_id=item_id
    ) as details:
        jammed = await domain.toggle_jam(redis, item_id, identity.email, rules=rules)
        details["jammed"] = jammed
    return JSONResponse({"ok": True, "jammed": jammed})


@router.post(
    "/queue/remove",
    response_model=Moderated,
    openapi_extra=needs("control", IdBody),
    responses=error_docs(_NO_ITEM),
)
async def remove_track(
    body: Annotated[IdBody, json_body(IdBody)],
    request: Request,
    redis: RedisDep,
    identity: IdentityDep,
    rules: RulesDep,
    settings: SettingsDep,
) -> Moderated:
    """Remove the token's own song at once; anyone else's takes enough votes (this one counts)
    unless the token is listed in ANDRE_API_ADMIN_TOKENS. ``done`` says whether it went."""
    item_id = body.id
    with audited(
        request, identity.email, "queue.remove", client_ip=caller_ip(request), item_id=item_id
    ) as details:
        outcome = await moderation.remove(
            redis, api_actor(identity, settings), item_id, rules=rules
        )
        details["how"] = outcome.how
    return Moderated.of(outcome)


@router.post(
    "/queue/clear",
    response_model=Ok,
    responses=error_docs(_ADMIN_ONLY),
    openapi_extra=needs("admin"),
)
async def clear_queue(
    request: Request,
    redis: RedisDep,
    identity: IdentityDep,
    rules: RulesDep,
    settings: SettingsDep,
) -> Response:
    """Remove every queued song (the playing song plays on); tokens in ANDRE_API_ADMIN_TOKENS."""
    with audited(request, identity.email, "queue.clear", client_ip=caller_ip(request)) as details:
        details["removed"] = await moderation.clear(
            redis, api_actor(identity, settings), rules=rules
        )
    return ok()


@router.post(
    "/queue/skip",
    response_model=Moderated,
    responses=error_docs(_VOTES_OFF),
    openapi_extra=needs("control"),
)
async def skip_track(
    request: Request,
    redis: RedisDep,
    identity: IdentityDep,
    rules: RulesDep,
    settings: SettingsDep,
) -> Moderated:
    """End the token's own playing song; anyone else's takes enough votes (this one counts)
    unless the token is listed in ANDRE_API_ADMIN_TOKENS. No-op when idle (``done`` false)."""
    with audited(request, identity.email, "queue.skip", client_ip=caller_ip(request)) as details:
        try:
            outcome = await moderation.skip(redis, api_actor(identity, settings), rules=rules)
        except NothingPlaying:
            outcome = moderation.Outcome(False, "idle")
        details["how"] = outcome.how
    return Moderated.of(outcome)


async def _set_paused(
    request: Request,
    redis: RedisDep,
    identity: ApiIdentity,
    rules: QueueRules,
    settings: ApiSettings,
    paused: bool,
) -> Response:
    with audited(
        request,
        identity.email,
        "queue.pause" if paused else "queue.resume",
        client_ip=caller_ip(request),
    ) as details:
        details["changed"] = await moderation.set_paused(
            redis, api_actor(identity, settings), paused, rules=rules
        )
    return ok()


@router.post(
    "/queue/pause",
    response_model=Ok,
    responses=error_docs(_PAUSE_POLICY),
    openapi_extra=needs("control"),
)
async def pause_playback(
    request: Request,
    redis: RedisDep,
    identity: IdentityDep,
    rules: RulesDep,
    settings: SettingsDep,
) -> Response:
    """Pause the shared clock (idempotent; no-op when idle; ANDRE_MODERATION_PAUSE applies)."""
    return await _set_paused(request, redis, identity, rules, settings, True)


@router.post(
    "/queue/resume",
    response_model=Ok,
    responses=error_docs(_PAUSE_POLICY),
    openapi_extra=needs("control"),
)
async def resume_playback(
    request: Request,
    redis: RedisDep,
    identity: IdentityDep,
    rules: RulesDep,
    settings: SettingsDep,
) -> Response:
    """Resume the shared clock (idempotent; no-op when idle; ANDRE_MODERATION_PAUSE applies)."""
    return await _set_paused(request, redis, identity, rules, settings, False)


@router.get("/history", response_model=History, openapi_extra=needs("read"))
async def list_history(
    redis: RedisDep,
    limit: Annotated[int, Query(ge=1, le=MAX_HISTORY_LIMIT)] = DEFAULT_HISTORY_LIMIT,
    user: Annotated[
        str | None, Query(max_length=254, description="Only the plays this person queued")
    ] = None,
    jammed: Annotated[
        bool, Query(description="With user: the plays that person jammed instead")
    ] = False,
) -> Response:
    """Finished plays, newest first; ``user`` keeps one person's (or, with ``jammed``, the ones
    they jammed) among the newest MAX_HISTORY_LIMIT plays."""
    if jammed and not user:
        raise ApiError(400, "jammed needs user")
    if user is None:
        plays = await get_history(redis, limit)
    else:
        who = user.strip().lower()
        kept = await get_history(redis, MAX_HISTORY_LIMIT)
        plays = [p for p in kept if (who in p.jams if jammed else p.user.lower() == who)][:limit]
    return Response(_plays_json(plays), media_type=_JSON)


@router.get("/last", response_model=Play | dict[str, Any], openapi_extra=needs("read"))
async def show_last_played(redis: RedisDep) -> Response:
    """The play that finished last; {} when nothing has played yet."""
    plays = await get_history(redis, 1)
    return Response(plays[0].model_dump_json() if plays else b"{}", media_type=_JSON)


def _plays_json(plays: list[Play]) -> str:
    return '{"plays":[' + ",".join(p.model_dump_json() for p in plays) + "]}"
