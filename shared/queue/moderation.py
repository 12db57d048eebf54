"""Moderation: who may skip, remove, pause and clear, announced in the room and recorded.

One owner for these rules (issue 14), used by the web and the REST API alike:

- a song's queuer and admins skip or remove it at once;
- anyone else casts a vote; ``skip_votes`` / ``remove_votes`` distinct people act for the room
  (0: only the queuer and admins may); a vote counts for ``vote_ttl_s``;
- pause and resume follow ``pause_policy``: ``anyone``, ``members`` (not guests) or ``admins``;
- clearing the queue takes an admin.

Every skip, removal, clear, pause and resume is recorded in ``andre:room:log`` (the history
page's "Room activity") and announced with a ``room`` event; votes are announced too. Routes
write the audit line. Who counts as an admin is the caller's business: the web asks the session,
the API asks ``services.api.moderation.api_actor``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

from redis.asyncio import Redis

from shared import keys
from shared.queue import control, records, scripts
from shared.queue import queue as q
from shared.queue.errors import DomainError, ItemNotFound, NotAllowed, NothingPlaying
from shared.queue.now_playing import announce
from shared.queue.queue import DEFAULT_RULES, QueueRules

# A concurrent song change between reading the playing song and voting on it: look again.
_SKIP_ATTEMPTS = 3

How = Literal["own", "admin", "vote", "pending", "voted", "already", "idle"]


@dataclass(frozen=True)
class Actor:
    """Who asks: the identity (an e-mail, or ``name@api``) and what the caller vouches for."""

    identity: str
    is_admin: bool = False
    is_guest: bool = False

    @property
    def who(self) -> str:
        who = self.identity.strip().lower()
        if not who:
            raise NotAllowed("No identity")
        return who


@dataclass(frozen=True)
class Outcome:
    """``done``: the song was skipped / removed (``how``: own, admin, vote; ``pending``: a skip
    was already on its way); else the actor's
    vote was counted (``voted``) or had been already (``already``): ``votes`` of ``needed``."""

    done: bool
    how: How
    votes: int = 0
    needed: int = 0

    def as_json(self) -> dict[str, Any]:
        return {
            "ok": True,
            "done": self.done,
            "how": self.how,
            "votes": self.votes,
            "needed": self.needed,
        }


def _outcome(result: list[Any]) -> Outcome:
    status = str(result[0])
    if status == "ok":
        done: dict[str, How] = {"admin": "admin", "own": "own", "pending": "pending"}
        return Outcome(True, done.get(str(result[1]), "vote"))
    if status in ("voted", "already"):
        return Outcome(
            False, "voted" if status == "voted" else "already", int(result[1]), int(result[2])
        )
    if status == "forbidden":
        raise NotAllowed("Only the person who queued this song or an admin can do that")
    if status == "not_found":
        raise ItemNotFound("No such song in the queue")
    if status == "idle":
        raise NothingPlaying("Nothing is playing")
    raise DomainError(f"Unexpected moderation state: {status}")


async def skip(redis: Redis, actor: Actor, *, rules: QueueRules = DEFAULT_RULES) -> Outcome:
    """Skip the playing song, or count the actor's vote to skip it."""
    who = actor.who
    for _ in range(_SKIP_ATTEMPTS):
        playing = await control.get_now_playing(redis)
        if playing is None:
            raise NothingPlaying("Nothing is playing")
        reply = await scripts.MOD_SKIP(
            redis,
            [
                keys.NOW_PLAYING,
                keys.SKIP,
                keys.PLAYER_WAKE,
                keys.EVENTS,
                keys.item_skip_votes(playing.id),
                keys.ROOM_LOG,
            ],
            [
                playing.id,
                who,
                "1" if actor.is_admin else "0",
                rules.skip_votes,
                rules.vote_ttl_s,
                rules.events_max_len,
                rules.room_log_kept,
                rules.skip_ttl_s,
            ],
            raw=True,
        )
        result = [bytes(part).decode("utf-8", "replace") for part in reply]
        if result[0] == "ok" and len(result) > 2:
            # Skipped: the playing song's view says so (the record as stored, raw bytes).
            await announce(redis, reply[2], int(result[3]), rules.events_max_len)
        if result[0] != "changed":
            return _outcome(result)
    raise NothingPlaying("The song changed; look again")


