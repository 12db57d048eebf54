from __future__ import annotations

import io
import json
import stat
import tarfile
from pathlib import Path
from typing import Any

from redis.asyncio import Redis

from services.cli import backup
from shared import keys
from tests.services.cli.conftest import invoke
from tests.support.redis_server import RedisServer

SESSION = keys.session("d" * 64)
TOKENS = keys.user_tokens("alice@example.com")


async def _fill(server: RedisServer, log_dir: Path) -> None:
    """Queue, history, sessions, tokens and the rest, written as the services write them."""
    api = server.client("andre-api")
    web = server.client("andre-web")
    player = server.client("andre-player")
    try:
        item = {"id": "1", "uri": "spotify:track:AAAA", "title": "A", "artist": "B"}
        await api.set(keys.item("1"), json.dumps(item))
        await api.set(keys.item("2"), json.dumps({**item, "id": "2"}))
        await api.rpush(keys.QUEUE, "1", "2")
        await api.hset(keys.QUEUE_OWNERS, mapping={"1": "bot@api", "2": "alice@example.com"})
        await api.set(keys.QUEUE_SEQ, "2")
        await api.sadd(keys.item_votes("2"), "bot@api", "bob@example.com")
        await api.xadd(keys.EVENTS, {"type": "queue_update", "data": "{}"})
        await api.xadd(keys.EVENTS, {"type": "now_playing", "data": '{"x": 1}'})
        await player.rpush(keys.HISTORY, json.dumps({**item, "id": "0", "ended_at": 1.5}))
        await player.set(keys.PLAYER_HEARTBEAT, "123", ex=15)
        await web.set(SESSION, json.dumps({"email": "alice@example.com"}), ex=43_200)
        await web.set(TOKENS, "gAAAAA-encrypted-token", ex=86_400)
        await web.hset(keys.GUESTS, "guest@x.org", json.dumps({"hash": "$argon2id$..."}))
        await web.zadd("andre:rate:test:zset", {"a": 1.25, "b": 2})
        # A damaged record is backed up exactly, bytes and all.
        await web.set("andre:item:9", b"\xff\xfe{not json")
    finally:
        for client in (api, web, player):
            await client.aclose()
    day = log_dir / "play_log_2026_01_05.jsonl"
    day.write_text('{"id":"0","uri":"spotify:track:AAAA","user":"a@b.c"}\n')


async def _everything(server: RedisServer) -> dict[bytes, tuple[str, Any, int]]:
    """Every key's type, value and TTL (ms), read as the admin."""
    admin = Redis(
        port=server.port, username="andre-admin", password=server.passwords["andre-admin"]
    )
    out: dict[bytes, tuple[str, Any, int]] = {}
    try:
        async for key in admin.scan_iter(count=500):
            kind = (await admin.type(key)).decode()
            value: Any
            if kind == "string":
                value = await admin.get(key)
            elif kind == "list":
                value = await admin.lrange(key, 0, -1)
            elif kind == "set":
                value = await admin.smembers(key)
            elif kind == "hash":
                value = await admin.hgetall(key)
            elif kind == "zset":
                value = await admin.zrange(key, 0, -1, withscores=True)
            else:
                value = await admin.xrange(key)
            out[key] = (kind, value, await admin.pttl(key))
    finally:
        await admin.aclose()
    return out


def _same(
    before: dict[bytes, tuple[str, Any, int]], after: dict[bytes, tuple[str, Any, int]]
) -> None:
    assert set(after) == set(before)
    for key, (kind, value, ttl) in before.items():
        assert after[key][:2] == (kind, value), key
        if ttl < 0:
            assert after[key][2] == ttl, key
        else:
            assert abs(after[key][2] - ttl) <= 1000, key


