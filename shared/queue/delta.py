"""Versioned queue views and the deltas between them (the ``queue_delta`` event).

A view's version is a digest of its wire text, so every process (and every replica) that reads
the same queue state names it the same way, with no counter to keep in Redis. A delta from view
``a`` to view ``b`` says only what changed, whatever the queue's length:

- ``removed``: ids in ``a`` and not in ``b``;
- ``items``: the whole record of every item of ``b`` that is new or whose record changed;
- ``moves``: ``[id, after]`` pairs, in ``b``'s order, for every item of ``b`` outside the longest
  run of items that kept their relative order (``after`` is the id it follows in ``b``, or
  ``null`` for the head). A vote (a swap of neighbours) is one move, an add one, a removal none;
- ``preview``: present only when the preview changed.

Applying (``apply``, and the same steps in ``services/web/static/js/live.js``): drop ``removed``
and every moved id, replace changed records in place, then insert the moved ids in order after
their anchors. The result is ``b`` exactly; ``tests/shared/queue/test_delta.py`` checks that on
random pairs of views.
"""

from __future__ import annotations

import bisect
import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from shared.queue.queue import QueueView


def version_of(text: str) -> str:
    """The version of a view: the first 16 hex digits of its wire text's BLAKE2b digest."""
    return hashlib.blake2b(text.encode("utf-8"), digest_size=8).hexdigest()


@dataclass(eq=False)
class Snapshot:
    """A view with its version; its wire forms are built once and shared by every stream."""

    view: QueueView
    version: str
    _json: str | None = field(default=None, repr=False)
    _texts: dict[str, str] | None = field(default=None, repr=False)
    _frame: tuple[str | None, bytes] | None = field(default=None, repr=False)

    @classmethod
    def of(cls, view: QueueView) -> Snapshot:
        return cls(view, version_of(view.text))

    @property
    def json(self) -> str:
        """The ``queue_update`` payload: the view with its version."""
        if self._json is None:
            self._json = '{"version":"' + self.version + '",' + self.view.text[1:]
        return self._json

    def frame(self, encode: Callable[[str | None, str, str], bytes], event_id: str | None) -> bytes:
        """The ``queue_update`` frame with ``event_id``; the newest one is kept, so streams
        starting together (a thousand browsers after a restart) share one encoding."""
        if self._frame is None or self._frame[0] != event_id:
            self._frame = (event_id, encode(event_id, "queue_update", self.json))
        return self._frame[1]

    @property
    def texts(self) -> dict[str, str]:
        if self._texts is None:
            self._texts = dict(self.view.items)
        return self._texts


def diff(old: Snapshot, new: Snapshot) -> str | None:
    """The ``queue_delta`` payload from ``old`` to ``new``; None when they are the same view."""
    if old.version == new.version:
        return None
    old_texts, new_texts = old.texts, new.texts
    new_order = [item_id for item_id, _ in new.view.items]
    removed = [item_id for item_id, _ in old.view.items if item_id not in new_texts]
    changed = [text for item_id, text in new.view.items if old_texts.get(item_id) != text]
    kept = _kept_in_order(old, new_order)
    moves = []
    for position, item_id in enumerate(new_order):
        if item_id not in kept:
            moves.append([item_id, new_order[position - 1] if position else None])
    parts = [
        '{"base":',
        json.dumps(old.version),
        ',"version":',
        json.dumps(new.version),
        ',"removed":',
        json.dumps(removed, separators=(",", ":")),
        ',"items":[',
        ",".join(changed),
        '],"moves":',
        json.dumps(moves, separators=(",", ":")),
    ]
    if old.view.preview != new.view.preview:
        parts += [',"preview":', new.view.preview or "null"]
    parts.append("}")
    return "".join(parts)


def _kept_in_order(old: Snapshot, new_order: Sequence[str]) -> set[str]:
    """The largest set of ids in both views whose relative order did not change (a longest
    increasing run of old positions, read in the new order): every other id is a move."""
    old_position = {item_id: k for k, (item_id, _) in enumerate(old.view.items)}
    ids = [item_id for item_id in new_order if item_id in old_position]
    tails: list[int] = []  # tails[k]: smallest old position ending a run of length k + 1
    tail_at: list[int] = []  # index in ids of that tail
    back: list[int] = []  # predecessor index in ids of each element's best run
    for k, item_id in enumerate(ids):
        pos = old_position[item_id]
        length = bisect.bisect_left(tails, pos)
        if length == len(tails):
            tails.append(pos)
            tail_at.append(k)
        else:
            tails[length] = pos
            tail_at[length] = k
        back.append(tail_at[length - 1] if length else -1)
    kept: set[str] = set()
    k = tail_at[-1] if tail_at else -1
    while k >= 0:
        kept.add(ids[k])
        k = back[k]
    return kept


def apply(view: dict[str, Any], delta: dict[str, Any]) -> dict[str, Any]:
    """A decoded ``queue_update`` view after a decoded ``queue_delta`` (the clients' steps).

    Raises ``ValueError`` when the delta was not made from this view (its ``base`` differs): the
    client must take a fresh snapshot instead.
    """
    if view.get("version") != delta["base"]:
        raise ValueError("delta base is not this view's version")
    moved = {item_id for item_id, _ in delta["moves"]}
    dropped = set(delta["removed"]) | moved
    changed = {item["id"]: item for item in delta["items"]}
    queue = [changed.get(item["id"], item) for item in view["queue"] if item["id"] not in dropped]
    for item_id, after in delta["moves"]:
        record = changed[item_id] if item_id in changed else _find(view["queue"], item_id)
        at = 0 if after is None else 1 + next(k for k, i in enumerate(queue) if i["id"] == after)
        queue.insert(at, record)
    out = {"version": delta["version"], "queue": queue, "preview": view.get("preview")}
    if "preview" in delta:
        out["preview"] = delta["preview"]
    return out


def _find(queue: Sequence[dict[str, Any]], item_id: str) -> dict[str, Any]:
    return next(item for item in queue if item["id"] == item_id)
