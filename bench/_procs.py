"""The benchmarks' child processes: wait until one answers 200 over HTTP, stop one."""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import Callable

import httpx
from redis.asyncio import Redis

from shared.queue.queue import QueueRules, add_item
from shared.spotify.catalog import Track
from shared.spotify.demo import DemoCatalog


def wait_ready(url: str, timeout_s: float = 20.0) -> None:
    """Poll ``url`` until it answers 200 (the service is up and its dependencies too)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=0.5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not start")


def stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL after 10 s; always reaped."""
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


async def wait_connected(
    tasks: list[asyncio.Task[None]], connected: Callable[[], int], deadline_s: float
) -> BaseException | None:
    """Wait until ``connected()`` reaches ``len(tasks)`` (or ``deadline_s`` passes); the first
    failure of a task, if one failed meanwhile."""
    deadline = time.monotonic() + deadline_s
    while connected() < len(tasks) and time.monotonic() < deadline:
        for task in tasks:
            if task.done() and not task.cancelled() and task.exception() is not None:
                return task.exception()
        await asyncio.sleep(0.05)
    return None


async def seed_queue(redis: Redis, songs: int) -> None:
    """A queue of ``songs`` demo-shaped songs queued by as many people, with URIs of their own
    (the demo catalog has fewer tracks than a long queue needs)."""
    rules = QueueRules(max_len=5000)
    demo = DemoCatalog().tracks  # their artwork URLs are ones the web serves
    for n in range(songs):
        like = demo[n % len(demo)]
        song = Track(
            uri=f"spotify:track:{'seed' + str(n).rjust(18, '0')}",
            title=f"Seeded song {n}",
            artist=like.artist,
            album=like.album,
            duration_ms=240_000,
            img=like.img,
            big_img=like.big_img,
        )
        await add_item(redis, song, f"seed{n}@example.com", rules=rules)
