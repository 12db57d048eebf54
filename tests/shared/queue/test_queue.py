from __future__ import annotations

import asyncio
import json

import pytest
from redis.asyncio import Redis

from shared import keys
from shared.queue import queue as q
from shared.queue.errors import (
    AlreadyQueued,
    AlreadyVoted,
    InvalidInput,
    ItemNotFound,
    OwnSongUpvote,
    QueueFull,
    SongPlaying,
)
from tests.shared.queue.helpers import event_types, queue_view, set_playing, track
from tests.support.redis_server import RedisServer

A = "a@example.com"
B = "b@example.com"


async def _titles(redis: Redis) -> list[str]:
    return [item.title for item in (await queue_view(redis)).queue]


async def test_add_item_fairness_example_orders_rounds(redis_api: Redis) -> None:
    a1 = await q.add_item(redis_api, track("a1"), A)
    await q.add_item(redis_api, track("a2"), A)
    a3 = await q.add_item(redis_api, track("a3"), A)
    await q.add_item(redis_api, track("b1"), B)
    assert await _titles(redis_api) == ["Song a1", "Song b1", "Song a2", "Song a3"]

    assert await q.vote(redis_api, a3.id, B, True) == 2
    assert await _titles(redis_api) == ["Song a1", "Song b1", "Song a3", "Song a2"]
    with pytest.raises(AlreadyVoted):
        await q.vote(redis_api, a3.id, B, True)
    with pytest.raises(AlreadyVoted):
        await q.vote(redis_api, a3.id, B, False)
    with pytest.raises(OwnSongUpvote):
        await q.vote(redis_api, a1.id, A, True)
    view = await queue_view(redis_api)
    assert [i.votes for i in view.queue] == [0, 0, 1, 0]


async def test_add_item_stores_item_shape_and_event(redis_api: Redis) -> None:
    item = await q.add_item(redis_api, track(7), "Someone@Example.com")
    assert item.user == "Someone@Example.com"
    assert item.uri == "spotify:track:" + "7".rjust(22, "0")
    assert item.jams == [] and item.comments == [] and item.votes == 0 and not item.auto
    assert item.added_at > 1_700_000_000
    assert await redis_api.hget(keys.QUEUE_OWNERS, item.id) == "someone@example.com"
    assert await event_types(redis_api) == ["queue_update"]
    assert await redis_api.lrange(keys.PLAYER_WAKE, 0, -1) == ["add"]
    assert await redis_api.exists(keys.filtered(item.uri))


async def test_add_item_full_queue_raises(redis_api: Redis) -> None:
    rules = q.QueueRules(max_len=2)
    await q.add_item(redis_api, track(1), A, rules=rules)
    await q.add_item(redis_api, track(2), B, rules=rules)
    with pytest.raises(QueueFull):
        await q.add_item(redis_api, track(3), A, rules=rules)


async def test_vote_down_moves_one_slot_and_counts(redis_api: Redis) -> None:
    x = await q.add_item(redis_api, track(1), A)
    await q.add_item(redis_api, track(2), B)
    assert await q.vote(redis_api, x.id, B, False) == 1
    assert (await q.get_item(redis_api, x.id)).votes == -1
    assert await q.vote(redis_api, x.id, A, False) == 1  # own downvote: allowed once, at the end


async def test_vote_top_item_counts_without_moving(redis_api: Redis) -> None:
    x = await q.add_item(redis_api, track(1), A)
    assert await q.vote(redis_api, x.id, B, True) == 0
    assert (await q.get_item(redis_api, x.id)).votes == 1


async def test_vote_unknown_id_raises_not_found(redis_api: Redis) -> None:
    with pytest.raises(ItemNotFound):
        await q.vote(redis_api, "999", A, True)
    with pytest.raises(ItemNotFound):
        await q.vote(redis_api, "bad id with spaces", A, True)


async def test_remove_item_deletes_records_and_unknown_raises(redis_api: Redis) -> None:
    x = await q.add_item(redis_api, track(1), A)
    await q.vote(redis_api, x.id, B, True)
    await q.remove_item(redis_api, x.id)
    assert await q.get_queue_ids(redis_api) == []
    assert not await redis_api.exists(keys.item(x.id), keys.item_votes(x.id))
    assert await redis_api.hlen(keys.QUEUE_OWNERS) == 0
    with pytest.raises(ItemNotFound):
        await q.remove_item(redis_api, x.id)


async def test_clear_queue_removes_everything(redis_api: Redis) -> None:
    for n in range(5):
        await q.add_item(redis_api, track(n), A if n % 2 else B)
    assert await q.clear_queue(redis_api) == 5
    assert (await queue_view(redis_api)).queue == []
    assert not await redis_api.exists(keys.QUEUE, keys.QUEUE_OWNERS, keys.item("1"))
    assert (await event_types(redis_api))[-1] == "queue_update"


