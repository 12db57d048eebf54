"""Adding an album or a playlist: its tracks from the catalog, each through the queue's fair add
and counted against the adder's rate limit (``shared.queue.add_many``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis

from shared import ratelimit
from shared.queue.add_many import ManyAdded, SkippedSong, add_many
from shared.queue.queue import QueueRules
from shared.spotify.catalog import Catalog, Track
from shared.spotify.uris import CollectionRef


@dataclass(frozen=True)
class LimitAllowance:
    """The add-many allowance over one person's window of a ``ratelimit.Limit``."""

    redis: Redis
    limit: ratelimit.Limit
    subject: str

    async def take(self) -> None:
        await ratelimit.hit(self.redis, self.limit, self.subject)

    async def give_back(self) -> None:
        await ratelimit.give_back(self.redis, self.limit, self.subject)


@dataclass(frozen=True)
class CollectionAdded:
    """The outcome of one album or playlist add, as both services answer it (201)."""

    ref: CollectionRef
    name: str
    done: ManyAdded
    skipped: tuple[SkippedSong, ...]  # the catalog's (not playable) and the queue's
    cut_at: int  # the cap, when the collection had more tracks than it; else 0

    def answer(self) -> dict[str, Any]:
        return {
            "ok": True,
            "added": len(self.done.ids),
            "ids": list(self.done.ids),
            "skipped": [{"uri": s.uri, "title": s.title, "reason": s.reason} for s in self.skipped],
            "message": self.message(),
        }

    def audit(self) -> dict[str, Any]:
        return {
            "added": len(self.done.ids),
            "skipped": len(self.skipped),
            "stopped": self.done.stopped,
        }

    def message(self) -> str:
        count = len(self.done.ids)
        what = f'the {self.ref.kind} "{self.name}"' if self.name else f"the {self.ref.kind}"
        parts = [f"Added {count} track{'' if count == 1 else 's'} of {what}"]
        if self.cut_at:
            parts.append(f"only its first {self.cut_at} tracks are taken")
        reasons: dict[str, int] = {}
        for s in self.skipped:
            reasons[s.reason] = reasons.get(s.reason, 0) + 1
        if reasons:
            parts.append("skipped " + ", ".join(f"{n} {why}" for why, n in reasons.items()))
        if self.done.stopped == "rate_limited":
            parts.append(f"stopped at your add limit: try the rest in {self.done.retry_after_s} s")
        elif self.done.stopped == "full":
            parts.append("stopped: the queue is full")
        return "; ".join(parts)


async def add_collection(
    redis: Redis,
    catalog: Catalog,
    ref: CollectionRef,
    user: str,
    limit: ratelimit.Limit,
    *,
    rules: QueueRules,
) -> CollectionAdded:
    """Queue up to ``rules.add_many_max`` tracks of the album or playlist for ``user``."""
    cap = rules.add_many_max
    tracks: list[Track]
    if ref.kind == "album":
        tracks = await catalog.album_tracks(ref.id)
        found: tuple[SkippedSong, ...] = ()
        cut_at = cap if len(tracks) > cap else 0
        tracks = tracks[:cap]
        name = tracks[0].album if tracks else ""
    else:
        listing = await catalog.playlist_tracks(ref.id, cap)
        tracks = list(listing.tracks[:cap])
        found = tuple(SkippedSong(s.uri, s.title, s.reason) for s in listing.skipped)
        # A playlist's page past the cap is not read: whether there were more is not known.
        cut_at = 0
        name = ""
    done = await add_many(redis, tracks, user, LimitAllowance(redis, limit, user), rules=rules)
    return CollectionAdded(ref, name, done, (*found, *done.skipped), cut_at)
