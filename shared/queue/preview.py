"""Bender's preview (the next auto-fill suggestion) as domain steps: offer it, promote it into the
queue as a person's add, filter it out for a while. Each is one atomic Lua step with its event.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

from redis.asyncio import Redis

from shared import keys
from shared.queue import lua, records
from shared.queue.models import Item
from shared.queue.queue import DEFAULT_RULES, QueueRules, add_call, added_item
from shared.spotify.catalog import Track

# Value of the filter flag set by the Filter button. Other values (played, queued) may be
# relaxed on the tiny demo catalog; a track someone filtered never is.
FILTER_USER = "user"

_SCRIPTS = Path(__file__).with_name("scripts")
_INCLUDE = re.compile(r"^--! include (\w+)\n", re.MULTILINE)


@cache
def _fragments() -> dict[str, str]:
    # The queue's shared Lua that the preview's scripts include (``--! include <name>``).
    return {"prelude": lua._PRELUDE, "add": lua.ADD.removeprefix(lua._PRELUDE)}


def _source(name: str) -> str:
    """``scripts/<name>.lua`` with its includes expanded, each fragment once."""
    seen: set[str] = set()

    def include(match: re.Match[str]) -> str:
        fragment = match.group(1)
        if fragment in seen:
            return ""
        seen.add(fragment)
        return _fragments()[fragment] + "\n"

    return _INCLUDE.sub(include, (_SCRIPTS / f"{name}.lua").read_text(encoding="utf-8"))


SET_PREVIEW = lua.LuaScript("set_preview", _source("set_preview"))
PROMOTE_PREVIEW = lua.LuaScript("promote_preview", _source("promote_preview"))
FILTER_PREVIEW = lua.LuaScript("filter_preview", _source("filter_preview"))


async def offer_preview(
    redis: Redis, suggestion: Track, user: str, *, events_max_len: int
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
    result = await SET_PREVIEW(
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
    track = Track(
        uri=preview.uri,
        title=preview.title,
        artist=preview.artist,
        duration_ms=preview.duration_ms,
        img=preview.img,
        big_img=preview.big_img,
    )
    keys_, args = add_call(track, user, auto=False, rules=rules)
    # The script checks again that the preview is this track: the read above only shaped the add.
    result = await PROMOTE_PREVIEW(redis, keys_, args)
    if result[0] == "gone":
        return None
    return added_item(result)


async def filter_preview(redis: Redis, uri: str, *, rules: QueueRules = DEFAULT_RULES) -> bool:
    """Filter action: keep this track out of Bender for ``rules.bender_filter_s`` and drop it from
    the preview. True when it was the preview (only then is there an event and a new pick)."""
    result = await FILTER_PREVIEW(
        redis,
        [keys.filtered(uri), keys.PREVIEW, keys.EVENTS, keys.PLAYER_WAKE],
        [uri, rules.bender_filter_s, FILTER_USER, rules.events_max_len],
    )
    return bool(result[0] == "taken")