async def test_cli_backup_wipe_restore_gives_back_everything(
    own_redis: RedisServer, admin_env: dict[str, str], tmp_path: Path
) -> None:
    log_dir = Path(admin_env["ANDRE_PLAY_LOG_DIR"])
    await _fill(own_redis, log_dir)
    before = await _everything(own_redis)
    logs_before = {p.name: p.read_bytes() for p in log_dir.iterdir()}
    assert len(before) == 14

    archive = tmp_path / "andre.backup.tgz"
    made = invoke(["backup", str(archive)], admin_env)
    assert made.exit_code == 0, made.output
    assert made.stdout.strip() == f"backed up 14 Redis keys and 1 play logs to {archive}"
    assert stat.S_IMODE(archive.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []

    await own_redis.wipe()
    for path in log_dir.iterdir():
        path.unlink()
    assert await _everything(own_redis) == {}

    back = invoke(["restore", str(archive)], admin_env)
    assert back.exit_code == 0, back.output
    assert "restored 14 Redis keys (0 expired since the backup, left out) and 1 play logs" in (
        back.stdout
    )
    _same(before, await _everything(own_redis))
    assert {p.name: p.read_bytes() for p in log_dir.iterdir()} == logs_before


async def test_cli_restore_refuses_non_empty_redis_without_force(
    own_redis: RedisServer, admin_env: dict[str, str], tmp_path: Path
) -> None:
    log_dir = Path(admin_env["ANDRE_PLAY_LOG_DIR"])
    await _fill(own_redis, log_dir)
    before = await _everything(own_redis)
    archive = tmp_path / "b.tgz"
    assert invoke(["backup", str(archive)], admin_env).exit_code == 0

    api = own_redis.client("andre-api")
    try:
        await api.rpush(keys.QUEUE, "3")
        await api.set("andre:item:3", "{}")
        changed = await _everything(own_redis)

        refused = invoke(["restore", str(archive)], admin_env)
        assert refused.exit_code == 1
        assert refused.stderr.strip() == (
            "andre: Redis holds 15 keys; restore refuses to overwrite them without --force"
        )
        _same(changed, await _everything(own_redis))  # nothing written

        forced = invoke(["restore", str(archive), "--force"], admin_env)
        assert forced.exit_code == 0, forced.output
        assert "replacing 15 keys" in forced.stdout
        _same(before, await _everything(own_redis))
    finally:
        await api.aclose()


async def test_cli_restore_refuses_differing_play_log_without_force(
    own_redis: RedisServer, admin_env: dict[str, str], tmp_path: Path
) -> None:
    log_dir = Path(admin_env["ANDRE_PLAY_LOG_DIR"])
    await _fill(own_redis, log_dir)
    archive = tmp_path / "b.tgz"
    assert invoke(["backup", str(archive)], admin_env).exit_code == 0
    await own_redis.wipe()
    day = log_dir / "play_log_2026_01_05.jsonl"
    day.write_text("changed since\n")
    refused = invoke(["restore", str(archive)], admin_env)
    assert refused.exit_code == 1
    assert (
        refused.stderr.strip()
        == f"andre: {day} exists and differs; restore refuses without --force"
    )
    assert await _everything(own_redis) == {}
    assert day.read_text() == "changed since\n"


def _rewrite(archive: Path, change: Any) -> None:
    with tarfile.open(archive, "r:gz") as tar:
        members = {m.name: tar.extractfile(m).read() for m in tar}  # type: ignore[union-attr]
    change(members)
    with tarfile.open(archive, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


async def test_cli_restore_checks_archive_before_writing(
    own_redis: RedisServer, admin_env: dict[str, str], tmp_path: Path
) -> None:
    await _fill(own_redis, Path(admin_env["ANDRE_PLAY_LOG_DIR"]))
    archive = tmp_path / "b.tgz"
    assert invoke(["backup", str(archive)], admin_env).exit_code == 0
    await own_redis.wipe()
    good = archive.read_bytes()

    def tamper(members: dict[str, bytes]) -> None:
        members["redis.json"] = members["redis.json"].replace(b"bot@api", b"eve@api")

    def smuggle(members: dict[str, bytes]) -> None:
        members["../evil"] = b"x"

    cases = [
        (tamper, "checksum mismatch for redis.json"),
        (smuggle, "unexpected member '../evil'"),
    ]
    for change, message in cases:
        archive.write_bytes(good)
        _rewrite(archive, change)
        result = invoke(["restore", str(archive)], admin_env)
        assert result.exit_code == 1
        assert message in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
        assert await _everything(own_redis) == {}

    archive.write_bytes(b"not a tar at all")
    result = invoke(["restore", str(archive)], admin_env)
    assert result.exit_code == 1
    assert "is not a readable backup archive" in result.stderr


def test_cli_backup_never_overwrites(admin_env: dict[str, str], tmp_path: Path) -> None:
    dest = tmp_path / "exists.tgz"
    dest.write_text("keep me")
    result = invoke(["backup", str(dest)], admin_env)
    assert result.exit_code == 1
    assert "exists" in result.stderr
    assert dest.read_text() == "keep me"


async def test_cli_restore_leaves_out_keys_expired_since_backup(
    own_redis: RedisServer, admin_env: dict[str, str], tmp_path: Path
) -> None:
    snap = backup.Snapshot(taken_at_ms=1_000)
    snap.records = [
        {"key": SESSION, "type": "string", "expires_at_ms": 2_000, "value": "old"},
        {"key": keys.QUEUE_SEQ, "type": "string", "expires_at_ms": None, "value": "7"},
    ]
    archive = tmp_path / "old.tgz"
    backup.write_archive(archive, snap, tmp_path / "no-logs", lambda *_: None)
    result = invoke(["restore", str(archive)], admin_env)
    assert result.exit_code == 0, result.output
    assert "restored 1 Redis keys (1 expired since the backup, left out)" in result.stdout
    after = await _everything(own_redis)
    assert set(after) == {keys.QUEUE_SEQ.encode()}


def test_cli_backup_into_missing_folder_one_line(admin_env: dict[str, str], tmp_path: Path) -> None:
    result = invoke(["backup", str(tmp_path / "nope" / "b.tgz")], admin_env)
    assert result.exit_code == 1
    assert result.stderr == f"andre: {tmp_path / 'nope'} is not a folder\n"


async def test_cli_restore_refuses_bad_stream_ids_before_writing(
    own_redis: RedisServer, admin_env: dict[str, str], tmp_path: Path
) -> None:
    snap = backup.Snapshot(taken_at_ms=1_000)
    snap.records = [
        {"key": keys.QUEUE_SEQ, "type": "string", "expires_at_ms": None, "value": "7"},
        {
            "key": keys.EVENTS,
            "type": "stream",
            "expires_at_ms": None,
            "value": [["5-0", ["type", "a"]], ["4-0", ["type", "b"]]],
        },
    ]
    archive = tmp_path / "bad.tgz"
    backup.write_archive(archive, snap, tmp_path / "no-logs", lambda *_: None)
    result = invoke(["restore", str(archive)], admin_env)
    assert result.exit_code == 1
    assert "stream entry ids are not valid and increasing" in result.stderr
    assert await _everything(own_redis) == {}
