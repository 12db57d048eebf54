"""The shared queue: fair round-robin adds, one-slot votes, jams, comments, remove, clear, views.

Order is an exact Redis LIST of ids (votes swap neighbours), never float scores, so it cannot
drift however many votes are cast. Each change is one Lua script that also appends its event.
"""

from __future__ import annotations

import asyncio
import json
import re
import unicodedata
from dataclasses import dataclass

from redis.asyncio import Redis

from shared import keys
from shared.queue import lua, records
from shared.queue.errors import (
    AlreadyQueued,
    AlreadyVoted,
    DamagedRecord,
    DomainError,
    InvalidInput,
    ItemNotFound,
    OwnSongUpvote,
    QueueFull,
    SongPlaying,
)
from shared.queue.models import Item, QueueView
from shared.settings import AndreSettings, default
from shared.spotify.catalog import Track

DAMAGED_MESSAGE = "This song's record is damaged; it was skipped"
_ID_RE = re.compile(r"[A-Za-z0-9:_.-]{1,64}")
# Bidi overrides and isolates can make a comment render as something else; stripped like C0/C1.
_BIDI = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


@dataclass(frozen=True)
class QueueRules:
    """Caps the domain enforces; built once from settings and passed down.

    A cap that is a setting takes its default from the settings (``default``), never a copy;
    the services build their rules with ``from_settings``.
    """

    max_len: int = default("queue_max_len")
    events_max_len: int = default("events_max_len")
    comment_max_chars: int = default("comment_max_chars")
    # now_playing events carry the playing item with its comments: this cap, the comment length
    # and events_max_len bound the stream's memory (Redis never evicts: noeviction).
    comments_per_item: int = 50
    airhorn_max_per_window: int = default("airhorn_max_per_window")
    airhorn_window_s: int = default("airhorn_window_s")
    airhorn_free_jams: int = default("airhorn_free_jams")
    airhorn_free_max: int = default("airhorn_free_max")
    airhorns_kept: int = 50
    skip_ttl_s: int = 120
    bender_filter_s: int = default("bender_filter_s")
    # Moderation (shared.queue.moderation): votes needed to skip / remove someone else's song
    # (0: only its queuer and admins), how long a vote counts, who may pause.
    skip_votes: int = default("moderation_skip_votes")
    remove_votes: int = default("moderation_remove_votes")
    vote_ttl_s: int = default("moderation_vote_ttl_s")
    pause_policy: str = default("moderation_pause")
    room_log_kept: int = 200

    @classmethod
    def from_settings(cls, settings: AndreSettings) -> QueueRules:
        return cls(
            max_len=settings.queue_max_len,
            events_max_len=settings.events_max_len,
            comment_max_chars=settings.comment_max_chars,
            airhorn_max_per_window=settings.airhorn_max_per_window,
            airhorn_window_s=settings.airhorn_window_s,
            airhorn_free_jams=settings.airhorn_free_jams,
            airhorn_free_max=settings.airhorn_free_max,
            bender_filter_s=settings.bender_filter_s,
            skip_votes=settings.moderation_skip_votes,
            remove_votes=settings.moderation_remove_votes,
            vote_ttl_s=settings.moderation_vote_ttl_s,
            pause_policy=settings.moderation_pause,
        )


# The settings' defaults: for callers (tests, tools) that have no settings of their own.
DEFAULT_RULES = QueueRules()


def _identity(user: str) -> str:
    """The lower-cased identity used for ownership, votes and jams."""
    who = user.strip().lower()
    if not who:
        raise InvalidInput("No identity")
    return who


def _check_id(item_id: str) -> str:
    # Anything that cannot be an id is simply not in the queue; never reaches Lua unchecked.
    if not isinstance(item_id, str) or not _ID_RE.fullmatch(item_id):
        raise ItemNotFound("No such song in the queue")
    return item_id


check_id = _check_id  # for shared.queue.moderation


