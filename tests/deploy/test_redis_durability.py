import re
import signal
import socket
import time

import pytest
from redis.asyncio import Redis

from tests.support.redis_server import ROOT, RedisServer, render_acl

# What Redis logs when it drops or refuses part of its AOF while loading it.
LOAD_ERRORS = re.compile(r"NOPERM|Bad file format|Unrecoverable error|Unexpected end of file|ERR ")

# One Lua script with the write shapes the queue scripts use (each is recorded in the AOF as a
# MULTI/EXEC of its effects, some rewritten: EXPIRE becomes PEXPIREAT, XADD * gets its id).
WRITES = """
local n = redis.call('INCR', KEYS[1])
redis.call('HSET', KEYS[2], 'id', n, 'title', ARGV[1])
redis.call('ZADD', KEYS[3], n, n)
redis.call('RPUSH', KEYS[4], ARGV[1])
redis.call('SET', KEYS[5], ARGV[1], 'EX', 3600)
redis.call('EXPIRE', KEYS[2], 3600)
redis.call('XADD', KEYS[6], 'MAXLEN', '~', 100, '*', 'type', 'queue_update')
redis.call('SADD', KEYS[7], ARGV[1])
redis.call('SREM', KEYS[7], 'gone')
return n
"""
KEYS = [
    "andre:t:seq",
    "andre:t:item",
    "andre:t:order",
    "andre:t:list",
    "andre:t:ttl",
    "andre:t:events",
    "andre:t:set",
]


async def _write_everything(client: Redis) -> None:
    for i in range(5):
        await client.eval(WRITES, len(KEYS), *KEYS, f"song-{i}")
    async with client.pipeline(transaction=True) as pipe:
        pipe.hset("andre:t:multi", mapping={"a": "1", "b": "2"})
        pipe.incr("andre:t:seq")
        pipe.expire("andre:t:multi", 3600)
        await pipe.execute()
    await client.set("andre:t:plain", "plain")


async def _snapshot(client: Redis) -> dict[str, object]:
    return {
        "seq": await client.get("andre:t:seq"),
        "item": await client.hgetall("andre:t:item"),
        "order": await client.zrange("andre:t:order", 0, -1, withscores=True),
        "list": await client.lrange("andre:t:list", 0, -1),
        "ttl": await client.get("andre:t:ttl"),
        "events": await client.xrange("andre:t:events"),
        "set": sorted(await client.smembers("andre:t:set")),
        "multi": await client.hgetall("andre:t:multi"),
        "plain": await client.get("andre:t:plain"),
        "item_ttl_set": await client.ttl("andre:t:item") > 0,
    }


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["graceful", "sigkill"])
async def test_redis_restart_replays_lua_and_multi_writes(
    own_redis: RedisServer, sig: signal.Signals
) -> None:
    client = own_redis.client("andre-api")
    try:
        await _write_everything(client)
        before = await _snapshot(client)
        assert before["seq"] == "6" and len(before["list"]) == 5  # type: ignore[arg-type]
    finally:
        await client.aclose()
    if sig == signal.SIGKILL:
        time.sleep(1.5)  # appendfsync everysec: what was acknowledged over a second ago is on disk
    own_redis.halt(sig)
    own_redis.launch()
    client = own_redis.client("andre-api")
    try:
        assert await _snapshot(client) == before
        # The sequence goes on from where it was: ids are never handed out twice.
        assert await client.incr("andre:t:seq") == 7
    finally:
        await client.aclose()
    log = own_redis.log_path.read_text(errors="replace")
    assert "DB loaded from append only file" in log or "Reading the remaining AOF tail" in log
    assert not LOAD_ERRORS.search(log), LOAD_ERRORS.findall(log)


async def test_redis_default_user_replays_but_never_logs_in(own_redis: RedisServer) -> None:
    line = next(
        ln
        for ln in render_acl.render(own_redis.passwords).splitlines()
        if ln.startswith("user default ")
    )
    rules = line.split()
    # Disabled, no password and no nopass: no AUTH or HELLO can ever select it.
    assert "off" in rules and "on" not in rules and "nopass" not in rules
    assert not [r for r in rules if r.startswith((">", "#"))]
    assert [r for r in rules if r.startswith("~")] == ["~andre:*"]
    assert "-@dangerous" in rules and rules.index("-@dangerous") > rules.index("+@write")
    for password in ("", "anything", "nopass"):
        with socket.create_connection(("127.0.0.1", own_redis.port), timeout=5) as sock:
            sock.sendall(
                f"AUTH default '{password}'\r\nHELLO 3 AUTH default x\r\nGET andre:x\r\n".encode()
            )
            time.sleep(0.2)
            reply = sock.recv(4096).decode()
        assert reply.count("WRONGPASS") == 2 and "-NOAUTH" in reply, reply


def test_redis_acl_template_names_the_replay_bug() -> None:
    # The default user's rights exist only for AOF replay: the template must keep saying why.
    text = (ROOT / "deploy" / "redis" / "users.acl.in").read_text()
    assert "redis#14541" in text and "{{commands:replay}}" in text
