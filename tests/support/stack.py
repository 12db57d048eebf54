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

from tests.support.redis_server import free_port

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class LocalStack:
    state: Path
    ports: dict[str, int]
    proc: subprocess.Popen[str]
    lines: list[str] = field(default_factory=list)
    descendants: list[psutil.Process] = field(default_factory=list)
    pump: threading.Thread | None = None

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

    @classmethod
    def start(cls, extra_env: dict[str, str] | None = None, timeout_s: float = 60) -> LocalStack:
        state = Path(tempfile.mkdtemp(prefix="andre-stack-"))
        ports = {name: free_port() for name in ("https", "http", "api", "web", "player", "redis")}
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
        ready = threading.Event()

        def pump() -> None:
            assert proc.stdout is not None
            for line in proc.stdout:
                stack.lines.append(line.rstrip())
                if "Andre is up" in line:
                    ready.set()

        stack.pump = threading.Thread(target=pump, daemon=True)
        stack.pump.start()
        deadline = time.monotonic() + timeout_s
        while not ready.wait(0.2):
            if proc.poll() is not None or time.monotonic() > deadline:
                stack.stop()
                raise RuntimeError("stack did not come up:\n" + "\n".join(stack.lines[-60:]))
        stack.descendants = psutil.Process(proc.pid).children(recursive=True)
        return stack

    def stop(self, sig: int = signal.SIGTERM, timeout_s: float = 20) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            code = self.proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait()
        if self.pump is not None:
            self.pump.join(timeout=5)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        shutil.rmtree(self.state, ignore_errors=True)
        return code

    def leftovers(self) -> list[psutil.Process]:
        alive = []
        for p in self.descendants:
            try:
                if p.is_running() and p.status() != psutil.STATUS_ZOMBIE:
                    alive.append(p)
            except psutil.NoSuchProcess:
                continue
        return alive
