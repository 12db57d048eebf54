"""The house speaker: mirrors the DJ clock onto one Spotify account's active Connect device.

It runs as its own task: the worker only records the state it wants (``update``); this task
reconciles the device with it and retries failures (no device, 401, 429, 5xx) with backoff, so
the clock never waits for Spotify.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from shared.backoff import Backoff
from shared.queue.playback import Clock, PlayState
from shared.spotify.errors import SpotifyRateLimited
from shared.wait import Waiter, wait_or_stop

log = logging.getLogger(__name__)


class ConnectApi(Protocol):
    """What the speaker needs from ``shared.spotify.connect.SpotifyConnect``."""

    async def play(
        self, email: str, uris: list[str], position_ms: int, device_id: str | None = None
    ) -> Any: ...

    async def pause(self, email: str) -> Any: ...

    async def resume(self, email: str) -> Any: ...

    async def next_track(self, email: str) -> Any: ...


@dataclass(frozen=True)
class _Wanted:
    state: PlayState | None
    skipped: bool = False


class HouseSpeaker:
    def __init__(
        self,
        connect: ConnectApi,
        email: str,
        clock: Clock,
        *,
        backoff_max_s: float,  # no default: its value is the setting speaker_backoff_max_s
        backoff_min_s: float = 1.0,
        waiter: Waiter = wait_or_stop,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.connect = connect
        self.email = email
        self.clock = clock
        self.backoff = Backoff(backoff_min_s, cap_s=backoff_max_s)
        # How the task sleeps and tells time (Retry-After); tests step both instead of sleeping.
        self.waiter = waiter
        self.monotonic = monotonic
        self._wanted: _Wanted | None = None  # None: not leading, leave the device alone
        self._changed = asyncio.Event()
        # What we last told the device (unknown after start or a takeover).
        self._device_item: str | None = None
        self._device_paused = True
        self._failures = 0
        self._not_before = 0.0  # self.monotonic() before which Spotify must not be called

    # --- called by the worker (never blocks) ----------------------------------------------

    def update(self, state: PlayState | None, *, skipped: bool = False) -> None:
        """The state the room should hear; ``skipped`` when the worker advanced on a skip."""
        current = self._wanted
        if (
            current is not None
            and current.state is not None
            and state is not None
            and current.state.item.id == state.item.id
        ):
            skipped = current.skipped  # keep a pending skip until it is carried out
            if current.state.paused == state.paused:
                self._wanted = _Wanted(state, skipped)
                return
        self._wanted = _Wanted(state, skipped)
        self._changed.set()

    def release(self) -> None:
        """This worker is no longer the leader: forget the device, a successor drives it."""
        self._wanted = None
        self._device_item = None
        self._device_paused = True
        self._changed.set()

    # --- the task --------------------------------------------------------------------------

    async def run(self, stopping: asyncio.Event) -> None:
        retry_in: float | None = None
        while not stopping.is_set():
            if await self.waiter(stopping, retry_in, wake=self._changed):
                return
            # Spotify asked us to wait (Retry-After): honour it even if the state changed.
            hold_s = self._not_before - self.monotonic()
            if hold_s > 0 and await self.waiter(stopping, hold_s):
                return
            self._changed.clear()
            retry_in = await self.sync()

    async def sync(self) -> float | None:
        """One reconciliation; returns the delay before a retry, or None when in sync."""
        try:
            await self._reconcile()
        except SpotifyRateLimited as exc:
            self._failures += 1
            log.warning("house speaker: rate limited, retrying in %ss", exc.retry_after_s)
            self._not_before = self.monotonic() + exc.retry_after_s
            return float(exc.retry_after_s)
        except Exception as exc:  # noqa: BLE001 - any failure is retried, never fatal
            self._failures += 1
            delay = self.backoff.delay(self._failures)
            log.warning("house speaker: %s (%s), retrying in %.0fs", type(exc).__name__, exc, delay)
            return delay
        self._failures = 0
        return None

    async def _reconcile(self) -> None:
        wanted = self._wanted
        if wanted is None:
            return
        state = wanted.state
        if state is None:
            if self._device_item is not None and not self._device_paused:
                await self.connect.pause(self.email)
                self._device_paused = True
            return
        if state.item.id != self._device_item:
            if state.paused:
                # Cue it: silence now; it starts at its position when the room resumes.
                if self._device_item is not None and not self._device_paused:
                    await self.connect.pause(self.email)
                    self._device_paused = True
                return
            if wanted.skipped and self._device_item is not None and not self._device_paused:
                # Leave the skipped song at once, even if starting the next one fails.
                await self.connect.next_track(self.email)
                self._device_paused = True
                self._wanted = _Wanted(state, False)
            position_ms = state.position_ms(await self.clock.now_ms())
            await self.connect.play(self.email, [state.item.uri], position_ms)
            self._device_item = state.item.id
            self._device_paused = False
            if self._wanted is not None and self._wanted.state is state:
                self._wanted = _Wanted(state, False)
            return
        if state.paused and not self._device_paused:
            await self.connect.pause(self.email)
            self._device_paused = True
        elif not state.paused and self._device_paused:
            await self.connect.resume(self.email)
            self._device_paused = False