def _fail(status: str) -> DomainError:
    if status == "not_found":
        return ItemNotFound("No such song in the queue")
    if status == "own_upvote":
        return OwnSongUpvote("You cannot upvote your own song")
    if status == "already_voted":
        return AlreadyVoted("You already voted on this song")
    if status == "full":
        return QueueFull("The queue is full")
    if status == "too_many":
        return InvalidInput("Too many comments on this song")
    if status == "damaged":
        return DamagedRecord(DAMAGED_MESSAGE)
    if status == "seq_damaged":
        return DamagedRecord("The queue's id counter is damaged; nothing was added")
    return DomainError(f"Unexpected queue state: {status}")


def _refused(status: str, item_id: str) -> DomainError:
    if status == "damaged":
        records.report_damaged("queue item", item_id, "refused a change to it")
    elif status == "seq_damaged":
        records.report_damaged("queue counter", keys.QUEUE_SEQ, "not an integer; adds refused")
    return _fail(status)


# Invisible characters that are not format characters (Hangul fillers, braille blank).
_INVISIBLE = frozenset("\u115f\u1160\u3164\uffa0\u2800")
_DROPPED_CATEGORIES = ("Cc", "Cf", "Cs", "Co")  # control, format (ZWSP, ZWJ, BOM, tags), ...
_MARKS = ("Mn", "Mc", "Me")
_MARKS_PER_BASE = 4  # more stacked combining marks than any script needs ("Zalgo" text)


def clean_comment(text: str, max_chars: int) -> str:
    """Plain text: control, format (invisible, bidi), surrogate and private-use characters
    dropped, stacked combining marks capped, whitespace folded; something visible must remain."""
    if not isinstance(text, str):
        raise InvalidInput("Comment must be text")
    text = unicodedata.normalize("NFC", text)
    kept = []
    marks = 0
    for ch in text:
        category = unicodedata.category(ch)
        if ch in "\t\n\r":
            kept.append(" ")
            marks = 0
        elif ch in _BIDI or ch in _INVISIBLE or category in _DROPPED_CATEGORIES:
            continue
        elif category in _MARKS:
            marks += 1
            if marks <= _MARKS_PER_BASE:
                kept.append(ch)
        else:
            kept.append(ch)
            marks = 0
    cleaned = " ".join("".join(kept).split())
    if not any(unicodedata.category(ch) not in _MARKS for ch in cleaned if not ch.isspace()):
        raise InvalidInput("Comment is empty")
    if len(cleaned) > max_chars:
        raise InvalidInput(f"Comment is longer than {max_chars} characters")
    return cleaned


def add_call(
    track: Track, user: str, *, auto: bool, rules: QueueRules
) -> tuple[list[str], list[str | int]]:
    """KEYS and ARGV of the add script (``lua.ADD``) for ``user`` queuing ``track``; the preview's
    promote (shared.queue.preview) runs the same add inside its own step."""
    owner = _identity(user)
    body = json.dumps(
        {
            "uri": track.uri,
            "title": track.title,
            "artist": track.artist,
            "duration_ms": int(track.duration_ms),
            "img": track.img,
            "big_img": track.big_img,
            "user": user.strip(),
            "votes": 0,
            "jams": [],
            "comments": [],
            "auto": auto,
        },
        ensure_ascii=False,
        separators=(",", ":"),
    )
    # A track a person chose is one Bender should not suggest again for a while ("scrobble").
    bender_filter = keys.filtered(track.uri) if track.kind == "track" and not auto else ""
    keys_ = [
        keys.QUEUE,
        keys.QUEUE_OWNERS,
        keys.QUEUE_SEQ,
        keys.EVENTS,
        keys.PLAYER_WAKE,
        keys.PREVIEW,
        keys.NOW_PLAYING,
    ]
    args: list[str | int] = [
        body,
        owner,
        rules.max_len,
        rules.events_max_len,
        keys.ITEM_PREFIX,
        bender_filter,
        rules.bender_filter_s,
        track.uri,
        "0" if auto else "1",
    ]
    return keys_, args


def added_item(result: list[str]) -> Item:
    """The item the add script queued, or its refusal as a domain error."""
    if result[0] == "duplicate":
        raise AlreadyQueued("That song is already in the queue", str(result[1]))
    if result[0] == "playing":
        raise SongPlaying("That song is playing right now")
    if result[0] != "ok":
        raise _refused(result[0], "")
    return Item.model_validate_json(result[1])