async def remove(
    redis: Redis, actor: Actor, item_id: str, *, rules: QueueRules = DEFAULT_RULES
) -> Outcome:
    """Remove a queued song, or count the actor's vote to remove it."""
    item_id = q.check_id(item_id)
    result = await scripts.MOD_REMOVE(
        redis,
        [
            keys.QUEUE,
            keys.QUEUE_OWNERS,
            keys.EVENTS,
            keys.item_remove_votes(item_id),
            keys.ROOM_LOG,
            keys.item(item_id),
            keys.item_votes(item_id),
            keys.QUEUE_URIS,
        ],
        [
            item_id,
            actor.who,
            "1" if actor.is_admin else "0",
            rules.remove_votes,
            rules.vote_ttl_s,
            rules.events_max_len,
            rules.room_log_kept,
        ],
    )
    return _outcome(result)


async def _record(redis: Redis, record: dict[str, Any], rules: QueueRules) -> None:
    await scripts.MOD_RECORD(
        redis,
        [keys.EVENTS, keys.ROOM_LOG],
        [json.dumps(record, separators=(",", ":")), rules.events_max_len, rules.room_log_kept],
    )


def may_pause(actor: Actor, rules: QueueRules) -> bool:
    if rules.pause_policy == "anyone":
        return True
    if rules.pause_policy == "members":
        return actor.is_admin or not actor.is_guest
    return actor.is_admin


async def set_paused(
    redis: Redis, actor: Actor, paused: bool, *, rules: QueueRules = DEFAULT_RULES
) -> bool:
    """Pause or resume if the policy allows; True when the state changed (then announced)."""
    who = actor.who
    if not may_pause(actor, rules):
        raise NotAllowed(
            "Only admins can pause or resume"
            if rules.pause_policy == "admins"
            else "Guests cannot pause or resume"
        )
    changed = await (
        control.pause(redis, rules=rules) if paused else control.resume(redis, rules=rules)
    )
    if changed:
        playing = await control.get_now_playing(redis)
        await _record(
            redis,
            {
                "kind": "pause" if paused else "resume",
                "by": who,
                "song_id": playing.id if playing else "",
                "title": playing.title if playing else "",
                "artist": playing.artist if playing else "",
                "owner": (playing.user or "").lower() if playing else "",
                "at": await _now_s(redis),
            },
            rules,
        )
    return changed


async def clear(redis: Redis, actor: Actor, *, rules: QueueRules = DEFAULT_RULES) -> int:
    """Empty the queue (admins only; the playing song plays on); returns how many went."""
    who = actor.who
    if not actor.is_admin:
        raise NotAllowed("Only admins can clear the queue")
    removed = await q.clear_queue(redis, rules=rules)
    await _record(
        redis, {"kind": "clear", "by": who, "removed": removed, "at": await _now_s(redis)}, rules
    )
    return removed


async def _now_s(redis: Redis) -> float:
    sec, usec = await redis.time()
    return int(sec) + int(usec) / 1_000_000


async def room_log(redis: Redis, limit: int = 50) -> list[dict[str, Any]]:
    """The newest moderation records first; a damaged one is left out (reported once)."""
    rows = await records.execute(redis, "LRANGE", keys.ROOM_LOG, 0, max(0, limit - 1), raw=True)
    out = []
    for row in rows or []:
        try:
            record = records.loads(row)
        except ValueError:
            record = None
        if isinstance(record, dict):
            out.append(record)
        else:
            records.report_damaged("room log", records.raw_digest(row), "not a JSON object")
    return out
