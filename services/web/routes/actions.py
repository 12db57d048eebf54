"""Browser JSON actions: session + CSRF + same origin; identity from the session only.

Bodies are the strict models of ``shared.bodies`` (a ``"true"`` string is not a boolean); unknown
fields, such as an ``email`` or ``user`` someone adds to impersonate another person, are ignored.
Domain and Spotify errors propagate to ``services.web.errors``, which maps them to JSON statuses.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel

from services.web.auth.deps import (
    ActionUserDep,
    ReadUserDep,
    SessionUser,
    request_ip,
)
from services.web.errors import BadRequest, WebError
from services.web.routes.deps import CatalogDep, ReaderDep, RulesDep
from services.web.state import LimitsDep, RedisDep
from shared import ratelimit as rl
from shared.adding import add_collection
from shared.audit import audited
from shared.bodies import AirhornBody, CommentBody, IdBody, Moderated, UriBody, VoteBody
from shared.queue import airhorns, control, history, moderation, preview
from shared.queue import queue as q
from shared.spotify.catalog import MAX_QUERY_LEN
from shared.spotify.uris import parse_collection, parse_ref

router = APIRouter()

# Per-user limits of the browser UI (issue 5) are services.web.limits.WebLimits, from settings.
SEARCH_RESULTS = 20


class Ok(BaseModel):
    ok: bool = True


class Added(Ok):
    id: str


class Jammed(Ok):
    jammed: bool


class FreeHorns(Ok):
    free_left: int


def web_actor(user: SessionUser) -> moderation.Actor:
    """The moderation identity of a browser session (admin and guest come from the session)."""
    return moderation.Actor(user.email, is_admin=user.is_admin, is_guest=user.is_guest)


def _track_ref(uri: str) -> str:
    ref = parse_ref(uri)
    if ref is None:
        raise BadRequest(
            "Not a Spotify track or episode (spotify:track:… or an open.spotify.com link)"
        )
    return ref.uri


@router.get("/queue")
async def list_queue(user: ReadUserDep, reader: ReaderDep) -> Response:
    """The queue in play order and the Bender preview (reads coalesced per process, each one
    started after the request arrived: a change the user just made is in it)."""
    return Response(await reader.get_json(), media_type="application/json")


@router.get("/playing")
async def get_playing(user: ReadUserDep, redis: RedisDep) -> JSONResponse:
    """The playing song with its position and server time; {} when idle."""
    now = await control.get_now_playing(redis)
    return JSONResponse(now.model_dump(mode="json") if now is not None else {})


@router.post("/queue/add", status_code=201)
async def add_track(
    body: UriBody,
    request: Request,
    user: ActionUserDep,
    redis: RedisDep,
    limits: LimitsDep,
    catalog: CatalogDep,
    rules: RulesDep,
) -> JSONResponse:
    """Queue a track or episode (URI or open.spotify.com link) as the signed-in user; a song
    already queued is upvoted (or jammed) instead: 200 with ``outcome`` and ``message``. An album
    or playlist queues its tracks, each counted as one add: 201 with ``added``, ``ids``..."""
    many = parse_collection(body.uri)
    if many is not None:
        with audited(
            request, user.email, "add", client_ip=request_ip(request), uri=many.uri
        ) as details:
            batch = await add_collection(redis, catalog, many, user.email, limits.add, rules=rules)
            details.update(batch.audit())
        return JSONResponse(batch.answer(), status_code=201)
    uri = _track_ref(body.uri)
    with audited(request, user.email, "add", client_ip=request_ip(request), uri=uri) as details:
        await rl.hit(redis, limits.add, user.email)
        track = await catalog.lookup(uri)
        added = await q.add_or_vote(redis, track, user.email, rules=rules)
        details["add_result"] = added.outcome
    body_out = {"ok": True, "id": added.item_id, "outcome": added.outcome, "message": added.message}
    return JSONResponse(body_out, status_code=201 if added.outcome == "added" else 200)


@router.post("/queue/vote")
async def vote_item(
    body: VoteBody,
    request: Request,
    user: ActionUserDep,
    redis: RedisDep,
    limits: LimitsDep,
    rules: RulesDep,
) -> Ok:
    """Vote a queued song up or down; it moves one place."""
    with audited(
        request, user.email, "vote", client_ip=request_ip(request), item_id=body.id, up=body.up
    ):
        await rl.hit(redis, limits.action, user.email)
        await q.vote(redis, body.id, user.email, body.up, rules=rules)
    return Ok()


@router.post("/queue/jam")
async def jam_item(
    body: IdBody,
    request: Request,
    user: ActionUserDep,
    redis: RedisDep,
    limits: LimitsDep,
    rules: RulesDep,
) -> Jammed:
    """Jam (or un-jam) a queued or the playing song."""
    with audited(
        request, user.email, "jam", client_ip=request_ip(request), item_id=body.id
    ) as details:
        await rl.hit(redis, limits.action, user.email)
        jammed = await q.toggle_jam(redis, body.id, user.email, rules=rules)
        details["jammed"] = jammed
    return Jammed(jammed=jammed)


@router.post("/queue/remove")
async def remove_item(
    body: IdBody,
    request: Request,
    user: ActionUserDep,
    redis: RedisDep,
    limits: LimitsDep,
    rules: RulesDep,
) -> Moderated:
    """Remove your own song; someone else's takes an admin or enough votes (yours counts)."""
    with audited(
        request, user.email, "remove", client_ip=request_ip(request), item_id=body.id
    ) as details:
        await rl.hit(redis, limits.action, user.email)
        outcome = await moderation.remove(redis, web_actor(user), body.id, rules=rules)
        details["how"] = outcome.how
    return Moderated.of(outcome)


