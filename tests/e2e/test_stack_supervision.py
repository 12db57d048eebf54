import array
import fcntl
import os
import shutil
import signal
import socket
import ssl
import subprocess
import termios
import threading
import time
from collections.abc import Callable, Iterator

import httpx
import psutil
import pytest
import redis

from tests.support.stack import CHILD_NAMES, LocalStack

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]

STOP_LIMIT_S = 10.0  # what `make up` promises for SIGINT/SIGTERM
BACK_LIMIT_S = 10.0  # a SIGKILLed child serves again within this
PIPE_FULL_BYTES = 32_768  # a Linux pipe holds up to 64 KiB of whole log lines


def _probe(stack: LocalStack, name: str, killed: str) -> Callable[[], bool]:
    """Whether ``name`` answers. While Redis is down the services still answer, with a 503 that
    names it; otherwise the answer must be a 200. Caddy is asked for a backend that is up."""
    any_answer = killed == "redis"
    context = ssl.create_default_context(cafile=str(stack.ca_file))

    def ok(response: httpx.Response) -> bool:
        return response.status_code < 600 if any_answer else response.status_code == 200

    if name == "redis":
        password = stack.secret("ANDRE_REDIS_PASSWORD_HEALTHCHECK")

        def ping() -> bool:
            client = redis.Redis(
                host="127.0.0.1",
                port=stack.ports["redis"],
                username="healthcheck",
                password=password,
                socket_timeout=2,
                socket_connect_timeout=2,
            )
            try:
                return bool(client.ping())
            finally:
                client.close()

        return ping
    if name == "caddy":
        path = "/api/health" if killed == "web" else "/health"
        return lambda: ok(httpx.get(f"{stack.https}{path}", verify=context, timeout=2))
    path = "/api/health" if name == "api" else "/health"
    return lambda: ok(httpx.get(f"http://127.0.0.1:{stack.ports[name]}{path}", timeout=2))


def _answers(probe: Callable[[], bool]) -> bool:
    try:
        return probe()
    except (httpx.HTTPError, redis.RedisError, OSError):
        return False


class Watch:
    """Polls the children that were not killed, on a thread, and records every failed probe."""

    def __init__(self, probes: dict[str, Callable[[], bool]]) -> None:
        self.probes = probes
        self.failures: list[str] = []
        self.rounds = 0
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        for _ in range(1000):  # bounded: 1000 rounds is far beyond any test here
            for name, probe in self.probes.items():
                if not _answers(probe):
                    self.failures.append(f"{name} at {time.monotonic():.2f}")
            self.rounds += 1
            if self._done.wait(0.1):
                return

    def __enter__(self) -> "Watch":
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._done.set()
        self._thread.join(timeout=10)


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    running = LocalStack.start()
    yield running
    code = running.stop()
    assert code == 0
    assert running.stragglers == []


@pytest.mark.parametrize("victim", CHILD_NAMES)
def test_stack_sigkilled_child_is_back_within_10s_and_others_keep_serving(
    stack: LocalStack, victim: str
) -> None:
    before = {name: p.pid for name, p in stack.children().items()}
    assert set(before) == set(CHILD_NAMES)
    others = {name: _probe(stack, name, victim) for name in CHILD_NAMES if name != victim}
    assert all(_answers(probe) for probe in others.values())
    mark = len(stack.lines)
    with Watch(others) as watch:
        killed_at = time.monotonic()
        psutil.Process(before[victim]).kill()
        back = _probe(stack, victim, killed="")
        while time.monotonic() - killed_at < BACK_LIMIT_S:
            child = stack.children().get(victim)
            if child is not None and child.pid != before[victim] and _answers(back):
                break
            time.sleep(0.1)
        back_after_s = time.monotonic() - killed_at
        if victim == "redis":
            # The services reconnect by themselves: their health is a 200 again.
            api = _probe(stack, "api", killed="")
            while time.monotonic() - killed_at < BACK_LIMIT_S and not _answers(api):
                time.sleep(0.1)
            assert _answers(api), "api did not reconnect to the restarted Redis"
        # Keep watching the others for a few rounds more: through and after the restart.
        seen = watch.rounds
        deadline = time.monotonic() + 5
        while watch.rounds < seen + 3 and time.monotonic() < deadline:
            time.sleep(0.05)
    assert back_after_s < BACK_LIMIT_S, f"{victim} not back after {back_after_s:.1f}s"
    assert watch.rounds >= 3 and watch.failures == []
    after = {name: p.pid for name, p in stack.children().items()}
    assert after[victim] != before[victim]
    assert {n: p for n, p in after.items() if n != victim} == {
        n: p for n, p in before.items() if n != victim
    }
    assert stack.wait_for_line(
        f"{victim} exited unexpectedly (killed by SIGKILL); restart 1 in 0.5 s", 5, start=mark
    )


