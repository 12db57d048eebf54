"""The queue's Lua scripts (the ``*.lua`` files beside this module) and their one runner.

A script names its fragments with ``--! include <name>`` lines (each expanded once); ``fields``
is rendered from the models (``shared.queue.records``). Every key a script touches is passed in
``KEYS`` (names from ``shared.keys``), so Redis ACLs and clusters see them.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from functools import cache
from importlib import resources
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import NoScriptError, ResponseError

from shared import keys
from shared.queue import records
from shared.queue.errors import WrongKeyType

GUARD_ERROR = "ANDRE_WRONGTYPE"
_INCLUDE = re.compile(r"^--! include (\w+)\n", re.MULTILINE)


def _type_guard(first_keys: int | None) -> str:
    # Checked before the script's first write: a key of the wrong type (a hand edit, a bad
    # restore) refuses the change instead of half-applying it (Redis has no rollback).
    rules = ", ".join(f"{{{json.dumps(p)}, {json.dumps(t)}}}" for p, t in keys.KEY_TYPES)
    upto = "#KEYS" if first_keys is None else f"math.min(#KEYS, {int(first_keys)})"
    return (
        "do\n"
        f"  local rules = {{{rules}}}\n"
        f"  for i = 1, {upto} do\n"
        "    local key = KEYS[i]\n"
        "    for _, rule in ipairs(rules) do\n"
        "      if string.find(key, rule[1]) then\n"
        "        local held = redis.call('TYPE', key)['ok']\n"
        "        if held ~= 'none' and held ~= rule[2] then\n"
        f"          return redis.error_reply('{GUARD_ERROR} ' .. key .. ' holds a ' .. held\n"
        "            .. ', not a ' .. rule[2])\n"
        "        end\n"
        "        break\n"
        "      end\n"
        "    end\n"
        "  end\n"
        "end\n"
    )


def _fragment(name: str) -> str:
    if name == "fields":
        return records.lua_field_tables()
    return resources.files(__name__).joinpath(f"{name}.lua").read_text(encoding="utf-8")


@cache
def source(name: str) -> str:
    """``<name>.lua`` with its includes expanded, each fragment once, in order."""
    seen: set[str] = set()

    def expand(fragment: str) -> str:
        if fragment in seen:
            return ""
        seen.add(fragment)
        return _INCLUDE.sub(lambda m: expand(m.group(1)), _fragment(fragment))

    return expand(name)


class Script:
    """One script, run with EVALSHA (loaded with SCRIPT LOAD on first use and again after a Redis
    restart, as redis-py's ``register_script`` does, without its per-call type checks). The types
    of its first ``guard_keys`` keys (all by default) are checked before it writes; a key of the
    wrong type raises ``WrongKeyType``, nothing written."""

    def __init__(self, name: str, *, guard_keys: int | None = None, guarded: bool = True) -> None:
        self.name = name
        self.source = (_type_guard(guard_keys) if guarded else "") + source(name)
        self._sha: tuple[str, str] | None = None  # (source, its SHA1)

    @property
    def sha(self) -> str:
        """The SHA1 EVALSHA names the source by (computed again if the source was replaced)."""
        if self._sha is None or self._sha[0] is not self.source:
            digest = hashlib.sha1(self.source.encode("utf-8"), usedforsecurity=False)
            self._sha = (self.source, digest.hexdigest())
        return self._sha[1]

    async def _evalsha(self, redis: Redis, numkeys: int, args: list[Any], raw: bool) -> Any:
        options = {"NEVER_DECODE": True} if raw else {}
        return await redis.execute_command(  # type: ignore[no-untyped-call]
            "EVALSHA", self.sha, numkeys, *args, **options
        )

    async def __call__(
        self,
        redis: Redis,
        keys_: Sequence[str],
        args: Sequence[str | bytes | int | float],
        *,
        raw: bool = False,
    ) -> Any:
        """Run the script; ``raw=True`` returns bytes undecoded (a reply that may carry a damaged
        record: UTF-8 decoding would fail the whole reply on one bad byte)."""
        everything = [*keys_, *args]
        try:
            try:
                return await self._evalsha(redis, len(keys_), everything, raw)
            except NoScriptError:
                await redis.script_load(self.source)
                return await self._evalsha(redis, len(keys_), everything, raw)
        except ResponseError as exc:
            message = str(exc)
            if GUARD_ERROR not in message:
                raise
            detail = message.split(GUARD_ERROR, 1)[1].strip()
            raise wrong_type(detail.split(" ", 1)[0], detail) from exc


def wrong_type(key: str, detail: str) -> WrongKeyType:
    """The error for a change refused because ``key`` holds another Redis type (reported once)."""
    records.report_damaged("key", key, detail)
    return WrongKeyType(
        f"A stored record ({key}) is damaged, so nothing was changed; "
        "an operator must repair or delete it"
    )


# The queue (shared.queue.queue).
ADD = Script("add")
QUEUE_CHANGED = Script("queue_changed")
RELEASE_ID = Script("release_id")
VOTE = Script("vote")
JAM = Script("jam")
COMMENT = Script("comment")
REMOVE = Script("remove")
CLEAR = Script("clear", guard_keys=4)  # then items only deleted, whatever their type
VIEW = Script("view", guarded=False)  # reads only; MGET reads a wrong type as nil
# Playback control and airhorns (shared.queue.control, .airhorns, .now_playing).
SKIP = Script("skip")
PAUSE = Script("pause")
AIRHORN = Script("airhorn")
PUBLISH_NOW_PLAYING = Script("publish_now_playing")
# Moderation (shared.queue.moderation).
MOD_SKIP = Script("mod_skip")
MOD_REMOVE = Script("mod_remove")
MOD_RECORD = Script("mod_record")
# The player (shared.queue.playback).
ACQUIRE_LEADER = Script("acquire_leader")
RELEASE_LEADER = Script("release_leader")
ADVANCE = Script("advance", guard_keys=14)  # song keys: a wrong type reads as damaged
SEED_HISTORY = Script("seed_history")
# Bender's preview steps (shared.queue.preview).
SET_PREVIEW = Script("set_preview")
PROMOTE_PREVIEW = Script("promote_preview")
FILTER_PREVIEW = Script("filter_preview")
# Fixed-window limits (shared.ratelimit): a damaged counter starts a new window instead.
RATE_HIT = Script("rate_hit", guarded=False)
RATE_GIVE_BACK = Script("rate_give_back", guarded=False)
# Open event streams per user / token across replicas (shared.streamcap).
STREAM_LEASE = Script("stream_lease")
