"""Bender's preview (the next auto-fill suggestion) as domain steps: offer it, promote it into the
queue as a person's add, filter it out for a while. Each is one atomic Lua step with its event.
"""

from __future__ import annotations

from redis.asyncio import Redis

from shared import keys
from shared.queue import records, scripts
from shared.queue.models import Item, Song
from shared.queue.queue import DEFAULT_RULES, QueueRules, added_item, run_add

# Value of the filter flag set by the Filter button. Other values (played, queued) may be
# relaxed on the tiny demo catalog; a track someone filtered never is.
FILTER_USER = "user"


async def offer_preview(
    redis: Redis, suggestion: Song, user: str, *, events_max_len: int
) -> Item | None:
    """Make ``suggestion`` (credited to ``user``: Bender, or a throwback's queuer) the preview,
    unless there is one already. Returns the new preview, or None when one was there."""
    body = Item(
        id="",
        uri=suggestion.uri,
        title=suggestion.title,
        artist=suggestion.artist,
        duration_ms=suggestion.duration_ms,
        img=suggestion.img,
        big_img=suggestion.big_img,
        user=user,
        auto=True,
        added_at=0,
    ).model_dump_json(exclude={"id", "added_at"})
    result = await scripts.SET_PREVIEW(
        redis,
        [keys.PREVIEW, keys.QUEUE_SEQ, keys.EVENTS, keys.PLAYER_WAKE],
        [body, events_max_len],
    )
    if result[0] == "exists":
        return None
    return added_item(result)  # the new preview, or the add's refusal (a damaged id counter)


async def get_preview(redis: Redis) -> Item | None:
    """The preview, or None when there is none or its record is damaged (reported once)."""
    raw = await records.execute(redis, "GET", keys.PREVIEW, raw=True)
    if not raw:
        return None
    try:
        return Item.model_validate_json(records.item_text(raw))
    except records.UnreadableRecord as exc:
        records.report_damaged("preview", records.raw_digest(raw), str(exc))
        return None


async def promote_preview(
    redis: Redis, uri: str, user: str, *, rules: QueueRules = DEFAULT_RULES
) -> Item | None:
    """Queue action: add the previewed track to the queue as ``user`` (a person's add: fair
    round-robin, the queue's cap and duplicate rules). None when the preview is no longer that
    track (someone else acted first); a refused add raises and leaves the preview in place."""
    preview = await get_preview(redis)
    if preview is None or preview.uri != uri:
        return None
    # The script checks again that the preview is this track: the read above only shaped the add.
    result = await run_add(redis, scripts.PROMOTE_PREVIEW, preview, user, auto=False, rules=rules)
    if result[0] == "gone":
        return None
    return added_item(result)


async def filter_preview(redis: Redis, uri: str, *, rules: QueueRules = DEFAULT_RULES) -> bool:
    """Filter action: keep this track out of Bender for ``rules.bender_filter_s`` and drop it from
    the preview. True when it was the preview (only then is there an event and a new pick)."""
    result = await scripts.FILTER_PREVIEW(
        redis,
        [keys.filtered(uri), keys.PREVIEW, keys.EVENTS, keys.PLAYER_WAKE],
        [uri, rules.bender_filter_s, FILTER_USER, rules.events_max_len],
    )
    return bool(result[0] == "taken")