def test_stack_child_crash_loop_gives_up_exits_nonzero_and_leaves_nothing() -> None:
    stack = LocalStack.start()
    blocker = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        blocker.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        victim = stack.children()["redis"]
        victim.kill()
        victim.wait(timeout=5)
        # Take Redis's port before its first restart (0.5 s later): every restart now fails.
        deadline = time.monotonic() + 0.4
        while True:
            try:
                blocker.bind(("127.0.0.1", stack.ports["redis"]))
                break
            except OSError:
                assert time.monotonic() < deadline, "could not take Redis's port in time"
                time.sleep(0.01)
        blocker.listen()
        assert stack.wait_for_line("redis keeps crashing", 40), "\n".join(stack.lines[-30:])
        code = stack.proc.wait(timeout=STOP_LIMIT_S + 5)
    finally:
        blocker.close()
        final = stack.stop()
    assert code == final == 1
    runner = stack.output("stack")
    gave_up = next(line for line in runner if "keeps crashing" in line)
    assert "5 restarts within 60 s" in gave_up and "run `make up` again" in gave_up
    assert sum(1 for line in runner if line.startswith("redis exited unexpectedly")) == 5
    assert "Address already in use" in "\n".join(stack.output("redis"))
    assert stack.stragglers == []


def _stop_and_check(stack: LocalStack, sig: int, repeat: int) -> float:
    started = time.monotonic()
    code = stack.stop(sig, timeout_s=STOP_LIMIT_S + 10, repeat=repeat)
    took_s = time.monotonic() - started
    assert took_s < STOP_LIMIT_S, f"stop took {took_s:.1f}s:\n" + "\n".join(stack.lines[-20:])
    assert code == 0
    assert stack.stragglers == []
    return took_s


@pytest.mark.timeout(240)  # 20 full start-ups: about 50 s alone, more on a busy machine
def test_stack_twenty_start_stop_cycles_each_end_within_10s_leaving_nothing() -> None:
    # What make and a terminal send: one SIGTERM, SIGTERM twice (make forwards it, then the
    # process-group kill repeats it), Ctrl-C.
    kinds = [(signal.SIGTERM, 1), (signal.SIGTERM, 2), (signal.SIGINT, 1), (signal.SIGINT, 2)]
    for cycle in range(20):
        sig, repeat = kinds[cycle % len(kinds)]
        _stop_and_check(LocalStack.start(), sig, repeat)


@pytest.mark.parametrize("when", ["up", "starting"])
def test_stack_signal_storm_stops_within_10s_leaving_nothing(when: str) -> None:
    stack = LocalStack.launch()
    try:
        if when == "up":
            stack.wait_up()
        else:
            assert stack.wait_for_line("redis started", 30)
            stack.children()  # remember what was started so far
    except BaseException:
        stack.stop(signal.SIGKILL)
        raise
    # The old handler deadlocked when a SIGTERM interrupted an earlier one's handler. Signals
    # back to back (mostly SIGTERM, some SIGINT and SIGHUP) until the runner has exited make
    # that interleaving likely, and also hit the interpreter's teardown after the stop. The
    # runner is not reaped before stop() (WNOWAIT), so its pid cannot be reused meanwhile.
    pid = stack.proc.pid
    flags = os.WEXITED | os.WNOHANG | os.WNOWAIT
    started = time.monotonic()
    storm = [signal.SIGTERM] * 98 + [signal.SIGINT, signal.SIGHUP]
    for sent in range(20_000_000):
        os.kill(pid, storm[sent % len(storm)])
        if sent % 1000 == 0 and (
            os.waitid(os.P_PID, pid, flags) is not None or time.monotonic() - started > STOP_LIMIT_S
        ):
            break
    code = stack.stop(signal.SIGTERM, timeout_s=STOP_LIMIT_S + 10)
    took_s = time.monotonic() - started
    assert took_s < STOP_LIMIT_S, f"stop took {took_s:.1f}s:\n" + "\n".join(stack.lines[-20:])
    assert code == 0, f"exit status {code} (negative: killed by that signal):\n" + "\n".join(
        stack.lines[-20:]
    )
    assert stack.stragglers == []


