from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from shared.bodies import (
    MAX_ID_LEN,
    AirhornBody,
    CommentBody,
    IdBody,
    TransferBody,
    UriBody,
    VoteBody,
)
from shared.spotify.uris import REF_PATTERN


def _error(model: type[BaseModel], data: Any) -> tuple[str, tuple[int | str, ...]]:
    with pytest.raises(ValidationError) as info:
        model.model_validate(data)
    first = info.value.errors()[0]
    return first["type"], first["loc"]


@pytest.mark.parametrize(
    ("model", "field"),
    [(IdBody, "id"), (UriBody, "uri"), (CommentBody, "text"), (AirhornBody, "name"),
     (TransferBody, "device_id")],
)  # fmt: skip
def test_bodies_null_or_empty_text_counts_as_missing(model: type[BaseModel], field: str) -> None:
    others = {"id": "1"} if model is CommentBody else {}
    for data in ({}, {field: None}, {field: ""}):
        assert _error(model, {**others, **data}) == ("missing", (field,))


def test_bodies_strict_types_refused() -> None:
    for value in (-1, 1.5, True, [], {}, ["x"]):
        assert _error(IdBody, {"id": value})[1] == ("id",)
    # Old bots send ids as JSON numbers: a whole number is read as its text.
    assert IdBody.model_validate({"id": 12}).id == "12"
    for up in ("true", "false", 0, 1, None, "yes"):
        assert _error(VoteBody, {"id": "1", "up": up})[1] == ("up",)
    assert VoteBody.model_validate({"id": "1"}).up is True
    assert TransferBody.model_validate({"device_id": "d"}).play is True


def test_bodies_lengths_and_lone_surrogates_refused() -> None:
    # An id's shape is the domain's rule (a longer one is simply not found); documented here.
    assert IdBody.model_validate({"id": "x" * 10_000}).id == "x" * 10_000
    assert IdBody.model_json_schema()["properties"]["id"]["maxLength"] == MAX_ID_LEN
    assert _error(IdBody, {"id": "\ud800"}) == ("string_unicode", ("id",))
    assert _error(UriBody, {"uri": "x" * 400})[1] == ("uri",)


def test_bodies_unknown_fields_ignored() -> None:
    body = CommentBody.model_validate({"id": "1", "text": "hi", "user": "boss@example.com"})
    assert body.model_dump() == {"id": "1", "text": "hi"}


def test_bodies_schema_documents_reference_pattern() -> None:
    uri = UriBody.model_json_schema()["properties"]["uri"]
    assert uri["pattern"] == REF_PATTERN and uri["minLength"] == 1
    # Documented only: each service checks the reference itself, with its own message.
    assert UriBody.model_validate({"uri": "hello"}).uri == "hello"