async def add_item(
    redis: Redis,
    track: Track,
    user: str,
    *,
    auto: bool = False,
    rules: QueueRules = DEFAULT_RULES,
) -> Item:
    """Queue a track for ``user`` at the end of their round (see module docstring)."""
    keys_, args = add_call(track, user, auto=auto, rules=rules)
    return added_item(await lua.ADD_SCRIPT(redis, keys_, args))


@dataclass(frozen=True)
class Added:
    """What a person's add did: ``added`` a new item, or (a duplicate) ``upvoted`` / ``jammed``
    the queued one, or ``already`` (they had voted and jammed it: nothing changed)."""

    item_id: str
    outcome: str
    message: str


async def add_or_vote(
    redis: Redis, track: Track, user: str, *, rules: QueueRules = DEFAULT_RULES
) -> Added:
    """Queue a track for a person; adding a song already queued upvotes it instead, or jams it
    when an upvote is not theirs to give (their own song, or voted already). Adding the playing
    song raises ``SongPlaying``."""
    try:
        item = await add_item(redis, track, user, rules=rules)
    except AlreadyQueued as dup:
        existing = dup.item_id
    else:
        return Added(item.id, "added", f'Added "{item.title}"')
    title = track.title
    try:
        await vote(redis, existing, user, True, rules=rules)
        return Added(
            existing, "upvoted", f'"{title}" is already queued: your add counts as an upvote'
        )
    except (OwnSongUpvote, AlreadyVoted):
        pass
    if _identity(user) in (await get_item(redis, existing)).jams:
        return Added(
            existing, "already", f'"{title}" is already queued, and you voted and jammed it'
        )
    await toggle_jam(redis, existing, user, rules=rules)
    return Added(existing, "jammed", f'"{title}" is already queued: you jam it instead')


async def vote(
    redis: Redis, item_id: str, user: str, up: bool, *, rules: QueueRules = DEFAULT_RULES
) -> int:
    """Count one vote of ``user``; the song moves one slot. Returns its new index."""
    result = await lua.VOTE_SCRIPT(
        redis,
        [keys.QUEUE, keys.QUEUE_OWNERS, keys.EVENTS],
        [
            _check_id(item_id),
            _identity(user),
            "1" if up else "0",
            rules.events_max_len,
            keys.ITEM_PREFIX,
        ],
    )
    if result[0] != "ok":
        raise _refused(result[0], item_id)
    return int(result[1])


async def toggle_jam(
    redis: Redis, item_id: str, user: str, *, rules: QueueRules = DEFAULT_RULES
) -> bool:
    """Jam or un-jam a queued or the playing song; True when the user now jams it.

    The queuer earns one free airhorn credit (capped) the first time a song of theirs is jammed
    by ``airhorn_free_jams`` other people; un-jamming and re-jamming cannot earn it twice.
    """
    result = await lua.JAM_SCRIPT(
        redis,
        [keys.QUEUE, keys.NOW_PLAYING, keys.EVENTS],
        [
            _check_id(item_id),
            _identity(user),
            rules.events_max_len,
            keys.ITEM_PREFIX,
            rules.airhorn_free_jams,
            keys.FREE_HORNS_PREFIX,
            rules.airhorn_free_max,
        ],
    )
    if result[0] != "ok":
        raise _refused(result[0], item_id)
    return bool(result[1] == "1")


async def add_comment(
    redis: Redis, item_id: str, user: str, text: str, *, rules: QueueRules = DEFAULT_RULES
) -> str:
    """Comment on a queued or the playing song as ``user``; returns the stored text."""
    cleaned = clean_comment(text, rules.comment_max_chars)
    author = user.strip()
    _identity(author)
    result = await lua.COMMENT_SCRIPT(
        redis,
        [keys.QUEUE, keys.NOW_PLAYING, keys.EVENTS],
        [
            _check_id(item_id),
            author,
            cleaned,
            rules.events_max_len,
            keys.ITEM_PREFIX,
            rules.comments_per_item,
        ],
    )
    if result[0] != "ok":
        raise _refused(result[0], item_id)
    return cleaned


