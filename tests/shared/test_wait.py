from __future__ import annotations

import asyncio

from shared.wait import wait_or_stop

# Generous: these bound a test that would otherwise hang, they are not timing assertions.
GUARD_S = 5.0


async def test_wait_or_stop_already_stopped_returns_true_at_once() -> None:
    stop = asyncio.Event()
    stop.set()

    assert await asyncio.wait_for(wait_or_stop(stop, None), GUARD_S) is True


async def test_wait_or_stop_zero_timeout_returns_false_without_waiting() -> None:
    stop = asyncio.Event()

    assert await wait_or_stop(stop, 0) is False
    assert await wait_or_stop(stop, -1.0) is False


async def test_wait_or_stop_timeout_passes_returns_false() -> None:
    assert await asyncio.wait_for(wait_or_stop(asyncio.Event(), 0.01), GUARD_S) is False


async def test_wait_or_stop_stop_set_while_waiting_returns_true() -> None:
    stop = asyncio.Event()
    task = asyncio.create_task(wait_or_stop(stop, None))
    await asyncio.sleep(0)
    assert not task.done()

    stop.set()

    assert await asyncio.wait_for(task, GUARD_S) is True


async def test_wait_or_stop_wake_returns_false_and_leaves_wake_set() -> None:
    stop, wake = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(wait_or_stop(stop, None, wake=wake))
    await asyncio.sleep(0)
    assert not task.done()

    wake.set()

    assert await asyncio.wait_for(task, GUARD_S) is False
    assert wake.is_set()


async def test_wait_or_stop_cancelled_leaves_no_waiters_behind() -> None:
    stop, wake = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(wait_or_stop(stop, None, wake=wake))
    await asyncio.sleep(0)

    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await asyncio.sleep(0)

    assert not stop._waiters and not wake._waiters  # type: ignore[attr-defined]