async def test_toggle_jam_queued_item_toggles(redis_api: Redis) -> None:
    x = await q.add_item(redis_api, track(1), A)
    assert await q.toggle_jam(redis_api, x.id, "C@example.com") is True
    assert (await q.get_item(redis_api, x.id)).jams == ["c@example.com"]
    assert await q.toggle_jam(redis_api, x.id, "c@example.com") is False
    raw = await redis_api.get(keys.item(x.id))
    assert '"jams":[]' in raw


async def test_toggle_jam_now_playing_emits_now_playing(redis_api: Redis) -> None:
    await set_playing(redis_api, "np1")
    assert await q.toggle_jam(redis_api, "np1", B) is True
    record = json.loads(await redis_api.get(keys.NOW_PLAYING))
    assert record["item"]["jams"] == [B]
    fields = (await redis_api.xrange(keys.EVENTS))[-1][1]
    assert fields["type"] == "now_playing"
    assert json.loads(fields["data"])["jams"] == [B]


async def test_toggle_jam_threshold_awards_one_free_credit(redis_api: Redis) -> None:
    rules = q.QueueRules(airhorn_free_jams=2)
    x = await q.add_item(redis_api, track(1), A)
    await q.toggle_jam(redis_api, x.id, A, rules=rules)  # own jam does not count
    await q.toggle_jam(redis_api, x.id, "c@example.com", rules=rules)
    assert await redis_api.get(keys.free_horns(A)) is None
    await q.toggle_jam(redis_api, x.id, "d@example.com", rules=rules)
    assert await redis_api.get(keys.free_horns(A)) == "1"
    await q.toggle_jam(redis_api, x.id, "d@example.com", rules=rules)
    await q.toggle_jam(redis_api, x.id, "d@example.com", rules=rules)
    assert await redis_api.get(keys.free_horns(A)) == "1"


async def test_toggle_jam_award_announces_the_queuers_new_count(redis_api: Redis) -> None:
    rules = q.QueueRules(airhorn_free_jams=1)
    await redis_api.set(keys.free_horns(A), 2)
    x = await q.add_item(redis_api, track(1), "A@Example.com")
    await q.toggle_jam(redis_api, x.id, B, rules=rules)
    credits = [
        json.loads(f["data"])
        for _, f in await redis_api.xrange(keys.EVENTS)
        if f["type"] == "credits"
    ]
    assert credits == [{"user": A, "free": 3}]


async def test_toggle_jam_award_at_cap_announces_nothing(redis_api: Redis) -> None:
    rules = q.QueueRules(airhorn_free_jams=1, airhorn_free_max=2)
    await redis_api.set(keys.free_horns(A), 2)
    x = await q.add_item(redis_api, track(1), A)
    await q.toggle_jam(redis_api, x.id, B, rules=rules)
    assert "credits" not in await event_types(redis_api)


async def test_add_comment_strips_controls_and_keeps_text(redis_api: Redis) -> None:
    x = await q.add_item(redis_api, track(1), A)
    text = await q.add_comment(redis_api, x.id, B, "  hi\x00 <b>there</b>\u202e\nok  ")
    assert text == "hi <b>there</b> ok"
    item = await q.get_item(redis_api, x.id)
    assert [(c.user, c.text) for c in item.comments] == [(B, "hi <b>there</b> ok")]
    assert item.comments[0].time > 1_700_000_000


@pytest.mark.parametrize("text", ["", "   ", "\x00\x01", "x" * 501])
async def test_add_comment_bad_text_raises(redis_api: Redis, text: str) -> None:
    x = await q.add_item(redis_api, track(1), A)
    with pytest.raises(InvalidInput):
        await q.add_comment(redis_api, x.id, B, text)


async def test_add_comment_now_playing_and_unknown(redis_api: Redis) -> None:
    await set_playing(redis_api, "np1")
    await q.add_comment(redis_api, "np1", B, "great")
    record = json.loads(await redis_api.get(keys.NOW_PLAYING))
    assert record["item"]["comments"][0]["text"] == "great"
    with pytest.raises(ItemNotFound):
        await q.add_comment(redis_api, "nope", B, "great")


async def test_queue_view_includes_preview(redis_api: Redis) -> None:
    await q.add_item(redis_api, track(1), A)
    preview = (await q.add_item(redis_api, track(2), A)).model_copy(update={"auto": True})
    await redis_api.set(keys.PREVIEW, preview.model_dump_json())
    view = await queue_view(redis_api)
    assert view.preview is not None and view.preview.auto
    await redis_api.set(keys.PREVIEW, "not json")
    assert (await queue_view(redis_api)).preview is None


async def test_add_item_previewed_track_drops_stale_preview(redis_api: Redis) -> None:
    suggestion = (await q.add_item(redis_api, track(7), A, auto=True)).model_copy()
    await q.remove_item(redis_api, suggestion.id)
    await redis_api.set(keys.PREVIEW, suggestion.model_dump_json())
    await q.add_item(redis_api, track(8), B)
    assert await redis_api.get(keys.PREVIEW) is not None  # another track: the suggestion stays
    await q.add_item(redis_api, track(7), B)
    assert await redis_api.get(keys.PREVIEW) is None  # B queued the suggested track itself
    assert (await queue_view(redis_api)).preview is None


