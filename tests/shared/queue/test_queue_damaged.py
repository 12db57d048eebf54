from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from redis.asyncio import Redis

from shared import keys
from shared.queue import queue as q
from shared.queue import records
from shared.queue.errors import DamagedRecord
from shared.queue.models import QueueView
from tests.shared.queue.helpers import event_types, queue_view, set_playing, track
from tests.support.redis_server import RedisServer

A = "a@example.com"
B = "b@example.com"
C = "c@example.com"


def _strict(text: str) -> Any:
    # Python's json accepts NaN and Infinity; browsers do not.
    def refuse(name: str) -> None:
        raise AssertionError(f"{name} in JSON")

    return json.loads(text, parse_constant=refuse)


def _reports(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "shared.queue.records"]


async def _three(redis: Redis) -> list[str]:
    return [(await q.add_item(redis, track(n), user)).id for n, user in ((1, A), (2, B), (3, C))]


def _stored(item_id: str, **changes: Any) -> str:
    record = {
        "id": item_id,
        "uri": "spotify:track:" + "2" * 22,
        "title": "Song",
        "artist": "Band",
        "duration_ms": 200_000,
        "user": B,
        "votes": 0,
        "jams": [],
        "comments": [],
        "auto": False,
        "added_at": 1_700_000_000.5,
    }
    record.update(changes)
    return json.dumps({k: v for k, v in record.items() if v is not ...})


DAMAGED: list[bytes | str] = [
    b'{"id":"2","title":',  # cut short
    b"\xff\xfe not utf-8",
    "[1, 2, 3]",
    '"a string"',
    "",
    _stored("2", title=...),
    _stored("2", votes="many"),
    _stored("2", comments=[{"user": B}]),
    _stored("9"),  # another item's record under this key
    _stored("2").replace("1700000000.5", "NaN"),
]


@pytest.mark.parametrize("raw", DAMAGED)
async def test_queue_view_damaged_item_skipped(redis_api: Redis, raw: bytes | str) -> None:
    a, b, c = await _three(redis_api)
    await redis_api.set(keys.item(b), raw)
    view = _strict((await q.read_queue_view(redis_api))[0].text)
    assert [item["id"] for item in view["queue"]] == [a, c]
    assert view["preview"] is None
    QueueView.model_validate(view)


async def test_queue_view_damaged_item_reported_once_until_removed(
    redis_api: Redis, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="shared.queue.records")
    a, b, c = await _three(redis_api)
    await redis_api.set(keys.item(b), b"{not json")
    for _ in range(3):
        assert [i.id for i in (await queue_view(redis_api)).queue] == [a, c]
    assert _reports(caplog) == [
        f"damaged queue item record {b} skipped: not JSON (JSONDecodeError)"
    ]
    # Removing is how a person clears it: it needs no readable record.
    await q.remove_item(redis_api, b)
    assert [i.id for i in (await queue_view(redis_api)).queue] == [a, c]
    assert len(_reports(caplog)) == 1


async def test_queue_view_damaged_preview_reads_as_none(
    redis_api: Redis, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="shared.queue.records")
    (a, *_) = await _three(redis_api)
    await redis_api.set(keys.PREVIEW, json.dumps({"uri": 5}))
    for _ in range(2):
        view = _strict((await q.read_queue_view(redis_api))[0].text)
        assert view["preview"] is None and len(view["queue"]) == 3
    assert len(_reports(caplog)) == 1 and "damaged preview record" in _reports(caplog)[0]


@pytest.mark.parametrize("raw", [b"{cut", _stored("2", title=...)])
async def test_vote_damaged_item_refused_records_nothing(
    redis_api: Redis, raw: bytes | str
) -> None:
    a, b, c = await _three(redis_api)
    await redis_api.set(keys.item(b), raw)
    before = await event_types(redis_api)
    for _ in range(2):  # a retry gets the same answer, not "already voted"
        with pytest.raises(DamagedRecord, match="damaged"):
            await q.vote(redis_api, b, A, True)
    assert await redis_api.smembers(keys.item_votes(b)) == set()
    assert await q.get_queue_ids(redis_api) == [a, b, c]
    assert await event_types(redis_api) == before
    assert await redis_api.get(keys.item(b)) == (raw if isinstance(raw, str) else raw.decode())


@pytest.mark.parametrize("raw", ["{cut", _stored("2", jams="a@example.com")])
async def test_toggle_jam_damaged_item_refused_records_nothing(redis_api: Redis, raw: str) -> None:
    _, b, _ = await _three(redis_api)
    await redis_api.set(keys.item(b), raw)
    before = await event_types(redis_api)
    with pytest.raises(DamagedRecord):
        await q.toggle_jam(redis_api, b, A)
    assert await redis_api.get(keys.item(b)) == raw
    assert await event_types(redis_api) == before
    assert not await redis_api.exists(keys.free_horns(B), keys.item_horn_awarded(b))