def test_stack_runner_killed_outright_takes_its_children_along() -> None:
    stack = LocalStack.start()
    stack.proc.kill()
    stack.proc.wait(timeout=5)
    deadline = time.monotonic() + STOP_LIMIT_S
    while stack.leftovers() and time.monotonic() < deadline:
        time.sleep(0.1)
    leftovers = stack.leftovers()
    stack.stop()
    assert leftovers == []


def test_stack_killed_whole_restarts_on_the_same_state_and_ports() -> None:
    first = LocalStack.start()
    try:
        try:
            token = first.secret("ANDRE_API_TOKEN")
            first.kill()
            assert first.leftovers() == []
            assert "User requested shutdown..." not in first.output("redis")  # no graceful save
        finally:
            first.stop(keep_state=True)
        second = LocalStack.start(state=first.state, ports=first.ports)
        try:
            context = ssl.create_default_context(cafile=str(second.ca_file))
            response = httpx.get(
                f"{second.https}/api/queue",
                headers={"Authorization": f"Bearer {token}"},
                verify=context,
                timeout=10,
            )
            assert response.status_code == 200
            redis_log = second.output("redis")
            assert any("DB loaded from append only file" in line for line in redis_log)
        finally:
            assert second.stop() == 0
        assert not first.state.exists()
        assert second.stragglers == []
    finally:
        shutil.rmtree(first.state, ignore_errors=True)  # kept for the restart, even on failure


def test_stack_open_event_stream_ends_within_caddys_grace_on_stop() -> None:
    stack = LocalStack.start()
    context = ssl.create_default_context(cafile=str(stack.ca_file))
    streaming = threading.Event()

    def listen() -> None:
        # A browser tab left open: its SSE stream through Caddy ends when the stack stops.
        headers = {"Authorization": f"Bearer {stack.secret('ANDRE_API_TOKEN')}"}
        try:
            with httpx.stream(
                "GET", f"{stack.https}/api/events", headers=headers, verify=context, timeout=30
            ) as response:
                for _ in response.iter_lines():
                    streaming.set()
        except httpx.HTTPError:
            pass

    listener = threading.Thread(target=listen, daemon=True)
    listener.start()
    try:
        assert streaming.wait(10), "the event stream sent nothing"
    except BaseException:
        stack.stop()
        raise
    took_s = _stop_and_check(stack, signal.SIGTERM, repeat=1)
    listener.join(timeout=5)
    assert not any("did not stop within" in line for line in stack.output("stack"))
    # Caddy's 2 s grace ends the stream; without it the stop waited for uvicorn's own 5 s.
    assert took_s < 5.0, f"stop took {took_s:.1f}s with an event stream open"


def _unread_bytes(stack: LocalStack) -> int:
    assert stack.proc.stdout is not None
    size = array.array("i", [0])
    fcntl.ioctl(stack.proc.stdout.fileno(), termios.FIONREAD, size)
    return size[0]


def test_stack_nobody_reading_its_output_still_serves_and_stops_within_10s() -> None:
    stack = LocalStack.start()
    try:
        stack.pause_output()
        context = ssl.create_default_context(cafile=str(stack.ca_file))
        with httpx.Client(verify=context, timeout=5) as client:
            # Caddy logs every request: enough of them fill the runner's stdout pipe. It is full
            # when 20 more requests (each a log line) add nothing to it.
            sizes = [_unread_bytes(stack)]
            for _ in range(150):
                for _ in range(20):
                    assert client.get(f"{stack.https}/health").status_code == 200
                sizes.append(_unread_bytes(stack))
                if sizes[-1] >= PIPE_FULL_BYTES and sizes[-1] == sizes[-2]:
                    break
            assert sizes[-1] >= PIPE_FULL_BYTES and sizes[-1] == sizes[-2], sizes
        started = time.monotonic()
        stack.proc.send_signal(signal.SIGTERM)
        try:
            code = stack.proc.wait(timeout=STOP_LIMIT_S)
        except subprocess.TimeoutExpired:
            code = None
        took_s = time.monotonic() - started
    finally:
        stack.stop()
    assert code == 0, f"no exit {took_s:.1f}s after SIGTERM while stdout was not read"
    assert stack.stragglers == []
