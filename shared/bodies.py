"""Request and response bodies of the actions the api and the web both offer: one model each.

Strict types: ``"true"`` is not a boolean, ``1`` is not an id. A required text that is null or
empty counts as missing (``Missing required field: <name>`` in both services). Unknown fields are
ignored: a spoofed ``email`` or ``user`` is dropped, never read (identity comes from the token or
the session).
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictBool, StrictStr
from pydantic_core import PydanticCustomError

from shared.queue.moderation import Outcome
from shared.spotify.uris import REF_PATTERN

MAX_ID_LEN = 64
MAX_URI_LEN = 300
MAX_DEVICE_ID_LEN = 128


def _present_text(value: Any) -> Any:
    if value is None or value == "":
        raise PydanticCustomError("missing", "Field required")
    if isinstance(value, str):
        try:
            value.encode("utf-8")  # lone surrogates ("\ud800") parse as JSON but are not text
        except UnicodeEncodeError as exc:
            raise PydanticCustomError("string_unicode", "Not valid text") from exc
    return value


def _text(max_len: int, **schema: Any) -> Any:
    return Field(min_length=1, max_length=max_len, json_schema_extra=schema or None)


def _integer_id(value: Any) -> Any:
    # Bots written for the original send ids as JSON numbers: the same id, accepted as its text.
    if type(value) is int and value >= 0:
        return str(value)
    return value


Present = BeforeValidator(_present_text)
# What an id looks like is the domain's rule (shared.queue.queue: anything else is simply not in
# the queue, 404); the length here only documents the ids it issues.
ItemId = Annotated[
    StrictStr,
    Present,
    BeforeValidator(_integer_id),
    Field(json_schema_extra={"minLength": 1, "maxLength": MAX_ID_LEN}),
]
# The pattern documents what parse_ref accepts; each service checks the reference itself, with
# its own message.
TrackRef = Annotated[
    StrictStr,
    Present,
    _text(
        MAX_URI_LEN,
        pattern=REF_PATTERN,
        description="spotify:track:…, spotify:episode:… or an open.spotify.com link",
    ),
]


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)


class UriBody(_Body):
    uri: TrackRef


class IdBody(_Body):
    id: ItemId


class VoteBody(_Body):
    id: ItemId
    up: StrictBool = True


class CommentBody(_Body):
    id: ItemId
    text: Annotated[StrictStr, Present]  # its length is a domain rule (shared.queue)


class AirhornBody(_Body):
    name: Annotated[StrictStr, Present]  # which names exist is a domain rule (shared.queue)


class TransferBody(_Body):
    """The api's ``POST /api/spotify/transfer``."""

    device_id: Annotated[StrictStr, Present, _text(MAX_DEVICE_ID_LEN)]
    play: StrictBool = True


class Moderated(BaseModel):
    """A skip or remove decided by moderation: ``done`` (skipped / removed, ``how``), or the
    caller's vote counted (``votes`` of ``needed``)."""

    ok: bool = True
    done: bool
    how: str
    votes: int
    needed: int

    @classmethod
    def of(cls, outcome: Outcome) -> Moderated:
        return cls(done=outcome.done, how=outcome.how, votes=outcome.votes, needed=outcome.needed)