async def test_queue_reader_coalesces_concurrent_reads(
    redis_api: Redis, redis_clean: RedisServer
) -> None:
    await q.add_item(redis_api, track(1), A)
    reader = q.QueueReader(redis_api)
    await reader.get_json()
    admin = redis_clean.client("andre-admin")
    try:
        before = (await admin.info("commandstats"))["cmdstat_evalsha"]["calls"]
        results = await asyncio.gather(*(reader.get_json() for _ in range(50)))
        after = (await admin.info("commandstats"))["cmdstat_evalsha"]["calls"]
    finally:
        await admin.aclose()
    assert len(set(results)) == 1 and json.loads(results[0])["queue"][0]["title"] == "Song 1"
    assert after - before <= 2  # one read in flight, one shared by everyone who came meanwhile


async def test_queue_reader_never_older_than_the_request(redis_api: Redis) -> None:
    reader = q.QueueReader(redis_api)
    in_flight = asyncio.create_task(reader.get_json())
    await asyncio.sleep(0)
    item = await q.add_item(redis_api, track(2), B)
    fresh = json.loads(await reader.get_json())
    assert [i["id"] for i in fresh["queue"]] == [item.id]
    await in_flight


async def test_read_queue_known_ids_out_of_date_reads_the_current_queue(redis_api: Redis) -> None:
    a = await q.add_item(redis_api, track(1), A)
    b = await q.add_item(redis_api, track(2), B)
    _, ids = await q.read_queue_view(redis_api, [])  # ids queued since: declared and read again
    assert ids == [a.id, b.id]
    await q.remove_item(redis_api, a.id)
    view, ids = await q.read_queue_view(redis_api, ids)  # an id removed since: simply not there
    assert ids == [b.id] and [i["id"] for i in json.loads(view.text)["queue"]] == [b.id]


async def test_add_item_of_queued_song_raises_already_queued(redis_api: Redis) -> None:
    x = await q.add_item(redis_api, track(1), A)
    with pytest.raises(AlreadyQueued) as info:
        await q.add_item(redis_api, track(1), B)
    assert info.value.item_id == x.id
    assert await q.get_queue_ids(redis_api) == [x.id]


async def test_add_item_of_playing_song_raises_song_playing(redis_api: Redis) -> None:
    await set_playing(redis_api, "np1")
    playing_uri = "spotify:track:" + "1" * 22
    with pytest.raises(SongPlaying):
        await q.add_item(redis_api, track("1" * 22), A)
    assert track("1" * 22).uri == playing_uri
    assert await q.get_queue_ids(redis_api) == []


async def test_add_item_auto_duplicate_is_allowed(redis_api: Redis) -> None:
    await q.add_item(redis_api, track(1), A)
    await q.add_item(redis_api, track(1), "bender@andre", auto=True)
    assert len(await q.get_queue_ids(redis_api)) == 2


async def test_add_or_vote_duplicate_upvotes_then_jams_then_already(redis_api: Redis) -> None:
    x = await q.add_item(redis_api, track(1), A)
    await q.add_item(redis_api, track(2), "c@example.com")
    first = await q.add_or_vote(redis_api, track(1), B)
    assert (first.item_id, first.outcome) == (x.id, "upvoted")
    assert (await q.get_item(redis_api, x.id)).votes == 1
    second = await q.add_or_vote(redis_api, track(1), B)
    assert second.outcome == "jammed"
    assert (await q.get_item(redis_api, x.id)).jams == [B]
    third = await q.add_or_vote(redis_api, track(1), B)
    assert third.outcome == "already" and "already queued" in third.message
    own = await q.add_or_vote(redis_api, track(1), A)
    assert own.outcome == "jammed"
    fresh = await q.add_or_vote(redis_api, track(3), B)
    assert fresh.outcome == "added" and fresh.item_id != x.id


async def test_toggle_jam_queuer_missing_from_owners_hash_still_awards(redis_api: Redis) -> None:
    item = await q.add_item(redis_api, track(1), A)
    await redis_api.hdel(keys.QUEUE_OWNERS, item.id)  # e.g. written by an older version
    rules = q.QueueRules(airhorn_free_jams=1)
    assert await q.toggle_jam(redis_api, item.id, B, rules=rules) is True
    assert await redis_api.get(keys.free_horns(A)) == "1"


async def test_add_item_duplicate_of_item_queued_before_uris_hash_found(redis_api: Redis) -> None:
    old = await q.add_item(redis_api, track(1), A)
    other = await q.add_item(redis_api, track(2), A)
    await redis_api.delete(keys.QUEUE_URIS)  # as an older version left it
    with pytest.raises(AlreadyQueued) as info:
        await q.add_item(redis_api, track(1), B)
    assert info.value.item_id == old.id
    assert await redis_api.hgetall(keys.QUEUE_URIS) == {
        old.id: track(1).uri,
        other.id: track(2).uri,
    }
    assert await q.get_queue_ids(redis_api) == [old.id, other.id]
