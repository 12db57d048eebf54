"""Adding many songs at once (an album or a playlist) for one person, fair to everyone else.

Each song is one ordinary add (``queue.add_item``): the person's n-th song goes into round n, so a
30-track album never starves others' single adds. Each add is its own script (others' adds may
land between them, fairly); the batch emits one queue_update and wakes the player once, at its end.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from redis.asyncio import Redis

from shared import keys
from shared.queue import queue, scripts
from shared.queue.errors import AlreadyQueued, QueueFull, RateLimited, SongPlaying
from shared.queue.models import Song


class Allowance(Protocol):
    """The adder's rate limit: ``take`` counts one add (raising ``RateLimited`` when the window
    is used up); ``give_back`` returns one whose song was not queued."""

    async def take(self) -> None: ...

    async def give_back(self) -> None: ...


@dataclass(frozen=True)
class SkippedSong:
    uri: str
    title: str
    reason: str


@dataclass
class ManyAdded:
    """What a many-add did: the new items' ids in order, the songs skipped, and why it stopped
    early (``stopped``: "" when every song was tried, else "rate_limited" or "full")."""

    ids: list[str] = field(default_factory=list)
    skipped: list[SkippedSong] = field(default_factory=list)
    stopped: str = ""
    retry_after_s: int = 0


async def add_many(
    redis: Redis,
    songs: Sequence[Song],
    user: str,
    allowance: Allowance,
    *,
    rules: queue.QueueRules = queue.DEFAULT_RULES,
) -> ManyAdded:
    """Queue ``songs`` in order for ``user``, each counted against ``allowance``.

    A song already queued or playing is skipped (no upvote: a batch should not vote for a
    person) and its count given back. The batch stops at the first add the rate limit or the
    queue cap refuses; if that is the first song, the refusal is raised as for a single add.
    """
    done = ManyAdded()
    try:
        await _add_each(redis, songs, user, allowance, rules, done)
    finally:
        # Also after a failed add: the songs already queued must reach every page.
        if done.ids:
            await scripts.QUEUE_CHANGED(
                redis, [keys.EVENTS, keys.PLAYER_WAKE], [rules.events_max_len]
            )
    return done


async def _add_each(
    redis: Redis,
    songs: Sequence[Song],
    user: str,
    allowance: Allowance,
    rules: queue.QueueRules,
    done: ManyAdded,
) -> None:
    for song in songs:
        try:
            await allowance.take()
        except RateLimited as exc:
            if not done.ids:
                raise
            done.stopped, done.retry_after_s = "rate_limited", exc.retry_after_s
            break
        try:
            item = await queue.add_item(redis, song, user, rules=rules, quiet=True)
        except (AlreadyQueued, SongPlaying) as exc:
            await allowance.give_back()
            reason = "already queued" if isinstance(exc, AlreadyQueued) else "playing now"
            done.skipped.append(SkippedSong(song.uri, song.title, reason))
            continue
        except QueueFull:
            await allowance.give_back()
            if not done.ids:
                raise
            done.stopped = "full"
            break
        except Exception:
            await allowance.give_back()
            raise
        done.ids.append(item.id)
