"""Domain errors; each service maps them to HTTP statuses in one place."""

from __future__ import annotations

from shared.errors import DomainError, RateLimited

__all__ = [
    "AlreadyQueued",
    "AlreadyVoted",
    "DamagedRecord",
    "DomainError",
    "InvalidInput",
    "ItemNotFound",
    "NoFreeAirhorns",
    "NotAllowed",
    "NothingPlaying",
    "OwnSongUpvote",
    "QueueFull",
    "RateLimited",
    "SongPlaying",
    "WrongKeyType",
]


class ItemNotFound(DomainError):
    """No queue item with that id (404)."""


class AlreadyVoted(DomainError):
    """The user already voted on that song (409)."""


class OwnSongUpvote(DomainError):
    """The queuer tried to upvote their own song (409)."""


class InvalidInput(DomainError):
    """A value the domain refuses: bad URI, empty or oversized comment, unknown airhorn (400)."""


class NothingPlaying(DomainError):
    """An action on the current song when there is none (409)."""


class QueueFull(DomainError):
    """The queue reached its configured maximum length (409)."""


class NoFreeAirhorns(DomainError):
    """The user has no free airhorn credit left (409)."""


class DamagedRecord(DomainError):
    """The song's stored record cannot be read; it is skipped and nothing was changed (409)."""


class WrongKeyType(DamagedRecord):
    """A key the change needs holds another Redis type; nothing was changed (409)."""


class NotAllowed(DomainError):
    """The moderation rules do not let this identity do that (403)."""


class AlreadyQueued(DomainError):
    """The song is already in the queue (409); ``item_id`` names it."""

    def __init__(self, message: str, item_id: str) -> None:
        super().__init__(message)
        self.item_id = item_id


class SongPlaying(DomainError):
    """The song asked for is the one playing right now (409)."""