@router.post("/queue/comment")
async def comment_item(
    body: CommentBody,
    request: Request,
    user: ActionUserDep,
    redis: RedisDep,
    limits: LimitsDep,
    rules: RulesDep,
) -> Ok:
    """Comment on a queued or the playing song as the signed-in user."""
    with audited(request, user.email, "comment", client_ip=request_ip(request), item_id=body.id):
        await rl.hit(redis, limits.comment, user.email)
        await q.add_comment(redis, body.id, user.email, body.text, rules=rules)
    return Ok()


@router.post("/queue/skip")
async def skip_song(
    request: Request, user: ActionUserDep, redis: RedisDep, limits: LimitsDep, rules: RulesDep
) -> Moderated:
    """Skip your own song; someone else's takes an admin or enough votes (yours counts)."""
    with audited(request, user.email, "skip", client_ip=request_ip(request)) as details:
        await rl.hit(redis, limits.action, user.email)
        outcome = await moderation.skip(redis, web_actor(user), rules=rules)
        details["how"] = outcome.how
    return Moderated.of(outcome)


@router.post("/queue/pause")
async def pause_playback(
    request: Request, user: ActionUserDep, redis: RedisDep, limits: LimitsDep, rules: RulesDep
) -> Ok:
    """Pause the shared playback clock (who may: setting ``moderation_pause``)."""
    with audited(request, user.email, "pause", client_ip=request_ip(request)):
        await rl.hit(redis, limits.action, user.email)
        await moderation.set_paused(redis, web_actor(user), True, rules=rules)
    return Ok()


@router.post("/queue/resume")
async def resume_playback(
    request: Request, user: ActionUserDep, redis: RedisDep, limits: LimitsDep, rules: RulesDep
) -> Ok:
    """Resume the shared playback clock (who may: setting ``moderation_pause``)."""
    with audited(request, user.email, "resume", client_ip=request_ip(request)):
        await rl.hit(redis, limits.action, user.email)
        await moderation.set_paused(redis, web_actor(user), False, rules=rules)
    return Ok()


