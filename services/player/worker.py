"""The DJ clock: ``tick()`` does one step and says when the next is due; ``run()`` repeats it.

One worker leads through a Redis lock (refreshed in every state); others stand by and take over
within the lock's TTL. The position of the song is derived from ``andre:now_playing`` and Redis
TIME (never from counted ticks), so a new leader resumes the song exactly where it is. Between
ticks the leader blocks on ``BLPOP andre:player:wake`` until the song ends or the next position
event is due, so pause, resume, skip and add take effect at once.

Skip while paused: the skipped song is logged and the next one is cued at 0:00 and stays
paused; it starts when someone resumes (a paused room stays quiet).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
import time
from typing import Any

from redis.asyncio import Redis

from services.player.bender import Bender
from services.player.settings import PlayerSettings
from services.player.speaker import HouseSpeaker
from shared import keys, playlog
from shared.backoff import Backoff
from shared.queue.errors import DamagedRecord
from shared.queue.events import publish
from shared.queue.playback import (
    AdvanceMode,
    Clock,
    PlayState,
    RedisClock,
    acquire_leader,
    advance,
    decode_now_playing,
    position_event,
    release_leader,
    seed_history,
)
from shared.redis_client import REDIS_UNAVAILABLE, blocking_call
from shared.wait import Waiter, wait_or_stop

log = logging.getLogger(__name__)

# Redis wakes blocked clients on its own timer (10 Hz), so a BLPOP timeout can fire up to
# ~100 ms late. The last stretch before a song's end is slept in-process instead.
_PRECISE_WINDOW_S = 0.25
_BLPOP_EARLY_S = 0.12
# Pause between failed ticks: 0.2 s doubling. While Redis is unreachable it is capped at 1 s, so
# the room's music resumes within about a second of Redis coming back.
_TICK_RETRY_FIRST_S = 0.2
_OUTAGE_RETRY_MAX_S = 1.0
# A bender step that raised (not one that found nothing: that one backs off itself).
_BENDER_ERROR_RETRY_S = 5.0
# After a failed wait (not a failed tick), before ticking again.
_WAIT_ERROR_RETRY_S = 0.5


class Worker:
    def __init__(
        self,
        settings: PlayerSettings,
        redis: Redis,
        *,
        clock: Clock | None = None,
        bender: Bender | None = None,
        speaker: HouseSpeaker | None = None,
        token: str | None = None,
        waiter: Waiter = wait_or_stop,
    ) -> None:
        self.settings = settings
        self.redis = redis
        self.clock: Clock = clock or RedisClock(redis)
        self.bender = bender
        self.speaker = speaker
        self.token = token or f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
        # Every sleep of the worker's loops goes through it (stop() cuts it short); tests pass a
        # stepped one that moves their clock instead of sleeping.
        self.waiter = waiter
        self._outage_backoff = Backoff(_TICK_RETRY_FIRST_S, cap_s=_OUTAGE_RETRY_MAX_S)
        self._failure_backoff = Backoff(_TICK_RETRY_FIRST_S, cap_s=settings.leader_refresh_s)
        self.is_leader = False
        self.last_tick_monotonic = 0.0
        self._stopping = asyncio.Event()
        self._bender_kick = asyncio.Event()
        self._announced: tuple[str, bool, int] | None = None
        self._last_position_ms = 0
        self._next_history_check_ms = 0
        self._stale_streak = 0

    # --- one step --------------------------------------------------------------------------

    async def heartbeat(self) -> None:
        await self.redis.set(
            keys.PLAYER_HEARTBEAT, f"{time.time():.3f}", ex=self.settings.heartbeat_ttl_s
        )

    async def tick(self) -> float:
        """One step of the DJ. Returns the seconds until the next step is due."""
        now = await self.clock.now_ms()
        self.last_tick_monotonic = time.monotonic()
        await self.heartbeat()
        if not await acquire_leader(self.redis, self.token, self.settings.leader_ttl_ms):
            if self.is_leader:
                log.warning("player: lost the leader lock, standing by")
                self._step_down()
            return self.settings.standby_poll_s
        if not self.is_leader:
            log.info("player: leading", extra={"worker": self.token})
            self.is_leader = True
            self._announced = None
            self._next_history_check_ms = 0
            self._bender_kick.set()
        if now >= self._next_history_check_ms:
            # Cheap EXISTS; reads the logs only when Redis lost the history (started empty).
            self._next_history_check_ms = now + 60_000
            await self._rebuild_history()
        return await self._lead(now)

    def _step_down(self) -> None:
        self.is_leader = False
        self._announced = None
        if self.speaker is not None:
            self.speaker.release()

    async def _lead(self, now: int) -> float:
        pipe = self.redis.pipeline(transaction=False)
        # Undecoded: one bad byte in the record must not fail every tick (a stuck DJ).
        pipe.execute_command("GET", keys.NOW_PLAYING, NEVER_DECODE=True)
        pipe.exists(keys.SKIP)
        pipe.execute_command("GET", keys.BENDER_STREAK_START, NEVER_DECODE=True)
        pipe.exists(keys.PREVIEW)
        raw, skip, streak_start, has_preview = await pipe.execute()
        if not has_preview:
            self._bender_kick.set()  # e.g. the web's Filter button took it
        # A record nobody can read must not stall the DJ: it is reported (once) and replaced
        # with the next song.
        state, unreadable = decode_now_playing(raw) if raw else (None, b"")

        mode: AdvanceMode | None = None
        if unreadable:
            mode = "end"
        elif state is None:
            mode = "idle"
        elif skip:
            mode = "skip"
        elif not state.paused and state.remaining_ms(now) <= 0:
            mode = "end"
        if mode is not None:
            allow_fill = self._fill_allowed(streak_start, now)
            result = await advance(
                self.redis,
                token=self.token,
                current=state,
                expected_raw=unreadable,
                mode=mode,
                now_ms=now,
                allow_fill=allow_fill,
                history_max=self.settings.history_max_len,
                events_max_len=self.settings.events_max_len,
                filter_ttl_s=self.settings.bender_filter_s,
            )
            if result.status == "stale":
                # Changed under us (pause, jam, ...): look again at once, but never spin.
                self._stale_streak += 1
                return 0.0 if self._stale_streak < 3 else 0.05
            self._stale_streak = 0
            if result.status == "not_leader":
                self._step_down()
                return self.settings.standby_poll_s
            if state is not None:
                await self._log_finished(state, now, mode)
            if result.status == "unreadable":
                return 0.0  # the next tick reports the new record and moves past it
            if result.status == "idle":
                self._announced = None
                if self.speaker is not None:
                    self.speaker.update(None)
                if allow_fill:
                    self._bender_kick.set()  # the preview arrives with a wake push
                return self.settings.leader_refresh_s
            state = result.state
            assert state is not None
            log.info(
                "player: started %s (%s)",
                state.item.id,
                result.source,
                extra={"item_id": state.item.id, "uri": state.item.uri, "worker": self.token},
            )
            if self.speaker is not None:
                self.speaker.update(state, skipped=mode == "skip")
            if result.source == "preview" or not state.item.auto:
                self._bender_kick.set()
            self._announced = (state.item.id, state.paused, state.anchor_ms)
            await self._publish_position(state, now)
            return self._wait_for(state, now)

        assert state is not None
        if self.speaker is not None:
            self.speaker.update(state)
        marker = (state.item.id, state.paused, state.anchor_ms)
        if marker != self._announced:
            if self._announced is None:
                # New leader: say what is playing, for clients that joined meanwhile.
                await publish(
                    self.redis, "now_playing", state.view(now).model_dump(), self._max_len
                )
            self._announced = marker
            await self._publish_position(state, now)
        elif not state.paused and now - self._last_position_ms >= self._position_interval_ms:
            await self._publish_position(state, now)
        return self._wait_for(state, now)

    @property
    def _max_len(self) -> int:
        return self.settings.events_max_len

    @property
    def _position_interval_ms(self) -> int:
        return int(self.settings.position_event_interval_s * 1000)

    def _wait_for(self, state: PlayState, now: int) -> float:
        wait = self.settings.leader_refresh_s
        if not state.paused:
            wait = min(wait, state.remaining_ms(now) / 1000)
            next_event = self._last_position_ms + self._position_interval_ms - now
            wait = min(wait, max(next_event, 0) / 1000)
        return max(wait, 0.0)

    async def _publish_position(self, state: PlayState, now: int) -> None:
        await publish(self.redis, "player_position", position_event(state, now), self._max_len)
        self._last_position_ms = now

    def _fill_allowed(self, streak_start: bytes | None, now: int) -> bool:
        """Auto-fill is on unless the cap is 0 or the current streak reached the cap."""
        cap_ms = self.settings.bender_max_minutes * 60_000
        if cap_ms <= 0 or self.bender is None:
            return False
        if streak_start is None:
            return True
        try:
            return now - int(streak_start) < cap_ms
        except ValueError:
            return True

    async def _log_finished(self, state: PlayState, now: int, mode: AdvanceMode) -> None:
        play: dict[str, Any] = state.item.model_dump()
        play["ended_at"] = now / 1000
        play["started_at"] = state.started_at
        play["played_ms"] = state.position_ms(now)
        play["skipped"] = mode == "skip"
        try:
            await asyncio.to_thread(
                playlog.append_play, self.settings.play_log_dir, play, now / 1000
            )
        except OSError:
            # The Redis history already has it; a full disk must not stop the music.
            log.exception("player: could not write the play log")

    async def _rebuild_history(self) -> None:
        if await self.redis.exists(keys.HISTORY):
            return
        plays = await asyncio.to_thread(
            playlog.recent_plays, self.settings.play_log_dir, self.settings.history_max_len
        )
        raws = [_history_json(p) for p in plays]
        count = await seed_history(
            self.redis, [r for r in raws if r], self.settings.history_max_len
        )
        if count:
            log.info("player: history rebuilt from the play logs (%d plays)", count)

    # --- the loop --------------------------------------------------------------------------

    async def wait(self, wait_s: float) -> None:
        """Sleep until the next tick is due, waking early for a wake push or stop()."""
        if wait_s <= 0 or self._stopping.is_set():
            return
        if not self.is_leader or wait_s <= _PRECISE_WINDOW_S:
            await self.waiter(self._stopping, wait_s)
            return
        block_s = round(max(wait_s - _BLPOP_EARLY_S, 0.01), 3)
        blpop = asyncio.ensure_future(
            blocking_call(self.redis, block_s, "BLPOP", keys.PLAYER_WAKE, block_s)
        )
        woke = asyncio.Event()
        blpop.add_done_callback(lambda _: woke.set())
        # No timeout of our own: the BLPOP ends by itself and blocking_call bounds its reply.
        try:
            await self.waiter(self._stopping, None, wake=woke)
        finally:
            woken = blpop.done()
            if not woken:
                blpop.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await blpop
        if not woken:
            return  # stopped
        if blpop.result() is not None:
            # Coalesce a burst of pushes into this one wake-up.
            await self.redis.delete(keys.PLAYER_WAKE)

    async def _bender_loop(self) -> None:
        """Keep the preview filled while leading; kicks wake it, backoff is never cut short."""
        assert self.bender is not None
        while not self._stopping.is_set():
            if not self.is_leader:
                await self.waiter(self._stopping, self.settings.standby_poll_s * 4)
                continue
            # Cleared before the step, so a kick that arrives during it is not lost.
            self._bender_kick.clear()
            try:
                delay = await self.bender.step()
            except Exception:
                log.exception("player: bender step failed")
                delay = _BENDER_ERROR_RETRY_S
            if delay <= 0:
                await asyncio.sleep(0)
            else:
                # While failing, a kick must not cut the backoff short (no hot loop on Spotify).
                kick = None if self.bender.failures else self._bender_kick
                await self.waiter(self._stopping, delay, wake=kick)

    async def run(self) -> None:
        log.info("player worker started", extra={"worker": self.token})
        helpers = []
        if self.bender is not None:
            helpers.append(asyncio.create_task(self._bender_loop(), name="player-bender"))
        if self.speaker is not None:
            helpers.append(
                asyncio.create_task(self.speaker.run(self._stopping), name="player-speaker")
            )
        failures = 0
        try:
            while not self._stopping.is_set():
                try:
                    wait_s = await self.tick()
                    if failures:
                        log.info("player: ticking again after %d failed ticks", failures)
                    failures = 0
                except REDIS_UNAVAILABLE as exc:
                    # An outage is one warning, not a traceback per tick; the loop retries.
                    if not failures:
                        log.warning("player: Redis unavailable (%s); retrying", type(exc).__name__)
                    failures += 1
                    wait_s = self._outage_backoff.delay(failures)
                except DamagedRecord:
                    # Reported once where it was found; the tick is retried, quietly, until an
                    # operator repairs the record (no traceback per tick).
                    failures += 1
                    wait_s = self._failure_backoff.delay(failures)
                except Exception:
                    # One failed tick must never kill the DJ; retry with a short backoff.
                    failures += 1
                    log.exception("player tick failed")
                    wait_s = self._failure_backoff.delay(failures)
                try:
                    await self.wait(wait_s)
                except Exception as exc:
                    if not isinstance(exc, REDIS_UNAVAILABLE):
                        log.exception("player wait failed")
                    await self.waiter(self._stopping, _WAIT_ERROR_RETRY_S)
        finally:
            for task in helpers:
                task.cancel()
            for task in helpers:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            await self._shutdown()
        log.info("player worker stopped")

    async def _shutdown(self) -> None:
        # Hand over at once: a successor need not wait for the lock's TTL.
        with contextlib.suppress(Exception):
            if await release_leader(self.redis, self.token):
                log.info("player: released the leader lock")
        self.is_leader = False

    def stop(self) -> None:
        self._stopping.set()


def _history_json(play: dict[str, Any]) -> str:
    from shared.queue.models import Play

    try:
        return Play.model_validate(play).model_dump_json()
    except ValueError:
        return ""
