"""A real redis-server on a free port, started with the project's redis.conf and ACL file."""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "deploy" / "redis"))
import render_acl  # noqa: E402

SERVICE_USERS = ("andre-api", "andre-web", "andre-player")
MACHINE_REDIS_PORT = 6379  # this machine's own Redis: never ours


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    assert port != MACHINE_REDIS_PORT
    return port


@dataclass
class RedisServer:
    port: int
    workdir: Path
    passwords: dict[str, str] = field(repr=False)
    proc: subprocess.Popen[bytes] | None = None

    @classmethod
    def start(cls) -> RedisServer:
        workdir = Path(tempfile.mkdtemp(prefix="andre-redis-"))
        passwords = {u: secrets.token_urlsafe(24) for u in render_acl.USERS}
        acl = workdir / "users.acl"
        acl.write_text(render_acl.render(passwords), encoding="utf-8")
        os.chmod(acl, 0o600)
        server = cls(port=free_port(), workdir=workdir, passwords=passwords)
        try:
            server.launch()
        except BaseException:
            server.stop()
            raise
        return server

    @property
    def log_path(self) -> Path:
        return self.workdir / "redis.log"

    def launch(self) -> None:
        """Start redis-server on this port and data dir (again, after ``halt``) and wait for it."""
        exe = shutil.which("redis-server") or "/usr/bin/redis-server"
        self.proc = subprocess.Popen(
            [
                exe,
                str(ROOT / "deploy" / "redis" / "redis.conf"),
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--aclfile",
                str(self.workdir / "users.acl"),
                "--dir",
                str(self.workdir),
                "--daemonize",
                "no",
                "--logfile",
                str(self.log_path),
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(self.log_path.read_text(errors="replace")[-2000:])
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def halt(self, sig: int = signal.SIGTERM) -> None:
        """Stop the server with ``sig`` (SIGTERM: clean stop; SIGKILL: a crash); keep its data."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def stop(self) -> None:
        self.halt()
        shutil.rmtree(self.workdir, ignore_errors=True)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def settings_kwargs(self, user: str) -> dict[str, object]:
        """What a service's settings need to reach this server as ``user``."""
        return {
            "redis_url": self.url,
            "redis_username": user,
            "redis_password": self.passwords[user],
        }

    def client(self, user: str | None, password: str | None = None) -> Redis:
        return Redis(
            host="127.0.0.1",
            port=self.port,
            username=user,
            password=password if password is not None else self.passwords.get(user or ""),
            decode_responses=True,
            # Tests want the server's first answer: no backoff-and-retry on refused logins.
            retry=Retry(NoBackoff(), 0),
        )

    async def wipe(self) -> None:
        """Delete every key, as the backup/maintenance user (service users cannot FLUSH)."""
        admin = self.client("andre-admin")
        try:
            batch = [k async for k in admin.scan_iter(count=500)]
            if batch:
                await admin.delete(*batch)
        finally:
            await admin.aclose()
