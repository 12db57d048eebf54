"""What a readable stored record is, checked the same way in Python and in Lua, and reported once.

A value in Redis may be damaged (a bad restore, a hand edit, a bug in an old version). Readers
skip what they cannot decode instead of failing every view; writers refuse before changing
anything. The item shape (DESIGN §4.3) comes from ``shared.queue.models``; the field tables of
the scripts' checker (``scripts/checks.lua``) are rendered from it, so both sides agree.
"""

from __future__ import annotations

import hashlib
import json
import logging
import typing
from collections import OrderedDict
from functools import lru_cache
from typing import Any, cast

from pydantic import BaseModel
from redis.asyncio import Redis

from shared.queue.models import Comment, Item, Play

log = logging.getLogger(__name__)

# name, kind, required
Field = tuple[str, str, bool]


def _kind(annotation: Any) -> str:
    if annotation is str:
        return "string"
    if annotation is bool:
        return "boolean"
    if annotation is int:
        return "int"
    if annotation is float:
        return "number"
    if typing.get_origin(annotation) is list:
        (arg,) = typing.get_args(annotation)
        if arg is str:
            return "strings"
        if arg is Comment:
            return "comments"
    raise TypeError(f"no record check for {annotation!r}")


def _fields(model: type[BaseModel]) -> tuple[Field, ...]:
    return tuple(
        (name, _kind(info.annotation), info.is_required())
        for name, info in model.model_fields.items()
    )


ITEM_FIELDS = _fields(Item)
COMMENT_FIELDS = _fields(Comment)
# The clock fields of ``andre:now_playing`` around its ``item`` (docs/contracts.md); the player
# always writes them, older records may lack one, so only their type is checked.
NOW_PLAYING_FIELDS: tuple[Field, ...] = (
    ("started_at", "number", False),
    ("pos_ms", "number", False),
    ("anchor_ms", "number", False),
    ("paused", "boolean", False),
)
PLAY_FIELDS = _fields(Play)


# --- Python side ------------------------------------------------------------------------------


class UnreadableRecord(ValueError):
    """A stored value that does not decode to the expected shape; ``str()`` says why."""


# Numbers must be exact in every JSON reader (JavaScript's and Lua's are doubles); the bound is
# exclusive, so that 2**53 + 1, which a double reads as 2**53, is refused on both sides.
_MAX_EXACT = 2**53


def _finite(value: Any) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    # False for NaN and the infinities too; an int is compared as an int (no float overflow).
    return abs(value) < _MAX_EXACT


def _value_ok(kind: str, value: Any) -> bool:
    if kind == "string":
        return isinstance(value, str)
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "number":
        return _finite(value)
    if kind == "int":
        # Lua cannot tell 3 from 3.0; neither side may.
        return _finite(value) and (isinstance(value, int) or value.is_integer())
    if kind == "strings":
        return isinstance(value, list) and all(isinstance(v, str) for v in value)
    if kind == "comments":
        return isinstance(value, list) and all(
            check_fields(c, COMMENT_FIELDS) is None for c in value
        )
    raise TypeError(kind)


def check_fields(data: Any, fields: tuple[Field, ...]) -> str | None:
    """Why ``data`` is not an object of these fields, or None when it is."""
    if not isinstance(data, dict):
        return "not a JSON object"
    for name, kind, required in fields:
        if name not in data:
            if required:
                return f"missing field {name}"
        elif not _value_ok(kind, data[name]):
            return f"ill-typed field {name}"
    return None


def check_item(data: Any, item_id: str | None = None) -> str | None:
    """Why ``data`` is not a queue item (with id ``item_id`` when given), or None."""
    why = check_fields(data, ITEM_FIELDS)
    if why is None and item_id is not None and data["id"] != item_id:
        why = "id does not match its key"
    return why


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def loads(raw: str | bytes) -> Any:
    """Strict JSON: UTF-8 only, and no NaN/Infinity (Python's json accepts them, browsers don't)."""
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8")
    return json.loads(raw, parse_constant=_no_constant)


@lru_cache(maxsize=4096)
def _item_text(raw: bytes, item_id: str | None) -> str | UnreadableRecord:
    # Cached by value: queue reads are hot and item records change rarely.
    try:
        data = loads(raw)
    except ValueError as exc:  # UnicodeDecodeError and JSONDecodeError included
        return UnreadableRecord(f"not JSON ({type(exc).__name__})")
    why = check_item(data, item_id)
    if why is not None:
        return UnreadableRecord(why)
    return raw.decode("utf-8")