@pytest.mark.parametrize("raw", ["{cut", _stored("2", comments={"x": 1})])
async def test_add_comment_damaged_item_refused_records_nothing(redis_api: Redis, raw: str) -> None:
    _, b, _ = await _three(redis_api)
    await redis_api.set(keys.item(b), raw)
    before = await event_types(redis_api)
    with pytest.raises(DamagedRecord):
        await q.add_comment(redis_api, b, A, "nice")
    assert await redis_api.get(keys.item(b)) == raw
    assert await event_types(redis_api) == before


async def test_toggle_jam_damaged_playing_item_refused(redis_api: Redis) -> None:
    await set_playing(redis_api, "np1")
    record = json.loads(await redis_api.get(keys.NOW_PLAYING) or "")
    record["item"]["title"] = ["not", "a", "title"]
    raw = json.dumps(record)
    await redis_api.set(keys.NOW_PLAYING, raw)
    with pytest.raises(DamagedRecord):
        await q.toggle_jam(redis_api, "np1", A)
    with pytest.raises(DamagedRecord):
        await q.add_comment(redis_api, "np1", A, "hi")
    assert await redis_api.get(keys.NOW_PLAYING) == raw
    assert await event_types(redis_api) == []


async def test_get_item_damaged_raises_damaged_record(redis_api: Redis) -> None:
    _, b, _ = await _three(redis_api)
    await redis_api.set(keys.item(b), b"\xff")
    with pytest.raises(DamagedRecord):
        await q.get_item(redis_api, b)


async def test_toggle_jam_damaged_credit_counter_reset_not_half_written(redis_api: Redis) -> None:
    item = await q.add_item(redis_api, track(1), A)
    await redis_api.set(keys.free_horns(A), "lots")
    for voter in ("x@example.com", "y@example.com", "z@example.com"):
        assert await q.toggle_jam(redis_api, item.id, voter) is True
    assert await redis_api.get(keys.free_horns(A)) == "1"
    assert len((await q.get_item(redis_api, item.id)).jams) == 3


async def _vote_on_bytes(server: RedisServer, raw: bytes) -> None:
    redis = server.client("andre-api")
    try:
        await server.wipe()
        a, b, c = await _three(redis)
        await redis.set(keys.item(b), raw)
        view = _strict((await q.read_queue_view(redis))[0].text)
        QueueView.model_validate(view)
        assert {i["id"] for i in view["queue"]} <= {a, b, c}
        try:
            await q.vote(redis, b, A, False)
        except DamagedRecord:
            assert await redis.scard(keys.item_votes(b)) == 0
    finally:
        await redis.aclose()
        await server.wipe()


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    raw=st.one_of(
        st.binary(max_size=200),
        st.text(max_size=200).map(str.encode),
        st.dictionaries(
            st.sampled_from(["id", "uri", "title", "artist", "duration_ms", "user", "added_at"]),
            st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=5)),
        ).map(lambda d: json.dumps({"id": "2", **d}).encode()),
    )
)
def test_queue_view_any_bytes_in_a_record_valid_json(redis_server: RedisServer, raw: bytes) -> None:
    records.forget_reports()
    asyncio.run(_vote_on_bytes(redis_server, raw))


async def test_add_item_damaged_id_counter_refused_nothing_changed(
    redis_api: Redis, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="shared.queue.records")
    first = await q.add_item(redis_api, track(1), A)
    await redis_api.set(keys.QUEUE_SEQ, "seven")
    before = await event_types(redis_api)
    for _ in range(2):
        with pytest.raises(DamagedRecord, match="id counter"):
            await q.add_item(redis_api, track(2), B)
    assert await q.get_queue_ids(redis_api) == [first.id]
    assert await event_types(redis_api) == before
    assert await redis_api.get(keys.QUEUE_SEQ) == "seven"
    assert len(_reports(caplog)) == 1


async def test_queue_view_dangling_id_skipped_reported_once(
    redis_api: Redis, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="shared.queue.records")
    a, b, c = await _three(redis_api)
    await redis_api.linsert(keys.QUEUE, "BEFORE", b, "99")
    for _ in range(2):
        view = _strict((await q.read_queue_view(redis_api))[0].text)
        assert [i["id"] for i in view["queue"]] == [a, b, c]
    assert _reports(caplog) == ["damaged queue item record 99 skipped: record missing"]
