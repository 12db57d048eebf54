"""The shared queue: fair round-robin adds, one-slot votes, jams, comments, remove, clear, views.

Order is an exact Redis LIST of ids (votes swap neighbours), never float scores, so it cannot
drift however many votes are cast. Each change is one Lua script that also appends its event.
"""

from __future__ import annotations

import asyncio
import json
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import ResponseError

from shared import keys
from shared.queue import records, scripts
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
from shared.queue.models import Item, Song, is_music_track, song_fields
from shared.queue.now_playing import announce
from shared.settings import AndreSettings, default

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
    add_many_max: int = default("add_many_max")  # tracks one album or playlist add takes
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
            add_many_max=settings.add_many_max,
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


async def add_item(
    redis: Redis,
    song: Song,
    user: str,
    *,
    auto: bool = False,
    rules: QueueRules = DEFAULT_RULES,
    quiet: bool = False,
) -> Item:
    """Queue a song for ``user`` at the end of their round (see module docstring). A ``quiet``
    add emits no event and wakes no player: its batch does both once (``add_many``)."""
    return added_item(
        await run_add(redis, scripts.ADD, song, user, auto=auto, rules=rules, quiet=quiet)
    )


async def run_add(
    redis: Redis,
    script: scripts.Script,
    song: Song,
    user: str,
    *,
    auto: bool,
    rules: QueueRules,
    quiet: bool = False,
) -> list[Any]:
    """Run ``script``, the add script or one that runs it inside its own step (the preview's
    promote), with the add's KEYS and ARGV; returns its reply. The new item's id is taken first
    (the script declares the item's key) and given back unless the reply is ``ok``."""
    owner = _identity(user)
    body = json.dumps(
        {
            **song_fields(song),
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
    set_filter = is_music_track(song.uri) and not auto
    new_id = await _new_id(redis)
    try:
        for _ in range(2):
            result: list[Any] = await script(
                redis,
                [
                    keys.QUEUE,
                    keys.QUEUE_OWNERS,
                    keys.QUEUE_URIS,
                    keys.EVENTS,
                    keys.PLAYER_WAKE,
                    keys.PREVIEW,
                    keys.NOW_PLAYING,
                    keys.filtered(song.uri),
                    keys.item(new_id),
                ],
                [
                    body,
                    owner,
                    rules.max_len,
                    rules.events_max_len,
                    new_id,
                    "1" if set_filter else "0",
                    rules.bender_filter_s,
                    song.uri,
                    "0" if auto else "1",
                    "1" if quiet else "0",
                ],
            )
            if result[0] != "unknown":
                break
            await _fill_uris(redis, [str(i) for i in result[1:]])
    except Exception:
        await _release_id(redis, new_id)
        raise
    if result[0] != "ok":
        await _release_id(redis, new_id)
    return result


def added_item(result: list[Any]) -> Item:
    """The item an add queued, or its refusal as a domain error."""
    if result[0] == "duplicate":
        raise AlreadyQueued("That song is already in the queue", str(result[1]))
    if result[0] == "playing":
        raise SongPlaying("That song is playing right now")
    if result[0] != "ok":
        raise _refused(result[0], "")
    return Item.model_validate_json(result[1])


# Scripts over the ids read just before retry when an id was queued meanwhile; a few tries
# suffice, as each lost race means another change went through.
_ATTEMPTS = 8


async def _new_id(redis: Redis) -> str:
    """The next item id, taken before the add so that its script can declare the item's key. A
    damaged counter refuses the add with nothing changed: restarting it would hand out ids that
    may still be in use."""
    try:
        return str(await redis.incr(keys.QUEUE_SEQ))
    except ResponseError as exc:
        if str(exc).startswith("WRONGTYPE"):
            raise scripts.wrong_type(keys.QUEUE_SEQ, str(exc)) from exc
        raise _refused("seq_damaged", "") from exc


async def _fill_uris(redis: Redis, item_ids: list[str]) -> None:
    """Name the track of items queued before ``andre:queue:uris`` existed (once, after an
    upgrade); a damaged record names none, which no add matches."""
    raws = await records.execute(redis, "MGET", *map(keys.item, item_ids), raw=True)
    await redis.hset(
        keys.QUEUE_URIS, mapping={i: records.uri_of(r) for i, r in zip(item_ids, raws, strict=True)}
    )


async def _release_id(redis: Redis, item_id: str) -> None:
    await scripts.RELEASE_ID(redis, [keys.QUEUE_SEQ], [item_id])


@dataclass(frozen=True)
class Added:
    """What a person's add did: ``added`` a new item, or (a duplicate) ``upvoted`` / ``jammed``
    the queued one, or ``already`` (they had voted and jammed it: nothing changed)."""

    item_id: str
    outcome: str
    message: str


async def add_or_vote(
    redis: Redis, song: Song, user: str, *, rules: QueueRules = DEFAULT_RULES
) -> Added:
    """Queue a track for a person; adding a song already queued upvotes it instead, or jams it
    when an upvote is not theirs to give (their own song, or voted already). Adding the playing
    song raises ``SongPlaying``."""
    try:
        item = await add_item(redis, song, user, rules=rules)
    except AlreadyQueued as dup:
        existing = dup.item_id
    else:
        return Added(item.id, "added", f'Added "{item.title}"')
    title = song.title
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
    item_id = _check_id(item_id)
    result = await scripts.VOTE(
        redis,
        [keys.QUEUE, keys.QUEUE_OWNERS, keys.EVENTS, keys.item(item_id), keys.item_votes(item_id)],
        [item_id, _identity(user), "1" if up else "0", rules.events_max_len],
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
    item_id = _check_id(item_id)
    who = _identity(user)
    # The queuer's credit counter is declared, so the queuer is read first (the owners hash has
    # the queued songs'); the script checks it and names the right one when it is not.
    owner = str(await redis.hget(keys.QUEUE_OWNERS, item_id) or "")
    for _ in range(_ATTEMPTS):
        result = await scripts.JAM(
            redis,
            [
                keys.QUEUE,
                keys.NOW_PLAYING,
                keys.EVENTS,
                keys.item(item_id),
                keys.item_horn_awarded(item_id),
                keys.free_horns(owner),
            ],
            [
                item_id,
                who,
                rules.events_max_len,
                rules.airhorn_free_jams,
                rules.airhorn_free_max,
                owner,
            ],
            raw=True,
        )
        if result[0] != b"retry":
            break
        owner = result[1].decode("utf-8", "replace")
    else:
        raise DomainError("The song is changing too fast; try again")
    status = result[0].decode()
    if status != "ok":
        raise _refused(status, item_id)
    if len(result) > 2:
        await announce(redis, result[2], int(result[3]), rules.events_max_len)
    return bool(result[1] == b"1")


async def add_comment(
    redis: Redis, item_id: str, user: str, text: str, *, rules: QueueRules = DEFAULT_RULES
) -> str:
    """Comment on a queued or the playing song as ``user``; returns the stored text."""
    cleaned = clean_comment(text, rules.comment_max_chars)
    author = user.strip()
    _identity(author)
    item_id = _check_id(item_id)
    result = await scripts.COMMENT(
        redis,
        [keys.QUEUE, keys.NOW_PLAYING, keys.EVENTS, keys.item(item_id)],
        [item_id, author, cleaned, rules.events_max_len, rules.comments_per_item],
        raw=True,
    )
    status = result[0].decode()
    if status != "ok":
        raise _refused(status, item_id)
    if len(result) > 1:
        await announce(redis, result[1], int(result[2]), rules.events_max_len)
    return cleaned


async def remove_item(redis: Redis, item_id: str, *, rules: QueueRules = DEFAULT_RULES) -> None:
    """Take a song out of the queue (anyone may; the UI asks first for others' songs)."""
    item_id = _check_id(item_id)
    result = await scripts.REMOVE(
        redis,
        [
            keys.QUEUE,
            keys.QUEUE_OWNERS,
            keys.EVENTS,
            keys.item(item_id),
            keys.item_votes(item_id),
            keys.QUEUE_URIS,
        ],
        [item_id, rules.events_max_len],
    )
    if result[0] != "ok":
        raise _fail(result[0])


async def clear_queue(redis: Redis, *, rules: QueueRules = DEFAULT_RULES) -> int:
    """Empty the queue (the playing song plays on); returns how many songs were removed."""
    ids = await get_queue_ids(redis)
    for _ in range(_ATTEMPTS):
        result = await scripts.CLEAR(
            redis,
            [
                keys.QUEUE,
                keys.QUEUE_OWNERS,
                keys.QUEUE_URIS,
                keys.EVENTS,
                *(k for i in ids for k in (keys.item(i), keys.item_votes(i))),
            ],
            [rules.events_max_len, *ids],
        )
        if result[0] != "retry":
            return int(result[1])
        ids = [str(i) for i in result[1:]]
    raise DomainError("The queue is changing too fast; try again")


async def get_queue_ids(redis: Redis) -> list[str]:
    rows = await records.execute(redis, "LRANGE", keys.QUEUE, 0, -1, raw=True)
    return [bytes(i).decode("utf-8", "replace") for i in rows]


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


@dataclass(frozen=True, slots=True)
class QueueView:
    """One read of the queue view: each readable item's id and JSON text in order, the preview.

    ``text`` is the wire form (``{"queue":[...],"preview":...}``) spliced from the records as
    stored, never re-serialised; the event hub also diffs two views item by item
    (``shared.queue.delta``).
    """

    items: tuple[tuple[str, str], ...]
    preview: str | None
    text: str

    @classmethod
    def of(cls, items: Sequence[tuple[str, str]], preview: str | None) -> QueueView:
        body = ",".join([text for _, text in items])
        text = '{"queue":[' + body + '],"preview":' + (preview or "null") + "}"
        return cls(tuple(items), preview, text)


async def read_queue_view(
    redis: Redis, known_ids: Sequence[str] | None = None
) -> tuple[QueueView, list[str]]:
    """The queue view and the ids queued, in order (damaged records among them too).

    The view script declares each item's key: ``known_ids`` (those of an earlier read) saves
    reading the ids first, so when nothing was queued since, the read is one round trip. Each
    record is checked before it is spliced in (cached by value, so a read costs little more
    than the splice): a damaged one is skipped, so the body is always valid JSON.
    """
    ids = list(known_ids) if known_ids is not None else await get_queue_ids(redis)
    for _ in range(_ATTEMPTS):
        result = await scripts.VIEW(
            redis, [keys.QUEUE, keys.PREVIEW, *map(keys.item, ids)], ids, raw=True
        )
        if result[0] == b"ok":
            break
        ids = [bytes(i).decode("utf-8", "replace") for i in result[1:]]
    else:
        raise DomainError("The queue is changing too fast; try again")
    items = []
    queued = []
    for k in range(2, len(result) - 1, 2):
        item_id = result[k].decode("utf-8", "replace")
        queued.append(item_id)
        text = _checked_item(result[k + 1], item_id)
        if text is not None:
            items.append((item_id, text))
    preview = None
    if result[1]:
        try:
            preview = records.item_text(result[1])
        except records.UnreadableRecord as exc:
            records.report_damaged("preview", records.raw_digest(result[1]), str(exc))
    return QueueView.of(items, preview), queued


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
        self._ids: list[str] | None = None  # of the last read: the next one declares these first
        self._next: asyncio.Future[QueueView] | None = None
        self._task: asyncio.Task[None] | None = None

    async def get_json(self) -> str:
        return (await self.get_view()).text

    async def get_view(self) -> QueueView:
        if self._next is None:
            self._next = asyncio.get_running_loop().create_future()
            # A failed read nobody awaits any more must not warn "exception never retrieved".
            self._next.add_done_callback(_retrieve)
        future = self._next
        if self._task is None:
            self._task = asyncio.create_task(self._pump())
        return await asyncio.shield(future)

    async def aclose(self) -> None:
        """Stop a read in flight (its callers get CancelledError): at shutdown, before the
        connection pool closes, so no connection is left half-read."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        if self._next is not None and not self._next.done():
            self._next.cancel()
        self._next = None

    async def _pump(self) -> None:
        try:
            while self._next is not None:
                future, self._next = self._next, None
                try:
                    view, self._ids = await read_queue_view(self._redis, self._ids)
                    future.set_result(view)
                except asyncio.CancelledError:
                    future.cancel()
                    raise
                except Exception as exc:  # noqa: BLE001 - handed to every waiting caller
                    future.set_exception(exc)
        finally:
            self._task = None


def _retrieve(future: asyncio.Future[QueueView]) -> None:
    if not future.cancelled():
        future.exception()