async def remove_item(redis: Redis, item_id: str, *, rules: QueueRules = DEFAULT_RULES) -> None:
    """Take a song out of the queue (anyone may; the UI asks first for others' songs)."""
    result = await lua.REMOVE_SCRIPT(
        redis,
        [keys.QUEUE, keys.QUEUE_OWNERS, keys.EVENTS],
        [_check_id(item_id), rules.events_max_len, keys.ITEM_PREFIX],
    )
    if result[0] != "ok":
        raise _fail(result[0])


async def clear_queue(redis: Redis, *, rules: QueueRules = DEFAULT_RULES) -> int:
    """Empty the queue (the playing song plays on); returns how many songs were removed."""
    result = await lua.CLEAR_SCRIPT(
        redis,
        [keys.QUEUE, keys.QUEUE_OWNERS, keys.EVENTS],
        [rules.events_max_len, keys.ITEM_PREFIX],
    )
    return int(result[1])


async def get_queue_ids(redis: Redis) -> list[str]:
    return [str(i) for i in await redis.lrange(keys.QUEUE, 0, -1)]


def _checked_item(raw: bytes | None, item_id: str) -> str | None:
    """The item's JSON text, or None (reported once) when its record is missing or damaged."""
    if raw is None:
        records.report_damaged("queue item", item_id, "record missing")
        return None
    try:
        return records.item_text(raw, item_id)
    except records.UnreadableRecord as exc:
        records.report_damaged("queue item", item_id, str(exc))
        return None


async def get_queue_json(redis: Redis) -> str:
    """The queue view as JSON text, in one round trip, with no re-serialisation of items.

    Each record is checked before it is spliced in (cached by value, so a read costs little
    more than the splice): a damaged one is skipped, so the body is always valid JSON.
    """
    result = await lua.VIEW_SCRIPT(redis, [keys.QUEUE, keys.PREVIEW], [keys.ITEM_PREFIX], raw=True)
    parts = []
    for k in range(1, len(result) - 1, 2):
        text = _checked_item(result[k + 1], result[k].decode("utf-8", "replace"))
        if text is not None:
            parts.append(text)
    preview = None
    if result[0]:
        try:
            preview = records.item_text(result[0])
        except records.UnreadableRecord as exc:
            records.report_damaged("preview", records.raw_digest(result[0]), str(exc))
    return '{"queue":[' + ",".join(parts) + '],"preview":' + (preview or "null") + "}"


async def get_queue_view(redis: Redis) -> QueueView:
    return QueueView.model_validate_json(await get_queue_json(redis))


async def get_item(redis: Redis, item_id: str) -> Item:
    key = keys.item(_check_id(item_id))
    raw = await records.execute(redis, "GET", key, raw=True)
    if raw is None:
        raise ItemNotFound("No such song in the queue")
    try:
        return Item.model_validate_json(records.item_text(raw, item_id))
    except records.UnreadableRecord as exc:
        records.report_damaged("queue item", item_id, str(exc))
        raise DamagedRecord(DAMAGED_MESSAGE) from exc


class QueueReader:
    """Coalesces concurrent queue reads of one process into shared Redis reads.

    Every caller gets the result of a read that *started after it asked*, so nobody sees a queue
    older than their own request (read-your-writes holds); callers that arrive while a read is in
    flight share the next one. Under load one round trip serves many requests.
    """

    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._next: asyncio.Future[str] | None = None
        self._task: asyncio.Task[None] | None = None

    async def get_json(self) -> str:
        if self._next is None:
            self._next = asyncio.get_running_loop().create_future()
            # A failed read nobody awaits any more must not warn "exception never retrieved".
            self._next.add_done_callback(_retrieve)
        future = self._next
        if self._task is None:
            self._task = asyncio.create_task(self._pump())
        return await asyncio.shield(future)

    async def _pump(self) -> None:
        try:
            while self._next is not None:
                future, self._next = self._next, None
                try:
                    future.set_result(await get_queue_json(self._redis))
                except Exception as exc:  # noqa: BLE001 - handed to every waiting caller
                    future.set_exception(exc)
        finally:
            self._task = None


def _retrieve(future: asyncio.Future[str]) -> None:
    if not future.cancelled():
        future.exception()
