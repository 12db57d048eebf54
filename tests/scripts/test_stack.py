import asyncio
import importlib.util
import os
import re
import select
import signal
import sys
import threading
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.support.redis_server import RedisServer

ROOT = Path(__file__).resolve().parents[2]


def _load_stack() -> ModuleType:
    # scripts/ is not a package: load the runner the way `make up` names it, by path.
    spec = importlib.util.spec_from_file_location("andre_stack", ROOT / "scripts" / "stack.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


stack = _load_stack()


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _crash_after(policy: Any, clock: FakeClock, uptime_s: float) -> float | None:
    policy.started()
    clock.now += uptime_s
    delay: float | None = policy.next_delay()
    if delay is not None:
        clock.now += delay
    return delay


def test_restart_policy_quick_crashes_back_off_doubling_to_the_cap() -> None:
    clock = FakeClock()
    policy = stack.RestartPolicy(clock=clock, max_restarts=10, window_s=600)
    delays = [_crash_after(policy, clock, 1.0) for _ in range(6)]
    assert delays == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    assert policy.attempt == 6


def test_restart_policy_stable_run_resets_the_backoff() -> None:
    clock = FakeClock()
    policy = stack.RestartPolicy(clock=clock)
    assert [_crash_after(policy, clock, 1.0) for _ in range(3)] == [0.5, 1.0, 2.0]
    assert _crash_after(policy, clock, 29.0) == 4.0  # not yet stable: keeps backing off
    assert _crash_after(policy, clock, 30.0) == 0.5
    assert policy.attempt == 1


def test_restart_policy_crash_loop_gives_up_after_max_restarts_in_window() -> None:
    clock = FakeClock()
    policy = stack.RestartPolicy(clock=clock, max_restarts=5, window_s=60)
    delays = [_crash_after(policy, clock, 0.1) for _ in range(6)]
    assert delays[:5] == [0.5, 1.0, 2.0, 4.0, 4.0]
    assert delays[5] is None


def test_restart_policy_crashes_spread_beyond_the_window_never_give_up() -> None:
    clock = FakeClock()
    policy = stack.RestartPolicy(clock=clock, max_restarts=5, window_s=60)
    # A child that runs 31 s between crashes is unlucky, not looping: always the first delay.
    assert [_crash_after(policy, clock, 31.0) for _ in range(20)] == [0.5] * 20


def _child(name: str, code: str, lines: list[str]) -> Any:
    def emit(prefix: str, line: str) -> None:
        lines.append(f"{prefix}: {line}")

    return stack.Child(name, [sys.executable, "-c", code], env={"PATH": "/usr/bin"}, emit=emit)


def test_supervisor_exited_child_restarts_after_its_delay_then_gives_up() -> None:
    clock = FakeClock()
    log: list[str] = []
    child = _child("boom", "raise SystemExit(3)", [])
    supervisor = stack.Supervisor(
        [child], log=lambda prefix, line: log.append(f"{prefix}: {line}"), clock=clock
    )
    supervisor.start("boom")
    pids = [child.proc.pid]
    for attempt, delay in enumerate([0.5, 1.0, 2.0, 4.0, 4.0], start=1):
        child.proc.wait(timeout=10)
        assert supervisor.check() == pytest.approx(min(delay, stack.POLL_S))
        assert (
            log[-1]
            == f"stack: boom exited unexpectedly (exit code 3); restart {attempt} in {delay:g} s"
        )
        clock.now += delay - 0.01
        supervisor.check()
        assert child.proc.pid == pids[-1]
        clock.now += 0.01
        supervisor.check()
        assert child.proc.pid != pids[-1]
        pids.append(child.proc.pid)
        assert log[-1] == f"stack: boom started (pid {pids[-1]})"
    child.proc.wait(timeout=10)
    assert supervisor.gave_up is None
    supervisor.check()
    assert supervisor.gave_up is not None
    assert "boom keeps crashing (exit code 3; 5 restarts within 60 s)" in supervisor.gave_up
    assert "make up" in supervisor.gave_up and log[-1] == f"stack: {supervisor.gave_up}"


def test_supervisor_killed_child_names_the_signal() -> None:
    clock = FakeClock()
    log: list[str] = []
    child = _child("web", "import time; time.sleep(60)", [])
    supervisor = stack.Supervisor([child], log=lambda p, line: log.append(line), clock=clock)
    supervisor.start("web")
    child.proc.kill()
    child.proc.wait(timeout=10)
    supervisor.check()
    assert log[-1] == "web exited unexpectedly (killed by SIGKILL); restart 1 in 0.5 s"


def test_stop_all_services_before_redis_and_overrun_is_killed_with_a_log_line() -> None:
    clock = FakeClock()
    log: list[str] = []
    out: list[str] = []
    ready = threading.Event()

    def emit(prefix: str, line: str) -> None:
        out.append(line)
        if line == "ready":
            ready.set()

    stubborn = stack.Child(
        "api",
        [
            sys.executable,
            "-c",
            "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN);"
            " print('ready', flush=True); time.sleep(60)",
        ],
        env={"PATH": "/usr/bin"},
        emit=emit,
    )
    redis = stack.Child("redis", [sys.executable, "-c", "import time; time.sleep(60)"], env={})
    stubborn.start()
    redis.start()
    assert ready.wait(10)
    redis_alive_in_first_stage: list[bool] = []

    def wait(timeout_s: float) -> None:
        if clock.now < 1001.0:
            redis_alive_in_first_stage.append(redis.alive())
        clock.now += timeout_s
        threading.Event().wait(0.01)  # let the real processes act between fake ticks

    stack.stop_all(
        [redis, stubborn],
        wait,
        log=lambda p, line: log.append(line),
        clock=clock,
        budget_s=100,
        services_s=1.0,
    )
    assert stubborn.proc.returncode == -signal.SIGKILL
    assert redis.proc.returncode == -signal.SIGTERM
    assert redis_alive_in_first_stage and all(redis_alive_in_first_stage)
    assert log == ["api did not stop within 1 s; killing it"]


def test_output_stuck_reader_blocks_no_caller_and_counts_what_it_drops() -> None:
    read_fd, write_fd = os.pipe()
    output = stack.Output(fd=write_fd)
    output.MAX_QUEUED = 100
    output.start()
    try:
        for n in range(1000):  # about 1 MB: far beyond what the pipe holds unread
            output.say("api", f"{n:04d} " + "x" * 1000)
        received = b""
        for _ in range(10_000):
            if b"lines dropped" in received or not select.select([read_fd], [], [], 5)[0]:
                break
            received += os.read(read_fd, 65536)
    finally:
        output.close(timeout_s=5)
        os.close(write_fd)
        os.close(read_fd)
    lines = received.decode().splitlines()
    written = [line for line in lines if line.startswith("api    | ")]
    dropped = re.fullmatch(r"stack  \| \((\d+) lines dropped: stdout was not read\)", lines[-1])
    assert dropped is not None and int(dropped.group(1)) > 0
    assert len(written) + int(dropped.group(1)) == 1000
    assert written[0].startswith("api    | 0000 ")


def _cut_inside_last_multi(server: RedisServer) -> None:
    """What a power cut can leave: the AOF ending a few bytes into a MULTI block."""
    (incr,) = (server.workdir / "appendonlydir").glob("*.incr.aof")
    data = incr.read_bytes()
    incr.write_bytes(data[: data.rindex(b"*1\r\n$5\r\nMULTI\r\n") + 20])


@pytest.mark.parametrize("repair", [False, True], ids=["redis alone", "with the runner's rewrite"])
async def test_stack_truncated_aof_rewrite_keeps_later_writes(
    own_redis: RedisServer, repair: bool
) -> None:
    client = own_redis.client("andre-api")
    await client.set("andre:before", "1")
    await client.eval(
        "redis.call('SET', KEYS[1], 'a'); redis.call('SET', KEYS[2], 'b')",
        2,
        "andre:tx1",
        "andre:tx2",
    )
    await client.aclose()
    own_redis.halt()
    _cut_inside_last_multi(own_redis)
    own_redis.launch()
    assert stack.AOF_TRUNCATED in own_redis.log_path.read_text()
    if repair:
        lines: list[str] = []
        assert stack.rewrite_aof(
            own_redis.port, own_redis.passwords["andre-admin"], lambda _n, line: lines.append(line)
        )
        assert lines == ["redis loaded a truncated AOF: rewrote it (BGREWRITEAOF)"]
        admin = own_redis.client("andre-admin")
        try:
            for _ in range(100):  # the rewrite runs in the background: wait for it (10 s at most)
                info = await admin.info("persistence")
                if not info["aof_rewrite_in_progress"] and not info["aof_rewrite_scheduled"]:
                    break
                await asyncio.sleep(0.1)
        finally:
            await admin.aclose()
    client = own_redis.client("andre-api")
    await client.set("andre:after", "acknowledged")  # a plain write, after the cut
    await client.aclose()
    own_redis.halt()
    own_redis.launch()
    client = own_redis.client("andre-api")
    try:
        after = await client.get("andre:after")
        assert await client.get("andre:before") == "1"
        assert await client.get("andre:tx1") is None  # the cut transaction is all or nothing
    finally:
        await client.aclose()
    if repair:
        assert after == "acknowledged"
    else:
        # The upstream bug this guards against (valkey#4342): Redis alone loses the later write.
        assert after is None
        assert "Revert incomplete MULTI" in own_redis.log_path.read_text()


def test_stack_redis_output_truncated_load_starts_one_rewrite(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    started = threading.Event()
    calls: list[tuple[int, str]] = []

    def fake_rewrite(port: int, password: str, emit: Any) -> bool:
        calls.append((port, password))
        started.set()
        return True

    monkeypatch.setattr(stack, "rewrite_aof", fake_rewrite)
    emit = stack.redis_output("admin-pw")
    emit("redis", "1:M 04 Dec 2026 08:00:00.000 * Ready to accept connections")
    assert calls == []
    emit("redis", f"1:M 04 Dec 2026 # AOF appendonly.aof.1.incr.aof {stack.AOF_TRUNCATED}")
    assert started.wait(5)
    assert calls == [(stack.PORTS["redis"], "admin-pw")]


def test_stack_dev_admin_default_and_environment_wins(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(stack, "STATE", tmp_path)  # build_children writes the ACL and Caddyfile
    values = dict.fromkeys(("ANDRE_API_TOKEN", "ANDRE_SECRET_KEY"), "x" * 20)
    values |= {stack._secret_env_name(u): "p" * 20 for u in stack.render_acl.USERS}
    monkeypatch.delenv("ANDRE_ADMIN_EMAILS", raising=False)
    web = next(c for c in stack.build_children(values) if c.name == "web")
    assert web.env["ANDRE_ADMIN_EMAILS"] == stack.DEV_ADMIN
    monkeypatch.setenv("ANDRE_ADMIN_EMAILS", "")
    web = next(c for c in stack.build_children(values) if c.name == "web")
    assert web.env["ANDRE_ADMIN_EMAILS"] == ""
