"""Boot the local stack exactly as ``make up`` does (scripts/stack.py), on free ports."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil
from redis.asyncio import Redis

from tests.support.redis_server import free_port

ROOT = Path(__file__).resolve().parents[2]
PORT_NAMES = ("https", "http", "api", "web", "player", "redis")
CHILD_NAMES = ("redis", "api", "web", "player", "caddy")


def _child_name(proc: psutil.Process) -> str | None:
    """Which of the stack's children ``proc`` is (redis-server rewrites its own cmdline)."""
    cmdline = proc.cmdline()
    exe = Path(cmdline[0].split(" ")[0]).name if cmdline else ""
    if exe == "redis-server":
        return "redis"
    if exe == "caddy":
        return "caddy"
    if "-m" in cmdline[:-1]:
        module = cmdline[cmdline.index("-m") + 1]
        if module.startswith("services."):
            # A replica is told its own name (api-2, web-3); the first is the service's.
            service = module.removeprefix("services.")
            return proc.environ().get("ANDRE_SERVICE_NAME", service)
    return None


@dataclass
class LocalStack:
    state: Path
    ports: dict[str, int]
    proc: subprocess.Popen[str]
    lines: list[str] = field(default_factory=list)
    descendants: list[psutil.Process] = field(default_factory=list)
    pump: threading.Thread | None = None
    # What was still running when the runner exited (filled by stop(), which then kills it):
    # a stack that stops cleanly leaves this empty.
    stragglers: list[psutil.Process] = field(default_factory=list)
    _reading: threading.Event = field(default_factory=threading.Event, repr=False)
    _seen: dict[int, psutil.Process] = field(default_factory=dict, repr=False)

    @property
    def https(self) -> str:
        return f"https://localhost:{self.ports['https']}"

    @property
    def http(self) -> str:
        return f"http://localhost:{self.ports['http']}"

    @property
    def ca_file(self) -> Path:
        return self.state / "caddy" / "data" / "pki" / "authorities" / "local" / "root.crt"

    def secret(self, name: str) -> str:
        for line in (self.state / "secrets.env").read_text().splitlines():
            key, _, value = line.partition("=")
            if key == name:
                return value
        raise KeyError(name)

    def redis(self, user: str = "andre-api") -> Redis:
        """A client of the stack's Redis as one of its ACL users (the caller closes it)."""
        password = self.secret("ANDRE_REDIS_PASSWORD_" + user.upper().replace("-", "_"))
        return Redis(
            host="127.0.0.1",
            port=self.ports["redis"],
            username=user,
            password=password,
            decode_responses=True,
        )

    @classmethod
    def launch(
        cls,
        extra_env: dict[str, str] | None = None,
        state: Path | None = None,
        ports: dict[str, int] | None = None,
    ) -> LocalStack:
        """Start the runner without waiting for it (``wait_up`` waits). ``state`` and ``ports``
        reuse an earlier stack's (restart tests); new ones are made otherwise."""
        state = state if state is not None else Path(tempfile.mkdtemp(prefix="andre-stack-"))
        ports = dict(ports) if ports is not None else {name: free_port() for name in PORT_NAMES}
        env = {k: v for k, v in os.environ.items() if not k.startswith("ANDRE_")}
        env["ANDRE_STACK_DIR"] = str(state)
        env.update({f"ANDRE_STACK_{k.upper()}_PORT": str(v) for k, v in ports.items()})
        env.update(extra_env or {})
        proc = subprocess.Popen(
            [sys.executable, str(ROOT / "scripts" / "stack.py")],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        stack = cls(state=state, ports=ports, proc=proc)
        stack._reading.set()

        def pump() -> None:
            assert proc.stdout is not None
            for line in proc.stdout:
                stack.lines.append(line.rstrip())
                stack._reading.wait()

        stack.pump = threading.Thread(target=pump, daemon=True)
        stack.pump.start()
        return stack

    @classmethod
    def start(
        cls,
        extra_env: dict[str, str] | None = None,
        timeout_s: float = 60,
        state: Path | None = None,
        ports: dict[str, int] | None = None,
    ) -> LocalStack:
        stack = cls.launch(extra_env, state=state, ports=ports)
        try:
            stack.wait_up(timeout_s)
        except BaseException:
            stack.stop()
            raise
        return stack

    def wait_up(self, timeout_s: float = 60) -> None:
        if not self.wait_for_line("Andre is up", timeout_s):
            raise RuntimeError("stack did not come up:\n" + "\n".join(self.lines[-60:]))
        self.descendants = psutil.Process(self.proc.pid).children(recursive=True)
        self._track()

    def wait_for_line(self, text: str, timeout_s: float, start: int = 0) -> bool:
        """Whether a line containing ``text`` appears (from line ``start`` on) within the time;
        False as soon as the runner has exited without printing it."""
        deadline = time.monotonic() + timeout_s
        while True:
            if any(text in line for line in self.lines[start:]):
                return True
            if time.monotonic() > deadline:
                return False
            if self.proc.poll() is not None:
                if self.pump is not None:
                    self.pump.join(timeout=5)
                return any(text in line for line in self.lines[start:])
            time.sleep(0.05)

    def pause_output(self) -> None:
        """Stop reading the runner's output, like a pager nobody scrolls: its pipe fills up."""
        self._reading.clear()

    def resume_output(self) -> None:
        self._reading.set()

    def output(self, name: str) -> list[str]:
        """The lines one child (or ``stack``, the runner) printed, without the name prefix."""
        prefix = f"{name:<7}| "
        return [line.removeprefix(prefix) for line in self.lines if line.startswith(prefix)]

    def children(self) -> dict[str, psutil.Process]:
        """The runner's live children by name (the keys of CHILD_NAMES)."""
        found: dict[str, psutil.Process] = {}
        try:
            procs = psutil.Process(self.proc.pid).children()
        except psutil.NoSuchProcess:
            return found
        for p in procs:
            try:
                name = _child_name(p)
                if name is not None and p.status() != psutil.STATUS_ZOMBIE:
                    found[name] = p
            except (psutil.NoSuchProcess, psutil.ZombieProcess, psutil.AccessDenied):
                continue
        self._track()
        return found

    def pid(self, name: str) -> int:
        return self.children()[name].pid

    def _track(self) -> None:
        # Every process the stack ever ran is remembered, so leftovers() sees restarted ones too.
        try:
            for p in psutil.Process(self.proc.pid).children(recursive=True):
                self._seen.setdefault(p.pid, p)
        except psutil.NoSuchProcess:
            pass

    def kill(self) -> int:
        """SIGKILL the runner and every child at once, like a power cut: nobody shuts down."""
        if self.proc.poll() is not None:
            return self.proc.returncode
        runner = psutil.Process(self.proc.pid)
        # Frozen first, so it neither restarts the children killed below nor sends them the
        # PDEATHSIG SIGTERM that would let Redis save on its way out.
        runner.suspend()
        self._track()
        doomed = runner.children(recursive=True)
        for p in doomed:
            try:
                p.kill()
            except psutil.NoSuchProcess:
                continue
        self.proc.kill()
        code = self.proc.wait(timeout=10)
        psutil.wait_procs(doomed, timeout=10)  # SIGKILL is delivered, not yet acted on
        self.resume_output()
        if self.pump is not None:
            self.pump.join(timeout=5)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        return code

    def stop(
        self,
        sig: int = signal.SIGTERM,
        timeout_s: float = 20,
        keep_state: bool = False,
        repeat: int = 1,
    ) -> int:
        """Signal the runner (``repeat`` times in a burst) and wait for it; the state folder is
        removed unless ``keep_state`` (a restart on it follows)."""
        self.resume_output()
        self._track()
        for _ in range(repeat):
            if self.proc.poll() is None:
                self.proc.send_signal(sig)
        deadline = time.monotonic() + timeout_s
        while self.proc.poll() is None and time.monotonic() < deadline:
            self._track()  # a child restarted just before the signal is still ours to check
            time.sleep(0.05)
        if self.proc.poll() is None:
            self.kill()
        code = self.proc.wait()
        self.stragglers = self.leftovers()
        # Killed before the state goes: a Redis told to stop after its data folder was removed
        # cannot save, so it refuses to exit and would outlive the test.
        for p in self.stragglers:
            try:
                p.kill()
            except psutil.NoSuchProcess:
                continue
        psutil.wait_procs(self.stragglers, timeout=10)
        if self.pump is not None:
            self.pump.join(timeout=5)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        if not keep_state:
            shutil.rmtree(self.state, ignore_errors=True)
        return code

    def leftovers(self) -> list[psutil.Process]:
        """Processes of this stack still running: every child it ever had and the runner."""
        candidates = {**self._seen, **{p.pid: p for p in self.descendants}}
        alive = []
        for p in candidates.values():
            try:
                if p.is_running() and p.status() != psutil.STATUS_ZOMBIE:
                    alive.append(p)
            except psutil.NoSuchProcess:
                continue
        if self.proc.poll() is None:
            alive.append(psutil.Process(self.proc.pid))
        return alive
