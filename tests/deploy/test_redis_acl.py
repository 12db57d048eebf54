import asyncio
import socket
import time

import pytest
from redis.exceptions import AuthenticationError, NoPermissionError, ResponseError

from tests.support.redis_server import SERVICE_USERS, RedisServer

FORBIDDEN = [
    ("FLUSHALL",),
    ("FLUSHDB",),
    ("CONFIG", "GET", "maxmemory-policy"),
    ("CONFIG", "SET", "maxmemory-policy", "allkeys-lru"),
    ("KEYS", "*"),
    ("DEBUG", "SLEEP", "0"),
    ("SHUTDOWN", "NOSAVE"),
]


def test_redis_no_credentials_noauth(redis_server: RedisServer) -> None:
    # A raw client, so no library handshake hides what the server answers.
    with socket.create_connection(("127.0.0.1", redis_server.port), timeout=5) as sock:
        sock.sendall(b"GET andre:x\r\nPING\r\n")
        time.sleep(0.2)
        reply = sock.recv(4096).decode()
    assert reply.count("-NOAUTH") == 2, reply


async def test_redis_default_user_cannot_authenticate(redis_server: RedisServer) -> None:
    client = redis_server.client("default", password="anything-at-all")
    try:
        with pytest.raises(AuthenticationError):
            await client.ping()
    finally:
        await client.aclose()


async def test_redis_wrong_password_refused(redis_server: RedisServer) -> None:
    client = redis_server.client("andre-api", password="not-the-password")
    try:
        with pytest.raises(AuthenticationError):
            await client.ping()
    finally:
        await client.aclose()


@pytest.mark.parametrize("user", SERVICE_USERS)
@pytest.mark.parametrize("command", FORBIDDEN, ids=lambda c: " ".join(c[:2]))
async def test_redis_service_user_dangerous_command_refused(
    redis_clean: RedisServer, user: str, command: tuple[str, ...]
) -> None:
    client = redis_clean.client(user)
    try:
        # DEBUG is also disabled server-wide (enable-debug-command no), which answers first.
        expected = ResponseError if command[0] == "DEBUG" else NoPermissionError
        with pytest.raises(expected, match="no permissions|not allowed"):
            await client.execute_command(*command)
        assert await client.ping()  # the server is still up and we are still allowed in
    finally:
        await client.aclose()


@pytest.mark.parametrize("user", SERVICE_USERS)
async def test_redis_service_user_keys_confined_to_prefix(
    redis_clean: RedisServer, user: str
) -> None:
    client = redis_clean.client(user)
    try:
        assert await client.set("andre:acl-probe", "1")
        assert await client.get("andre:acl-probe") == "1"
        for key in ("other:key", "andre", "xandre:key", "ANDRE:key"):
            with pytest.raises(NoPermissionError):
                await client.set(key, "1")
            with pytest.raises(NoPermissionError):
                await client.get(key)
        # Lua cannot be used to step outside the key pattern either.
        with pytest.raises(ResponseError, match="(?i)noperm|permission|no permissions"):
            await client.eval("return redis.call('SET', KEYS[1], '1')", 1, "other:key")
    finally:
        await client.aclose()


async def test_redis_healthcheck_user_only_pings(redis_clean: RedisServer) -> None:
    client = redis_clean.client("healthcheck")
    try:
        assert await client.ping()
        for command in [
            ("GET", "andre:x"),
            ("SET", "andre:x", "1"),
            ("INFO",),
            ("KEYS", "*"),
            ("FLUSHALL",),
            ("CONFIG", "GET", "*"),
        ]:
            with pytest.raises(NoPermissionError):
                await client.execute_command(*command)
    finally:
        await client.aclose()


async def test_redis_server_policies_from_project_config(redis_server: RedisServer) -> None:
    client = redis_server.client("andre-admin")
    try:
        info = await client.info("persistence")
        assert info["aof_enabled"] == 1
        memory = await client.info("memory")
        assert memory["maxmemory_policy"] == "noeviction"
        with pytest.raises(NoPermissionError):
            await client.execute_command("FLUSHALL")
    finally:
        await client.aclose()


async def test_redis_runaway_script_answered_busy_and_killed_by_admin() -> None:
    server = RedisServer.start()  # its own server: a stuck one must not stall the session's
    api = server.client("andre-api")
    web = server.client("andre-web")
    admin = server.client("andre-admin")
    try:
        runaway = asyncio.create_task(api.eval("while true do end", 0))
        await asyncio.sleep(1.3)  # past busy-reply-threshold (1000 ms)
        with pytest.raises(ResponseError, match="BUSY"):
            await web.ping()
        assert await admin.execute_command("SCRIPT", "KILL")
        with pytest.raises(ResponseError, match="killed"):
            async with asyncio.timeout(5):
                await runaway
        assert await web.ping()
    finally:
        for client in (api, web, admin):
            await client.aclose()
        server.stop()


async def test_redis_admin_writes_only_andre_keys_and_never_restores(
    redis_clean: RedisServer,
) -> None:
    # andre restore / import-playlogs write through the admin user (deploy/redis/users.acl.in).
    client = redis_clean.client("andre-admin")
    try:
        async with client.pipeline(transaction=True) as pipe:
            pipe.set("andre:acl-admin:s", "1")
            pipe.rpush("andre:acl-admin:l", "a")
            pipe.sadd("andre:acl-admin:set", "a")
            pipe.hset("andre:acl-admin:h", "f", "v")
            pipe.zadd("andre:acl-admin:z", {"m": 1})
            pipe.xadd("andre:acl-admin:x", {"f": "v"}, id="1-1")
            pipe.pexpireat("andre:acl-admin:s", 4_102_444_800_000)
            await pipe.execute()
        assert await client.time()
        for command in [
            ("SET", "other:key", "1"),
            ("DEL", "other:key"),
            ("RESTORE", "andre:acl-admin:r", "0", "payload"),
            ("DUMP", "andre:acl-admin:s"),
            ("FLUSHALL",),
            ("CONFIG", "GET", "*"),
            ("ACL", "SETUSER", "andre-api", "+@all"),
            ("KEYS", "*"),
            ("EVAL", "return 1", "0"),
        ]:
            with pytest.raises(NoPermissionError):
                await client.execute_command(*command)
        assert await client.get("other:key") is None  # reads stay allowed on every key
    finally:
        await client.aclose()
