"""Player benchmark: song-end lateness and skip latency over 50 short songs each, p50/p99.

Runs the real worker loop (Redis clock, BLPOP wake-ups) against a private redis-server started
with the project's ACL. Times come from the event stream: an entry id is the Redis time (ms) at
which the new song was announced, so nothing here trusts the worker's own bookkeeping.
Targets: lateness p99 <= 250 ms, skip p99 <= 300 ms.
"""

from __future__ import annotations

import asyncio
import json
import math
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from redis.asyncio import Redis  # noqa: E402

from services.player.settings import PlayerSettings  # noqa: E402
from services.player.worker import Worker  # noqa: E402
from shared import keys  # noqa: E402
from shared.queue.control import request_skip  # noqa: E402
from shared.queue.queue import QueueRules, add_item  # noqa: E402
from shared.spotify.catalog import Track  # noqa: E402
from tests.support.redis_server import RedisServer  # noqa: E402

SONGS = 50
LATENESS_TARGET_MS = 250
SKIP_TARGET_MS = 300


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def track(n: int, duration_ms: int) -> Track:
    return Track(
        uri=f"spotify:track:{str(n).rjust(22, 'b')}",
        title=f"Bench {n}",
        artist="Bench",
        duration_ms=duration_ms,
    )


class Starts:
    """Follows the event stream: song starts (id, Redis ms) and the idle announcement."""

    def __init__(self, redis: Redis) -> None:
        self.redis = redis
        self.last_id = "$"

    async def prime(self) -> None:
        entries = await self.redis.xrevrange(keys.EVENTS, count=1)
        self.last_id = entries[0][0] if entries else "0-0"

    async def next_change(self, timeout_s: float = 10.0) -> tuple[str | None, int, dict[str, Any]]:
        """The next song start (item id) or idle (None), with its stream time in ms."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            reply = await self.redis.xread({keys.EVENTS: self.last_id}, block=1000, count=50)
            for _, entries in reply:
                for entry_id, fields in entries:
                    self.last_id = entry_id
                    if fields.get("type") != "now_playing":
                        continue
                    ms = int(entry_id.split("-")[0])
                    data = json.loads(fields["data"] or "{}")
                    if not data:
                        return None, ms, data
                    if data.get("pos_ms") == 0 and data.get("server_time") == data.get(
                        "started_at"
                    ):
                        return str(data["id"]), ms, data
        raise TimeoutError("no song change seen")


async def lateness(redis: Redis, rng: random.Random) -> list[float]:
    starts = Starts(redis)
    await starts.prime()
    durations = {}
    for n in range(SONGS):
        item = await add_item(
            redis,
            track(n, rng.randint(1000, 2000)),
            "bench@example.com",
            rules=QueueRules(max_len=1000),
        )
        durations[item.id] = item.duration_ms
    out: list[float] = []
    current: tuple[str, float] | None = None
    while True:
        item_id, ms, data = await starts.next_change(timeout_s=10)
        if current is not None:
            cur_id, started_ms = current
            out.append(ms - (started_ms + durations[cur_id]))
        if item_id is None:
            return out
        current = (item_id, float(data["started_at"]) * 1000)


async def skips(redis: Redis, rng: random.Random) -> list[float]:
    starts = Starts(redis)
    await starts.prime()
    for n in range(SONGS):
        await add_item(redis, track(1000 + n, 120_000), "bench@example.com")
    out: list[float] = []
    item_id, _, _ = await starts.next_change()
    while item_id is not None:
        await asyncio.sleep(rng.uniform(0.15, 0.4))
        sec, usec = await redis.time()
        asked_ms = int(sec) * 1000 + int(usec) / 1000
        await request_skip(redis)
        item_id, ms, _ = await starts.next_change()
        out.append(ms - asked_ms)
    return out


def report(name: str, values: list[float], target: float) -> bool:
    p50, p99 = pct(values, 50), pct(values, 99)
    ok = p99 <= target
    print(
        f"{name:<22} n={len(values):<3} p50={p50:7.1f} ms  p99={p99:7.1f} ms  "
        f"max={max(values):7.1f} ms  target p99<={target} ms  {'OK' if ok else 'MISSED'}"
    )
    return ok


async def main() -> int:
    server = RedisServer.start()
    tmp = Path(tempfile.mkdtemp(prefix="andre-bench-player-"))
    redis = server.client("andre-player")
    try:
        settings = PlayerSettings(
            **server.settings_kwargs("andre-player"),  # type: ignore[arg-type]
            play_log_dir=tmp,
            bender_max_minutes=0,
            _env_file=None,  # type: ignore[call-arg]
        )
        worker = Worker(settings, redis, token="bench")
        task = asyncio.create_task(worker.run())
        rng = random.Random(2026)
        try:
            late = await lateness(redis, rng)
            skip = await skips(redis, rng)
        finally:
            worker.stop()
            await asyncio.wait_for(task, 5)
        print(f"player benchmark: {SONGS} songs of 1-2 s, then {SONGS} skips")
        ok = report("song-end lateness", late, LATENESS_TARGET_MS)
        ok = report("skip latency", skip, SKIP_TARGET_MS) and ok
        return 0 if ok else 1
    finally:
        await redis.aclose()
        server.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
