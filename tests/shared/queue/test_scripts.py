from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import pytest
from redis.asyncio import Redis

from shared import keys, ratelimit
from shared.adding import LimitAllowance
from shared.queue import airhorns, control, moderation, playback, preview, scripts
from shared.queue import queue as q
from shared.queue.add_many import add_many
from shared.queue.errors import AlreadyQueued, RateLimited, WrongKeyType
from shared.queue.queue import QueueRules
from shared.streamcap import StreamCap
from tests.shared.queue.helpers import queue_view, track

# Every Redis command a script runs goes through this check (the test rewrites `redis.call` and
# `redis.pcall`): a key the script did not declare in KEYS fails the script.
_DECLARED_ONLY = r"""
local declared = {}
for _, k in ipairs(KEYS) do declared[k] = true end
local EVERY_ARG_A_KEY = {DEL = true, MGET = true, EXISTS = true}
local function undeclared(cmd, ...)
  local args = {...}
  local c = string.upper(cmd)
  if c == 'TIME' then return nil end
  local last = EVERY_ARG_A_KEY[c] and #args or 1
  for i = 1, last do
    if not declared[args[i]] then return tostring(args[i]) end
  end
  return nil
end
local function checked_call(cmd, ...)
  local key = undeclared(cmd, ...)
  if key then error('UNDECLARED ' .. cmd .. ' ' .. key) end
  return redis.call(cmd, ...)
end
local function checked_pcall(cmd, ...)
  local key = undeclared(cmd, ...)
  if key then error('UNDECLARED ' .. cmd .. ' ' .. key) end
  return redis.pcall(cmd, ...)
end
"""

_ALL = {name: s for name, s in vars(scripts).items() if isinstance(s, scripts.Script)}
_RULES = QueueRules(airhorn_free_jams=1, skip_votes=2, remove_votes=2)


