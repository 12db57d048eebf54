"""``wait_or_stop``: sleep that a stop request (and optionally a wake-up) cuts short."""

from __future__ import annotations

import asyncio
from typing import Protocol


async def wait_or_stop(
    stop: asyncio.Event, timeout_s: float | None, *, wake: asyncio.Event | None = None
) -> bool:
    """Wait until ``stop`` is set, ``wake`` is set or ``timeout_s`` passes (None: no timeout).

    Returns True when ``stop`` is set, so loops read ``if await wait_or_stop(...): return``.
    Neither event is cleared here: clearing ``wake`` is the caller's choice, made before the work
    it guards so that a wake-up arriving during that work is not lost.
    """
    if stop.is_set():
        return True
    if timeout_s is not None and timeout_s <= 0:
        return False
    waiters = {asyncio.ensure_future(stop.wait())}
    if wake is not None:
        waiters.add(asyncio.ensure_future(wake.wait()))
    try:
        await asyncio.wait(waiters, timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
    return stop.is_set()


class Waiter(Protocol):
    """The shape of ``wait_or_stop``; tests pass a stepped one so nothing sleeps."""

    async def __call__(
        self, stop: asyncio.Event, timeout_s: float | None, *, wake: asyncio.Event | None = None
    ) -> bool: ...