def item_text(raw: bytes, item_id: str | None = None) -> str:
    """The stored item as JSON text, checked; raises UnreadableRecord when it is not one."""
    result = _item_text(raw, item_id)
    if isinstance(result, UnreadableRecord):
        raise result
    return result


def uri_of(raw: bytes | None) -> str:
    """The track URI a stored item names ('' when none can be read). It only names keys to
    declare (the scripts check the record itself), so a record with a bad byte elsewhere still
    names its track."""
    try:
        data = json.loads(raw.decode("utf-8", "surrogateescape")) if raw else None
        uri = data.get("uri") if isinstance(data, dict) else None
        return uri.encode("utf-8").decode() if isinstance(uri, str) else ""
    except ValueError:  # UnicodeEncodeError and JSONDecodeError included
        return ""


def check_now_playing(raw: str | bytes) -> dict[str, Any]:
    """The decoded ``andre:now_playing`` record; UnreadableRecord when it is not a readable one."""
    try:
        record = loads(raw)
    except ValueError as exc:
        raise UnreadableRecord(f"not JSON ({type(exc).__name__})") from exc
    why = check_fields(record, NOW_PLAYING_FIELDS)
    if why is None:
        item = record.get("item")
        if isinstance(item, dict):
            # Lua's cjson writes an empty list as {}: the player re-encodes, so accept it.
            item = {k: [] if k in ("jams", "comments") and v == {} else v for k, v in item.items()}
            record["item"] = item
        why = check_item(item)
        why = None if why is None else f"item: {why}"
    if why is not None:
        raise UnreadableRecord(why)
    return cast(dict[str, Any], record)


async def execute(redis: Redis, *command: str | bytes | int | float, raw: bool = False) -> Any:
    """Run a command; ``raw=True`` returns bytes undecoded, for replies that may carry a damaged
    record (the client's UTF-8 decoding would fail the whole reply on one bad byte)."""
    options = {"NEVER_DECODE": True} if raw else {}
    return await redis.execute_command(*command, **options)  # type: ignore[no-untyped-call]


# --- reported once --------------------------------------------------------------------------


class _Reported:
    """A bounded set of damaged records already logged by this process (oldest forgotten)."""

    def __init__(self, max_size: int = 1024) -> None:
        self.max_size = max_size
        self._seen: OrderedDict[str, None] = OrderedDict()

    def first(self, key: str) -> bool:
        if key in self._seen:
            return False
        self._seen[key] = None
        if len(self._seen) > self.max_size:
            self._seen.popitem(last=False)
        return True

    def clear(self) -> None:
        self._seen.clear()


_reported = _Reported()


def raw_digest(raw: str | bytes) -> str:
    data = raw.encode("utf-8", "surrogateescape") if isinstance(raw, str) else raw
    return hashlib.sha256(data).hexdigest()[:12]


def report_damaged(kind: str, ident: str, why: str) -> None:
    """Log a damaged record once per process: every read meets it again, the log must not."""
    if _reported.first(f"{kind}:{ident}"):
        log.warning(
            "damaged %s record %s skipped: %s",
            kind,
            ident,
            why,
            extra={"record_kind": kind, "record": ident},
        )


def forget_reports() -> None:
    """Forget what was reported (tests, where ids repeat from one test to the next)."""
    _reported.clear()


# --- Lua side -------------------------------------------------------------------------------


def _lua_table(fields: tuple[Field, ...]) -> str:
    rows = ", ".join(
        f"{{'{name}', '{kind}', {'true' if required else 'false'}}}"
        for name, kind, required in fields
    )
    return "{" + rows + "}"


def lua_field_tables() -> str:
    """The item, comment and now-playing field tables of ``scripts/checks.lua``: the same rule
    as ``check_item`` above, rendered from the models so both sides agree."""
    return (
        f"local ITEM_FIELDS = {_lua_table(ITEM_FIELDS)}\n"
        f"local COMMENT_FIELDS = {_lua_table(COMMENT_FIELDS)}\n"
        f"local NP_FIELDS = {_lua_table(NOW_PLAYING_FIELDS)}\n"
    )