class _Checked(scripts.Script):
    def __init__(self, original: scripts.Script, ran: set[str]) -> None:
        super().__init__(original.name)
        body = original.source.replace("redis.call(", "checked_call(")
        self.source = _DECLARED_ONLY + body.replace("redis.pcall(", "checked_pcall(")
        self._ran = ran

    async def __call__(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        self._ran.add(self.name)
        return await super().__call__(*args, **kwargs)


@pytest.fixture
def ran(monkeypatch: pytest.MonkeyPatch) -> Iterator[set[str]]:
    names: set[str] = set()
    for attr, original in _ALL.items():
        monkeypatch.setattr(scripts, attr, _Checked(original, names))
    yield names


async def _now_ms(redis: Redis) -> int:
    sec, usec = await redis.time()
    return int(sec) * 1000 + int(usec) // 1000


async def test_scripts_every_key_touched_is_declared(redis_api: Redis, ran: set[str]) -> None:
    a = await q.add_item(redis_api, track(1), "ann@example.com", rules=_RULES)
    b = await q.add_item(redis_api, track(2), "bob@example.com", rules=_RULES)
    c = await q.add_item(redis_api, track(3), "cat@example.com", auto=True, rules=_RULES)
    with pytest.raises(AlreadyQueued):
        await q.add_item(redis_api, track(1), "bob@example.com", rules=_RULES)
    assert await q.vote(redis_api, b.id, "ann@example.com", True, rules=_RULES) == 0
    assert await q.toggle_jam(redis_api, a.id, "bob@example.com", rules=_RULES)
    await q.add_comment(redis_api, a.id, "bob@example.com", "nice", rules=_RULES)
    await moderation.remove(redis_api, moderation.Actor("bob@example.com"), c.id, rules=_RULES)
    await moderation.remove(redis_api, moderation.Actor("cat@example.com"), c.id, rules=_RULES)
    await q.remove_item(redis_api, b.id, rules=_RULES)
    assert [i.id for i in (await queue_view(redis_api)).queue] == [a.id]

    token = "leader-1"
    assert await playback.acquire_leader(redis_api, token, 5_000)
    await redis_api.set(keys.PREVIEW, (await queue_view(redis_api)).queue[0].model_dump_json())
    await redis_api.set(keys.item("999"), "not json")  # a damaged candidate is skipped
    await redis_api.lpush(keys.QUEUE, "999")
    result = await playback.advance(
        redis_api,
        token=token,
        current=None,
        mode="idle",
        now_ms=await _now_ms(redis_api),
        allow_fill=True,
        history_max=10,
        events_max_len=100,
    )
    assert result.status == "started" and result.state is not None
    assert result.state.item.id == a.id and result.dropped == ("999",)
    assert await q.toggle_jam(redis_api, a.id, "cat@example.com", rules=_RULES)
    await q.add_comment(redis_api, a.id, "cat@example.com", "loud", rules=_RULES)
    assert await control.pause(redis_api, rules=_RULES)
    assert await control.resume(redis_api, rules=_RULES)
    await airhorns.blast_airhorn(redis_api, "bob@example.com", "airhorn", rules=_RULES)
    await airhorns.blast_free_airhorn(redis_api, "ann@example.com", rules=_RULES)
    await moderation.set_paused(redis_api, moderation.Actor("ann@example.com"), True, rules=_RULES)
    skip = await moderation.skip(redis_api, moderation.Actor("bob@example.com"), rules=_RULES)
    assert not skip.done
    assert (await moderation.skip(redis_api, moderation.Actor("ann@example.com"))).done
    assert await control.request_skip(redis_api, rules=_RULES)

    assert await preview.filter_preview(redis_api, a.uri, rules=_RULES)  # a is the preview
    assert await preview.offer_preview(redis_api, track(6), "b@x", events_max_len=100)
    promoted = await preview.promote_preview(redis_api, track(6).uri, "cat@example.com")
    assert promoted is not None
    d = await q.add_item(redis_api, track(4), "ann@example.com", rules=_RULES)
    allowance = LimitAllowance(redis_api, ratelimit.Limit("many", 10, 60), "ann@example.com")
    assert len((await add_many(redis_api, [track(7)], "ann", allowance, rules=_RULES)).ids) == 1
    assert (
        await moderation.clear(
            redis_api, moderation.Actor("x@example.com", is_admin=True), rules=_RULES
        )
        == 3
    )
    assert not await redis_api.exists(keys.item(d.id))
    assert await playback.seed_history(redis_api, [json.dumps({"x": 1})], 10) == 1
    limit = ratelimit.Limit("test", 1, 60)
    await ratelimit.hit(redis_api, limit, "ann@example.com")
    await ratelimit.give_back(redis_api, limit, "ann@example.com")
    assert await playback.release_leader(redis_api, token)
    lease = await StreamCap("web", 2).acquire(redis_api, "ann@example.com", "too many")
    await lease.release()

    assert ran == {s.name for s in _ALL.values()}


async def test_script_unknown_to_the_server_is_loaded_and_run(redis_api: Redis) -> None:
    # What a Redis restart leaves: the server knows no script. EVALSHA's NOSCRIPT loads it.
    script = scripts.Script("release_leader")
    script.source += f"\n-- {uuid.uuid4()}\n"  # a sha this server has never seen
    await redis_api.set(keys.PLAYER_LEADER, "me")
    assert await script(redis_api, [keys.PLAYER_LEADER], ["me"]) == 1
    assert not await redis_api.exists(keys.PLAYER_LEADER)
    assert (await redis_api.script_exists(script.sha)) == [True]


def test_source_includes_each_fragment_once() -> None:
    source = scripts.source("mod_skip")
    assert "--! include" not in source
    assert source.count("local function load_item(") == 1
    assert source.count("local function decide(") == 1
    assert "local ITEM_FIELDS = {" in source


def test_airhorn_and_rate_limit_share_one_window() -> None:
    window = scripts.source("window")
    assert window in scripts.source("airhorn") and window in scripts.source("rate_hit")
    assert "'PTTL'" not in scripts.source("airhorn").replace(window, "")


async def test_script_key_of_wrong_type_raises_wrong_key_type(redis_api: Redis) -> None:
    await redis_api.hset(keys.item_votes("7"), "x", "1")
    with pytest.raises(WrongKeyType):
        await scripts.VOTE(
            redis_api,
            [keys.QUEUE, keys.QUEUE_OWNERS, keys.EVENTS, keys.item("7"), keys.item_votes("7")],
            ["7", "ann@example.com", "1", 100],
        )


async def test_rate_limit_over_cap_raises_with_retry_after(redis_api: Redis) -> None:
    limit = ratelimit.Limit("t", 1, 30)
    await ratelimit.hit(redis_api, limit, "a")
    with pytest.raises(RateLimited) as caught:
        await ratelimit.hit(redis_api, limit, "a")
    assert 1 <= caught.value.retry_after_s <= 30