@router.post("/airhorn")
async def blow_airhorn(
    body: AirhornBody,
    request: Request,
    user: ActionUserDep,
    redis: RedisDep,
    limits: LimitsDep,
    rules: RulesDep,
) -> Ok:
    """Blow a named airhorn at the playing song."""
    name = airhorns.check_name(body.name)
    with audited(
        request, user.email, "airhorn", client_ip=request_ip(request), horn=name, free=False
    ):
        await rl.hit(redis, limits.airhorn, user.email)
        await airhorns.blast_airhorn(redis, user.email, name, rules=rules)
    return Ok()


@router.post("/airhorn/free")
async def blow_free_airhorn(
    request: Request, user: ActionUserDep, redis: RedisDep, limits: LimitsDep, rules: RulesDep
) -> FreeHorns:
    """Spend one free airhorn credit (earned when others jam your songs)."""
    with audited(
        request,
        user.email,
        "airhorn",
        client_ip=request_ip(request),
        horn=airhorns.DEFAULT_AIRHORN,
        free=True,
    ):
        await rl.hit(redis, limits.airhorn, user.email)
        await airhorns.blast_free_airhorn(redis, user.email, rules=rules)
    return FreeHorns(free_left=await airhorns.get_free_airhorns(redis, user.email))


@router.post("/bender/queue")
async def queue_preview(
    body: UriBody,
    request: Request,
    user: ActionUserDep,
    redis: RedisDep,
    limits: LimitsDep,
    rules: RulesDep,
) -> Added:
    """Queue Bender's current suggestion as the signed-in user."""
    uri = _track_ref(body.uri)
    with audited(
        request, user.email, "add", client_ip=request_ip(request), uri=uri, source="bender"
    ):
        await rl.hit(redis, limits.add, user.email)
        added = await preview.promote_preview(redis, uri, user.email, rules=rules)
        if added is None:
            raise WebError("That suggestion is no longer available", status_code=409)
    return Added(id=added.id)


@router.post("/bender/filter")
async def filter_preview(
    body: UriBody,
    request: Request,
    user: ActionUserDep,
    redis: RedisDep,
    limits: LimitsDep,
    rules: RulesDep,
) -> Ok:
    """Reject Bender's current suggestion; it is not suggested again for a week."""
    uri = _track_ref(body.uri)
    with audited(request, user.email, "bender.filter", client_ip=request_ip(request), uri=uri):
        await rl.hit(redis, limits.filter, user.email)
        await preview.filter_preview(redis, uri, rules=rules)
    return Ok()


@router.get("/search")
async def search_tracks(
    user: ReadUserDep,
    redis: RedisDep,
    limits: LimitsDep,
    catalog: CatalogDep,
    q_: Annotated[str, Query(alias="q", max_length=MAX_QUERY_LEN)] = "",
) -> JSONResponse:
    """Free-text search, or the one track a spotify: URI / open.spotify.com link names."""
    text = q_.strip()
    if not text:
        raise BadRequest("Missing required field: q")
    await rl.hit(redis, limits.search, user.email)
    ref = parse_ref(text)
    tracks = [await catalog.lookup(ref.uri)] if ref else await catalog.search(text, SEARCH_RESULTS)
    results = [
        {
            "uri": t.uri,
            "title": t.title,
            "artist": t.artist,
            "album": t.album,
            "duration_ms": t.duration_ms,
            "img": t.img,
        }
        for t in tracks
    ]
    return JSONResponse({"results": results})


@router.get("/history")
async def list_history(
    user: ReadUserDep,
    redis: RedisDep,
    limit: Annotated[
        int, Query(ge=1, le=history.MAX_HISTORY_LIMIT)
    ] = history.DEFAULT_HISTORY_LIMIT,
) -> JSONResponse:
    """What played recently, newest first."""
    plays = await history.get_history(redis, limit)
    return JSONResponse({"plays": [p.model_dump(mode="json") for p in plays]})
