from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis

from shared import keys, playlog
from tests.services.player.helpers import add, history, now_playing
from tests.support.redis_server import ROOT, RedisServer, free_port


class Workers:
    def __init__(self, redis_server: RedisServer, log_dir: Path, tmp: Path) -> None:
        self.redis_server = redis_server
        self.log_dir = log_dir
        self.tmp = tmp
        self.procs: list[subprocess.Popen[bytes]] = []
        self.ports: dict[int, int] = {}

    def start(self) -> subprocess.Popen[bytes]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("ANDRE_")}
        env.update(
            {
                "PYTHONPATH": str(ROOT),
                "ANDRE_ENV": "dev",
                "ANDRE_REDIS_URL": self.redis_server.url,
                "ANDRE_REDIS_USERNAME": "andre-player",
                "ANDRE_REDIS_PASSWORD": self.redis_server.passwords["andre-player"],
                "ANDRE_PORT": str(free_port()),
                "ANDRE_PLAY_LOG_DIR": str(self.log_dir),
                "ANDRE_BENDER_MAX_MINUTES": "0",
                "ANDRE_LOG_LEVEL": "WARNING",
            }
        )
        port = int(env["ANDRE_PORT"])
        n = len(self.procs)
        out = open(self.tmp / f"worker{n}.log", "wb")  # noqa: SIM115 - closed with the process
        proc = subprocess.Popen(
            [sys.executable, "-m", "services.player"],
            cwd=self.tmp,  # no stray .env file
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        out.close()
        self.procs.append(proc)
        self.ports[proc.pid] = port
        return proc

    async def healthy(self, proc: subprocess.Popen[bytes]) -> bool:
        try:
            async with httpx.AsyncClient() as client:
                r = await client.get(f"http://127.0.0.1:{self.ports[proc.pid]}/health")
        except httpx.HTTPError:
            return False
        return r.status_code == 200

    def stop_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)


@pytest.fixture
def workers(redis_clean: RedisServer, tmp_path: Path) -> Iterator[Workers]:
    w = Workers(redis_clean, tmp_path / "logs", tmp_path)
    yield w
    w.stop_all()


def token_prefix(proc: subprocess.Popen[bytes]) -> str:
    return f"{socket.gethostname()}:{proc.pid}:"


async def wait_for(check: Any, timeout_s: float) -> float:
    start = time.monotonic()
    while time.monotonic() - start < timeout_s:
        if await check():
            return time.monotonic() - start
        await asyncio.sleep(0.02)
    raise AssertionError(f"condition not met within {timeout_s}s")


async def test_player_failover_sigkill_leader_standby_resumes_same_song(
    workers: Workers, redis_player: Redis
) -> None:
    first = await add(redis_player, 1, duration_ms=8_000)
    second = await add(redis_player, 2, duration_ms=60_000)
    leader = workers.start()

    async def first_playing() -> bool:
        np = await now_playing(redis_player)
        return np is not None and np["item"]["id"] == first

    await wait_for(first_playing, 15)
    standby = workers.start()

    async def standby_ready() -> bool:
        return await workers.healthy(standby)

    await wait_for(standby_ready, 15)
    before = await now_playing(redis_player)
    assert before is not None and before["item"]["id"] == first
    assert str(await redis_player.get(keys.PLAYER_LEADER)).startswith(token_prefix(leader))
    last_event = (await redis_player.xrevrange(keys.EVENTS, count=1))[0][0]

    leader.send_signal(signal.SIGKILL)
    leader.wait(timeout=5)
    killed_at = time.time()

    async def standby_leads() -> bool:
        return str(await redis_player.get(keys.PLAYER_LEADER)).startswith(token_prefix(standby))

    assert await wait_for(standby_leads, 6) <= 5.0

    # The standby carries on with the same song, where the clock says it is.
    async def standby_position() -> bool:
        entries = await redis_player.xrange(keys.EVENTS, min=f"({last_event}")
        return any(f["type"] == "player_position" for _, f in entries)

    await wait_for(standby_position, 3)
    entries = await redis_player.xrange(keys.EVENTS, min=f"({last_event}")
    pos = next(json.loads(f["data"]) for _, f in entries if f["type"] == "player_position")
    assert pos["trackid"] == before["item"]["uri"]
    expected_ms = (pos["server_time"] - before["started_at"]) * 1000
    assert abs(pos["pos_ms"] - expected_ms) <= 1_000
    assert pos["server_time"] > killed_at - 1
    after = await now_playing(redis_player)
    assert after is not None and after["started_at"] == before["started_at"]

    # ...and ends it on time, exactly once.
    async def second_playing() -> bool:
        np = await now_playing(redis_player)
        return np is not None and np["item"]["id"] == second

    await wait_for(second_playing, 10)
    plays = await history(redis_player)
    assert [p["id"] for p in plays] == [first]
    assert plays[0]["ended_at"] - before["started_at"] == pytest.approx(8.0, abs=0.3)

    # SIGTERM: the survivor stops within 5 s and hands the lock back at once.
    standby.send_signal(signal.SIGTERM)
    stopped = time.monotonic()
    # uvicorn re-raises the signal after its graceful shutdown, hence -SIGTERM.
    assert standby.wait(timeout=6) in (0, -signal.SIGTERM)
    assert time.monotonic() - stopped < 5
    assert await redis_player.exists(keys.PLAYER_LEADER) == 0
    np = await now_playing(redis_player)
    assert np is not None and np["item"]["id"] == second

    starts: dict[str, int] = {}
    for _, f in await redis_player.xrange(keys.EVENTS):
        if f["type"] == "now_playing" and f["data"] not in ("", "{}"):
            data = json.loads(f["data"])
            if data["pos_ms"] == 0 and not data["paused"]:
                starts[data["id"]] = starts.get(data["id"], 0) + 1
    assert starts == {first: 1, second: 1}
    logged = [p["id"] for _, f in playlog.log_files(workers.log_dir) for p in playlog.read_plays(f)]
    assert logged == [first]
