"""Queue deltas: applying ``diff(a, b)`` to ``a`` gives ``b`` exactly, and a delta's size follows
the change, not the queue."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.queue.delta import Snapshot, apply, diff, version_of
from shared.queue.queue import QueueView


def _item(item_id: str, votes: int = 0, pad: int = 0) -> str:
    return json.dumps(
        {"id": item_id, "title": f"Song {item_id}", "votes": votes, "pad": "x" * pad},
        separators=(",", ":"),
    )


def _snap(items: list[tuple[str, str]], preview: str | None = None) -> Snapshot:
    return Snapshot.of(QueueView.of(items, preview))


def _decoded(snap: Snapshot) -> dict[str, object]:
    return json.loads(snap.json)


views = st.lists(
    st.tuples(st.integers(0, 30).map(str), st.integers(-3, 3)),
    max_size=25,
    unique_by=lambda t: t[0],
).map(lambda pairs: [(item_id, _item(item_id, votes)) for item_id, votes in pairs])
previews = st.none() | st.sampled_from(["a", "b"]).map(lambda p: _item("p" + p))


@settings(max_examples=400, deadline=None)
@given(views, views, previews, previews)
def test_applying_the_delta_gives_the_new_view_exactly(old, new, old_preview, new_preview):
    a, b = _snap(old, old_preview), _snap(new, new_preview)
    payload = diff(a, b)
    if payload is None:
        assert a.version == b.version
        assert a.json == b.json
        return
    delta = json.loads(payload)
    assert delta["base"] == a.version and delta["version"] == b.version
    assert apply(_decoded(a), delta) == _decoded(b)


def test_a_vote_on_a_long_queue_is_one_changed_song_and_one_move():
    items = [(str(k), _item(str(k), pad=1500)) for k in range(500)]
    a = _snap(items)
    # The vote moves song 250 above its neighbour (a swap) and changes its count.
    swapped = items[:249] + [(items[250][0], _item("250", votes=1, pad=1500)), items[249]]
    b = _snap(swapped + items[251:])
    payload = diff(a, b)
    assert payload is not None
    delta = json.loads(payload)
    assert delta["removed"] == []
    assert [i["id"] for i in delta["items"]] == ["250"]
    assert len(delta["moves"]) == 1
    # The delta is the changed song plus a small envelope, whatever the queue's length.
    assert len(payload) <= len(_item("250", votes=1, pad=1500)) + 200
    assert len(b.json) > 500 * 1500


def test_an_add_and_a_removal_move_nothing_else():
    items = [(str(k), _item(str(k))) for k in range(100)]
    a = _snap(items)
    b = _snap(items[1:50] + [("new", _item("new"))] + items[50:])
    delta = json.loads(diff(a, b) or "{}")
    assert delta["removed"] == ["0"]
    assert delta["moves"] == [["new", "49"]]
    assert [i["id"] for i in delta["items"]] == ["new"]
    assert "preview" not in delta


def test_the_preview_is_sent_only_when_it_changes():
    items = [("1", _item("1"))]
    a, b = _snap(items, None), _snap(items, _item("p"))
    delta = json.loads(diff(a, b) or "{}")
    assert delta["preview"] == json.loads(_item("p"))
    assert delta["items"] == [] and delta["moves"] == []


def test_a_delta_refuses_a_view_of_another_version():
    a, b = _snap([("1", _item("1"))]), _snap([])
    with pytest.raises(ValueError, match="base"):
        apply({"version": "0000", "queue": [], "preview": None}, json.loads(diff(a, b) or "{}"))


def test_versions_name_the_content():
    assert version_of('{"queue":[],"preview":null}') == _snap([]).version
    assert _snap([("1", _item("1"))]).version != _snap([("1", _item("1", votes=1))]).version
    assert len(_snap([]).version) == 16
