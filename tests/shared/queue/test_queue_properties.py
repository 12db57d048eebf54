from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass, field

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from redis.asyncio import Redis

from shared import keys
from shared.queue import queue as q
from shared.queue.errors import AlreadyVoted, ItemNotFound, OwnSongUpvote
from tests.shared.queue.helpers import queue_view, track
from tests.support.redis_server import RedisServer

USERS = [f"user{n}@example.com" for n in range(4)]


@dataclass
class Model:
    """The rules written the plain way: a list of (id, owner) and the voters per id."""

    order: list[tuple[str, str]] = field(default_factory=list)
    voters: dict[str, set[str]] = field(default_factory=dict)

    def add(self, item_id: str, owner: str) -> None:
        n = 1 + sum(1 for _, o in self.order if o == owner)
        counts: Counter[str] = Counter()
        for index, (_, o) in enumerate(self.order):
            counts[o] += 1
            if counts[o] == n + 1:
                self.order.insert(index, (item_id, owner))
                break
        else:
            self.order.append((item_id, owner))
        self.voters[item_id] = set()

    def vote(self, item_id: str, voter: str, up: bool) -> type[Exception] | None:
        ids = [i for i, _ in self.order]
        if item_id not in ids:
            return ItemNotFound
        pos = ids.index(item_id)
        if up and self.order[pos][1] == voter:
            return OwnSongUpvote
        if voter in self.voters[item_id]:
            return AlreadyVoted
        self.voters[item_id].add(voter)
        other = pos - 1 if up else pos + 1
        if 0 <= other < len(self.order):
            self.order[pos], self.order[other] = self.order[other], self.order[pos]
        return None

    def remove(self, item_id: str) -> type[Exception] | None:
        ids = [i for i, _ in self.order]
        if item_id not in ids:
            return ItemNotFound
        del self.order[ids.index(item_id)]
        return None


ops = st.lists(
    st.one_of(
        st.tuples(st.just("add"), st.sampled_from(USERS)),
        st.tuples(st.just("vote"), st.integers(0, 30), st.sampled_from(USERS), st.booleans()),
        st.tuples(st.just("remove"), st.integers(0, 30)),
        st.tuples(st.just("clear")),
    ),
    max_size=40,
)


async def _check(redis: Redis, model: Model) -> None:
    ids = await q.get_queue_ids(redis)
    assert len(ids) == len(set(ids))
    assert ids == [i for i, _ in model.order]
    owners = await redis.hgetall(keys.QUEUE_OWNERS)
    assert owners == dict(model.order)
    view = await queue_view(redis)
    assert [(i.id, i.user) for i in view.queue] == model.order


async def _run(server: RedisServer, steps: list[tuple[object, ...]]) -> None:
    await server.wipe()
    redis = server.client("andre-api")
    model = Model()
    added: list[str] = []
    try:
        for step in steps:
            kind = step[0]
            if kind == "add":
                owner = str(step[1])
                item = await q.add_item(redis, track(len(added)), owner)
                added.append(item.id)
                model.add(item.id, owner)
            elif kind in ("vote", "remove"):
                pick = int(step[1])  # type: ignore[call-overload]
                item_id = added[pick] if pick < len(added) else "x" + str(pick)
                if kind == "vote":
                    voter, up = str(step[2]), bool(step[3])
                    expected = model.vote(item_id, voter, up)
                    call = q.vote(redis, item_id, voter, up)
                else:
                    expected = model.remove(item_id)
                    call = q.remove_item(redis, item_id)
                try:
                    await call
                except (ItemNotFound, OwnSongUpvote, AlreadyVoted) as exc:
                    assert type(exc) is expected
                else:
                    assert expected is None
            else:
                await q.clear_queue(redis)
                model = Model()
            await _check(redis, model)
        events = await redis.xlen(keys.EVENTS)
        assert events >= sum(1 for s in steps if s[0] in ("add", "clear"))
    finally:
        await redis.aclose()


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=ops)
def test_queue_random_operations_match_model(redis_server: RedisServer, steps: list) -> None:  # type: ignore[type-arg]
    asyncio.run(_run(redis_server, steps))


def _rounds(ids: list[str], owners: dict[str, str]) -> list[int]:
    seen: Counter[str] = Counter()
    rounds = []
    for item_id in ids:
        seen[owners[item_id]] += 1
        rounds.append(seen[owners[item_id]])
    return rounds


async def test_add_item_200_concurrent_adds_keep_rounds(redis_clean: RedisServer) -> None:
    users = [f"c{n}@example.com" for n in range(10)]
    clients = [redis_clean.client("andre-api") for _ in range(4)]
    try:
        calls = [q.add_item(clients[n % 4], track(n), users[n % 10]) for n in range(200)]
        items = await asyncio.gather(*calls)
        redis = clients[0]
        ids = await q.get_queue_ids(redis)
        assert len(ids) == 200 and set(ids) == {i.id for i in items}
        owners = await redis.hgetall(keys.QUEUE_OWNERS)
        rounds = _rounds(ids, owners)
        assert rounds == sorted(rounds)
        assert Counter(rounds) == dict.fromkeys(range(1, 21), 10)
        assert await redis.xlen(keys.EVENTS) == 200
    finally:
        for c in clients:
            await c.aclose()


async def test_vote_concurrent_upvotes_each_move_one_slot(redis_clean: RedisServer) -> None:
    clients = [redis_clean.client("andre-api") for _ in range(4)]
    try:
        redis = clients[0]
        items = [await q.add_item(redis, track(n), f"owner{n}@example.com") for n in range(30)]
        last = items[-1]
        voters = [f"v{n}@example.com" for n in range(20)]
        await asyncio.gather(
            *(q.vote(clients[n % 4], last.id, voter, True) for n, voter in enumerate(voters))
        )
        ids = await q.get_queue_ids(redis)
        assert ids.index(last.id) == 29 - 20
        assert sorted(ids) == sorted(i.id for i in items)
        assert (await q.get_item(redis, last.id)).votes == 20
    finally:
        for c in clients:
            await c.aclose()
