"""Run the whole local stack (Redis, api, web, player, Caddy) in the foreground: ``make up``.

Generates dev secrets once into var/secrets.env (git-ignored); environment variables override
them. Each child's output is prefixed with its name. A child that exits on its own is restarted
with backoff; one that keeps crashing stops the stack (exit status 1). SIGINT/SIGTERM/SIGHUP stop
everything within STOP_BUDGET_S. Ports and the state folder can be moved with ANDRE_STACK_*
variables (the tests do). ANDRE_API_REPLICAS / ANDRE_WEB_REPLICAS (1..8, default 1) run that many
api / web processes, each a supervised child of its own (``api``, ``api-2``, ...) with its own
proxy socket; Caddy balances across them.
"""

from __future__ import annotations

import ctypes
import os
import queue
import secrets
import select
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
import urllib.request
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "deploy" / "redis"))
sys.path.insert(1, str(ROOT))
import render_acl  # noqa: E402

from shared.backoff import Backoff  # noqa: E402

STATE = Path(os.environ.get("ANDRE_STACK_DIR", ROOT / "var")).resolve()
PORTS = {
    "https": int(os.environ.get("ANDRE_STACK_HTTPS_PORT", "8443")),
    "http": int(os.environ.get("ANDRE_STACK_HTTP_PORT", "8080")),
    "api": int(os.environ.get("ANDRE_STACK_API_PORT", "8001")),
    "web": int(os.environ.get("ANDRE_STACK_WEB_PORT", "8002")),
    "player": int(os.environ.get("ANDRE_STACK_PLAYER_PORT", "8003")),
    "redis": int(os.environ.get("ANDRE_STACK_REDIS_PORT", "6380")),
}
DEV_ADMIN = "admin@example.com"
# Services that may run as several processes behind Caddy, and how many at most (each replica
# holds its own Redis pool and event-hub reader: 8 is plenty on one machine).
REPLICATED = {"api": "ANDRE_API_REPLICAS", "web": "ANDRE_WEB_REPLICAS"}
MAX_REPLICAS = 8
# With several replicas, Caddy skips one whose socket refused a connection for this long (a
# replica that is restarting), so requests go to the others instead of waiting for it.
REPLICA_FAIL_DURATION = "2s"
SERVICE_USERS = {"api": "andre-api", "web": "andre-web", "player": "andre-player"}

# `make up` promises that a stop takes under 10 s. The services get the first share (uvicorn's own
# graceful timeout is 5 s); Redis stops last, in what is left, so it can fsync and snapshot.
STOP_BUDGET_S = 8.5
SERVICES_STOP_S = 6.0
POLL_S = 0.5  # a lost wakeup costs at most this much: exits are also polled

Clock = Callable[[], float]
Log = Callable[[str, str], None]
Wait = Callable[[float], None]


class Output:
    """Every line goes through one writer thread, so a slow or stuck reader of stdout (a paused
    pager, a full pipe) blocks neither the supervisor nor the children's pumps: they only put into
    a queue. While the reader is stuck, lines past MAX_QUEUED are dropped and counted."""

    MAX_QUEUED = 10_000

    def __init__(self, fd: int = 1) -> None:
        self._fd = fd
        self._lines: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
        self._dropped = 0
        self._thread = threading.Thread(target=self._write, name="output", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def say(self, prefix: str, line: str) -> None:
        if self._lines.qsize() >= self.MAX_QUEUED:
            self._dropped += 1  # approximate under races; it only feeds the notice below
            return
        self._lines.put(f"{prefix:<7}| {line}\n".encode("utf-8", "replace"))

    def _write(self) -> None:
        while (chunk := self._lines.get()) is not None:
            self._write_all(chunk)
            if self._dropped and self._lines.empty():  # after the lines queued before the gap
                dropped, self._dropped = self._dropped, 0
                notice = f"stack  | ({dropped} lines dropped: stdout was not read)\n"
                self._write_all(notice.encode())

    def _write_all(self, chunk: bytes) -> None:
        view = memoryview(chunk)
        try:
            while view:
                view = view[os.write(self._fd, view) :]
        except OSError:
            pass  # the reader went away: keep supervising, drop the output

    def close(self, timeout_s: float) -> None:
        """Flush what is queued, waiting at most ``timeout_s`` for a stuck reader."""
        if self._thread.is_alive():
            self._lines.put(None)
            self._thread.join(timeout_s)


OUTPUT = Output()


def say(prefix: str, line: str) -> None:
    OUTPUT.say(prefix, line)


def _secret_env_name(user: str) -> str:
    return "ANDRE_REDIS_PASSWORD_" + user.upper().replace("-", "_")


def load_or_create_secrets() -> dict[str, str]:
    """Dev secrets, generated once; a variable set in the environment wins over the file."""
    path = STATE / "secrets.env"
    values: dict[str, str] = {}
    if path.exists():
        for line in path.read_text(encoding="utf-8").splitlines():
            name, sep, value = line.partition("=")
            if sep and not name.startswith("#"):
                values[name.strip()] = value.strip()
    wanted = ["ANDRE_API_TOKEN", "ANDRE_SECRET_KEY"] + [
        _secret_env_name(u) for u in render_acl.USERS
    ]
    created = [name for name in wanted if not values.get(name)]
    for name in created:
        values[name] = secrets.token_urlsafe(32)
    if created:
        header = "# Local dev secrets for `make up`, generated once. Never commit.\n"
        render_acl.write_private(path, header + "".join(f"{k}={v}\n" for k, v in values.items()))
        say("stack", f"generated local dev secrets in {path}")
        if "ANDRE_API_TOKEN" in created and not os.environ.get("ANDRE_API_TOKEN"):
            say("stack", f"API token (shown once; also in that file): {values['ANDRE_API_TOKEN']}")
    for name in wanted:
        if os.environ.get(name):
            values[name] = os.environ[name]
    say("stack", api_token_source())
    return values


# Loaded here, not in the forked child: dlopen after fork in a threaded process can deadlock.
_LIBC = ctypes.CDLL(None, use_errno=True)
_PR_SET_PDEATHSIG = 1


def _die_with_parent(parent_pid: int, umask: int | None = None) -> Callable[[], None]:
    def preexec() -> None:
        if umask is not None:
            os.umask(umask)
        # If the stack runner is killed outright, its children must not outlive it. The signal
        # fires when the forking *thread* exits, so children are only ever started on the main
        # thread; the ppid check closes the race where the runner died before prctl ran.
        _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent_pid:
            os.kill(os.getpid(), signal.SIGTERM)

    return preexec


def describe_exit(code: int) -> str:
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


def api_token_source() -> str:
    """Which API token the services use (never the token itself: logs are not for secrets)."""
    if os.environ.get("ANDRE_API_TOKEN"):
        return (
            "API token in force: ANDRE_API_TOKEN from the environment "
            f"(the one in {STATE / 'secrets.env'} is not used)"
        )
    return f"API token in force: ANDRE_API_TOKEN in {STATE / 'secrets.env'}"


@dataclass
class Child:
    name: str
    argv: list[str]
    env: dict[str, str]
    emit: Log = say
    proc: subprocess.Popen[bytes] | None = None
    # A umask for the child's own files (Redis: its data must be owner-only).
    umask: int | None = None

    def start(self) -> None:
        # Own session and process group: a terminal's Ctrl-C or make's group kill reaches only
        # the runner, which then stops the children in order.
        self.proc = subprocess.Popen(
            self.argv,
            cwd=ROOT,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_die_with_parent(os.getpid(), self.umask),
        )
        pump = threading.Thread(
            target=self._pump, args=(self.proc,), name=f"pump-{self.name}", daemon=True
        )
        pump.start()

    def _pump(self, proc: subprocess.Popen[bytes]) -> None:
        # Never joined: a grandchild holding the pipe open must not hold up a stop.
        assert proc.stdout is not None
        with proc.stdout:
            for raw in proc.stdout:
                self.emit(self.name, raw.decode("utf-8", "replace").rstrip())

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def signal_group(self, sig: int) -> None:
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                pass


@dataclass
class RestartPolicy:
    """When to restart a child that exited on its own: exponential backoff that resets after a
    stable run, and a crash loop (too many restarts within a window) that gives up."""

    clock: Clock = time.monotonic
    backoff: Backoff = Backoff(0.5, cap_s=4.0)
    stable_after_s: float = 30.0
    max_restarts: int = 5
    window_s: float = 60.0
    attempt: int = field(default=0, init=False)
    _started_at: float | None = field(default=None, init=False)
    _restarts: deque[float] = field(default_factory=deque, init=False)

    def started(self) -> None:
        self._started_at = self.clock()

    def next_delay(self) -> float | None:
        """Seconds to wait before restarting a child that exited now; None: give up."""
        now = self.clock()
        if self._started_at is not None and now - self._started_at >= self.stable_after_s:
            self.attempt = 0
        while self._restarts and now - self._restarts[0] >= self.window_s:
            self._restarts.popleft()
        if len(self._restarts) >= self.max_restarts:
            return None
        self.attempt += 1
        delay = self.backoff.delay(self.attempt)
        self._restarts.append(now)
        return delay


class Supervisor:
    """Restarts children that exit while the stack runs; records a crash loop in ``gave_up``."""

    def __init__(self, children: list[Child], log: Log = say, clock: Clock = time.monotonic):
        self.children = {c.name: c for c in children}
        self.log = log
        self.clock = clock
        self.policies = {c.name: RestartPolicy(clock=clock) for c in children}
        self.gave_up: str | None = None
        self._due: dict[str, float] = {}  # name -> clock time of its scheduled restart

    def start(self, name: str) -> None:
        child = self.children[name]
        child.start()
        self.policies[name].started()
        assert child.proc is not None
        self.log("stack", f"{name} started (pid {child.proc.pid})")

    def check(self) -> float:
        """Notice exits and restart what is due; returns how long the caller may wait."""
        now = self.clock()
        for name, child in self.children.items():
            if name in self._due or child.proc is None:
                continue
            code = child.proc.poll()
            if code is None:
                continue
            policy = self.policies[name]
            delay = policy.next_delay()
            if delay is None:
                self.gave_up = (
                    f"{name} keeps crashing ({describe_exit(code)}; {policy.max_restarts} "
                    f"restarts within {policy.window_s:g} s): giving up and stopping the stack. "
                    f"Fix what its last lines above say, then run `make up` again."
                )
                self.log("stack", self.gave_up)
                return 0.0
            self.log(
                "stack",
                f"{name} exited unexpectedly ({describe_exit(code)}); "
                f"restart {policy.attempt} in {delay:g} s",
            )
            self._due[name] = now + delay
        for name, due in list(self._due.items()):
            if due <= now:
                del self._due[name]
                try:
                    self.start(name)
                except OSError as exc:
                    self.gave_up = f"{name} cannot be started ({exc}): stopping the stack."
                    self.log("stack", self.gave_up)
                    return 0.0
        return max(0.0, min([due - now for due in self._due.values()] + [POLL_S]))


class Signals:
    """Stop signals and SIGCHLD wake the main loop through the interpreter's wakeup fd.

    The handlers only assign an attribute: no lock, so a second signal arriving inside the first
    handler is harmless (a threading.Event here deadlocked: its lock was held by the handler the
    second signal interrupted). Must be created on the main thread.
    """

    STOP = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

    def __init__(self) -> None:
        self.received: int | None = None
        self._read_fd, write_fd = os.pipe()
        os.set_blocking(self._read_fd, False)
        os.set_blocking(write_fd, False)
        signal.set_wakeup_fd(write_fd, warn_on_full_buffer=False)
        for sig in self.STOP:
            signal.signal(sig, self._on_stop)
        signal.signal(signal.SIGCHLD, self._on_child)

    def _on_stop(self, signum: int, _frame: FrameType | None) -> None:
        if self.received is None:
            self.received = signum

    @staticmethod
    def _on_child(_signum: int, _frame: FrameType | None) -> None:
        pass  # the wakeup fd has already woken the loop; the loop polls the children

    def ignore(self) -> None:
        """After the stop: the interpreter's teardown would restore the default handlers, and a
        late signal (make's repeated SIGTERM) would then turn exit status 0 into "killed"."""
        for sig in self.STOP:
            signal.signal(sig, signal.SIG_IGN)

    @property
    def stopping(self) -> bool:
        return self.received is not None

    def wait(self, timeout_s: float) -> None:
        """Sleep until a signal arrives or ``timeout_s`` passes."""
        select.select([self._read_fd], [], [], max(0.0, timeout_s))
        try:
            while os.read(self._read_fd, 512):
                pass
        except BlockingIOError:
            pass


class StopRequested(Exception):
    pass


def still_starting(child: Child, signals: Signals) -> None:
    """Raise if waiting for ``child`` is pointless: a stop was asked for, or it exited."""
    if signals.stopping:
        raise StopRequested
    if not child.alive():
        raise RuntimeError(f"{child.name} exited during start-up")


def wait_for_port(port: int, timeout_s: float, child: Child, signals: Signals) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        still_starting(child, signals)
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            signals.wait(0.1)
    raise RuntimeError(f"{child.name} did not open port {port} within {timeout_s:.0f}s")


def wait_for_health(
    url: str, timeout_s: float, child: Child, signals: Signals, ca_file: Path | None = None
) -> None:
    """Wait for a 200 from ``url``; over HTTPS only once ``ca_file`` exists and verifies it."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        still_starting(child, signals)
        try:
            context = None
            if ca_file is not None:
                if not ca_file.is_file():
                    raise FileNotFoundError(ca_file)  # Caddy has not made its CA yet
                context = ssl.create_default_context(cafile=str(ca_file))
            with urllib.request.urlopen(url, timeout=1, context=context) as resp:  # noqa: S310
                if resp.status == 200:
                    return
        except (OSError, ssl.SSLError):
            pass
        signals.wait(0.2)
    raise RuntimeError(f"{child.name} not healthy at {url} within {timeout_s:.0f}s")


def which(cmd: str) -> str:
    for d in os.environ.get("PATH", "").split(os.pathsep) + ["/usr/sbin", "/usr/bin"]:
        p = Path(d) / cmd
        if p.is_file() and os.access(p, os.X_OK):
            return str(p)
    raise SystemExit(f"stack: {cmd} not found; run `make install` first")


def caddyfile() -> str:
    snippets = ROOT / "deploy" / "caddy" / "andre.caddy"
    https, http = PORTS["https"], PORTS["http"]
    return f"""{{
	admin off
	skip_install_trust
	# An open SSE stream would otherwise hold Caddy's graceful stop until the stack's SIGKILL.
	grace_period 2s
	http_port {http}
	https_port {https}
	default_bind 127.0.0.1 [::1]
	storage file_system {STATE / "caddy" / "data"}
}}

import {snippets}

https://localhost:{https} {{
	tls internal
	import andre_site
}}

http://localhost:{http} {{
	import andre_http_redirect
}}

https://:{https} {{
	tls internal
	import andre_unknown_host
}}

http://:{http} {{
	import andre_unknown_host
}}
"""


def proxy_socket(service: str) -> Path:
    """Where Caddy reaches a service (or one replica of it, e.g. ``api-2``): a Unix socket in a
    folder only this user can enter."""
    return STATE / "run" / f"{service}.sock"


def replica_count(variable: str, environ: dict[str, str] | None = None) -> int:
    """How many processes ``variable`` (ANDRE_API_REPLICAS / ANDRE_WEB_REPLICAS) asks for: 1 when
    unset or empty; a ValueError naming the variable for anything but a whole number 1..8."""
    raw = (os.environ if environ is None else environ).get(variable, "").strip()
    if not raw:
        return 1
    try:
        count = int(raw)
    except ValueError:
        count = 0
    if not 1 <= count <= MAX_REPLICAS or not raw.isdigit():
        raise ValueError(f"{variable} must be a whole number from 1 to {MAX_REPLICAS}, not {raw!r}")
    return count


@dataclass(frozen=True)
class Replica:
    service: str  # api, web, player
    name: str  # the child's name: the service's own for the first, then api-2, api-3, ...
    port: int  # its loopback port (health checks, direct use): the documented one for the first


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def replica_plan(
    environ: dict[str, str] | None = None, free_port: Callable[[], int] = _free_port
) -> dict[str, list[Replica]]:
    """Every service's processes. Replica 1 keeps the documented port (8001 api, 8002 web); the
    others get a free loopback port picked now and kept across their restarts."""
    # A port the OS calls free may still be one of ours that nothing has bound yet (the player's,
    # Redis's, another replica's): never hand out one of those.
    taken = set(PORTS.values())

    def pick() -> int:
        for _ in range(100):
            port = free_port()
            if port not in taken:
                taken.add(port)
                return port
        raise RuntimeError("no free loopback port for a replica")

    plan: dict[str, list[Replica]] = {}
    for service in SERVICE_USERS:
        variable = REPLICATED.get(service)
        count = replica_count(variable, environ) if variable else 1
        plan[service] = [Replica(service, service, PORTS[service])] + [
            Replica(service, f"{service}-{i}", pick()) for i in range(2, count + 1)
        ]
    return plan


def upstreams(replicas: list[Replica]) -> str:
    """Caddy's upstream list for one service: every replica's proxy socket, space-separated."""
    return " ".join(f"unix/{proxy_socket(r.name)}" for r in replicas)


def caddy_upstream_env(plan: dict[str, list[Replica]]) -> dict[str, str]:
    """The variables the shared snippets (deploy/caddy/andre.caddy) read for the upstreams."""
    several = any(len(plan[s]) > 1 for s in REPLICATED)
    return {
        "ANDRE_API_UPSTREAM": upstreams(plan["api"]),
        "ANDRE_WEB_UPSTREAM": upstreams(plan["web"]),
        "ANDRE_UPSTREAM_FAIL_DURATION": REPLICA_FAIL_DURATION if several else "0s",
    }


def describe_plan(plan: dict[str, list[Replica]]) -> str:
    parts = []
    for service, replicas in plan.items():
        ports = ", ".join(f"{r.name} :{r.port}" for r in replicas)
        parts.append(f"{service} x{len(replicas)} ({ports})")
    return "replicas: " + "; ".join(parts)


def private_redis_data(path: Path) -> None:
    """Redis's data folder 0700 and its files 0600 (they hold sessions, CSRF tokens, guest
    hashes, e-mail addresses); the redis child also runs with umask 077 for the files it makes."""
    path.mkdir(parents=True, exist_ok=True)
    for entry in [path, *path.rglob("*")]:
        entry.chmod(0o700 if entry.is_dir() else 0o600)


# Redis 7.0 loads an AOF that a crash cut inside a MULTI block by truncating it just after the
# MULTI: the next restart then finds an unfinished transaction and reverts every write made since
# (fixed upstream as valkey#4342). Rewriting the AOF from memory as soon as such a load happened
# leaves no unfinished MULTI on disk.
AOF_TRUNCATED = "loaded anyway because aof-load-truncated is enabled"


def _resp(*parts: str) -> bytes:
    out = [f"*{len(parts)}\r\n"]
    for part in parts:
        out.append(f"${len(part.encode())}\r\n{part}\r\n")
    return "".join(out).encode()


def rewrite_aof(port: int, admin_password: str, emit: Log, attempts: int = 60) -> bool:
    """BGREWRITEAOF as andre-admin, retried while Redis is still loading (bounded to ~30 s)."""
    for _ in range(attempts):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
                sock.sendall(_resp("AUTH", "andre-admin", admin_password) + _resp("BGREWRITEAOF"))
                reply = b""
                while reply.count(b"\r\n") < 2:
                    chunk = sock.recv(4096)
                    if not chunk:
                        break
                    reply += chunk
            lines = reply.split(b"\r\n")
            if len(lines) >= 2 and lines[1].startswith(b"+"):
                emit("stack", "redis loaded a truncated AOF: rewrote it (BGREWRITEAOF)")
                return True
        except OSError:
            pass
        time.sleep(0.5)
    emit("stack", "redis loaded a truncated AOF and could not rewrite it: run BGREWRITEAOF")
    return False


def redis_output(admin_password: str) -> Log:
    """Redis's log lines, and the AOF rewrite a truncated load needs."""

    def emit(name: str, line: str) -> None:
        say(name, line)
        if AOF_TRUNCATED in line:
            threading.Thread(
                target=rewrite_aof,
                args=(PORTS["redis"], admin_password, say),
                name="aof-rewrite",
                daemon=True,
            ).start()

    return emit


def build_children(
    values: dict[str, str], plan: dict[str, list[Replica]] | None = None
) -> list[Child]:
    plan = replica_plan() if plan is None else plan
    base_env = {k: v for k, v in os.environ.items() if not k.startswith("ANDRE_REDIS_PASSWORD_")}
    private_redis_data(STATE / "redis" / "data")
    (STATE / "run").mkdir(mode=0o700, parents=True, exist_ok=True)
    (STATE / "run").chmod(0o700)
    (STATE / "caddy" / "data").mkdir(parents=True, exist_ok=True)
    (STATE / "play_logs").mkdir(parents=True, exist_ok=True)

    acl = STATE / "redis" / "users.acl"
    passwords = {u: values[_secret_env_name(u)] for u in render_acl.USERS}
    render_acl.write_private(acl, render_acl.render(passwords))

    children = [
        Child(
            "redis",
            [
                which("redis-server"),
                str(ROOT / "deploy" / "redis" / "redis.conf"),
                "--port",
                str(PORTS["redis"]),
                "--bind",
                "127.0.0.1",
                "--aclfile",
                str(acl),
                "--dir",
                str(STATE / "redis" / "data"),
                "--daemonize",
                "no",
                "--logfile",
                "",
            ],
            base_env,
            emit=redis_output(passwords["andre-admin"]),
            umask=0o077,
        )
    ]
    for replica in (r for replicas in plan.values() for r in replicas):
        service = replica.service
        user = SERVICE_USERS[service]
        env = dict(base_env)
        env.setdefault("ANDRE_ENV", "dev")
        env.setdefault("ANDRE_PUBLIC_URL", f"https://localhost:{PORTS['https']}")
        env.setdefault("ANDRE_PLAY_LOG_DIR", str(STATE / "play_logs"))
        # Someone can be an admin out of the box (the dev sign-in page says who); any value set
        # in the environment wins, an empty one included.
        env.setdefault("ANDRE_ADMIN_EMAILS", DEV_ADMIN)
        env.update(
            {
                "ANDRE_API_TOKEN": values["ANDRE_API_TOKEN"],
                "ANDRE_SECRET_KEY": values["ANDRE_SECRET_KEY"],
                "ANDRE_REDIS_URL": f"redis://127.0.0.1:{PORTS['redis']}/0",
                "ANDRE_REDIS_USERNAME": user,
                "ANDRE_REDIS_PASSWORD": passwords[user],
                "ANDRE_BIND_HOST": "127.0.0.1",
                "ANDRE_PORT": str(replica.port),
                # Its log lines and Redis client name tell the replicas apart (andre-api-2).
                "ANDRE_SERVICE_NAME": replica.name,
                # X-Forwarded-For is believed only on the proxy's own socket (finding 2).
                "ANDRE_TRUSTED_PROXIES": "",
                "PYTHONUNBUFFERED": "1",
            }
        )
        if service != "player":
            env["ANDRE_PROXY_SOCKET"] = str(proxy_socket(replica.name))
        children.append(Child(replica.name, [sys.executable, "-m", f"services.{service}"], env))

    cfile = STATE / "caddy" / "Caddyfile"
    cfile.write_text(caddyfile(), encoding="utf-8")
    caddy_env = {
        k: v for k, v in base_env.items() if not k.startswith("ANDRE_") or k.endswith("UPSTREAM")
    }
    caddy_env.update(
        {
            "HOME": str(STATE / "caddy"),
            "XDG_DATA_HOME": str(STATE / "caddy" / "data"),
            "XDG_CONFIG_HOME": str(STATE / "caddy" / "config"),
            **caddy_upstream_env(plan),
            "ANDRE_HTTPS_PORT_SUFFIX": f":{PORTS['https']}",
        }
    )
    children.append(
        Child(
            "caddy",
            [which("caddy"), "run", "--config", str(cfile), "--adapter", "caddyfile"],
            caddy_env,
        )
    )
    return children


def stop_all(
    children: list[Child],
    wait: Wait,
    log: Log = say,
    clock: Clock = time.monotonic,
    budget_s: float = STOP_BUDGET_S,
    services_s: float = SERVICES_STOP_S,
) -> None:
    """Stop Caddy and the services first, Redis last, so nobody loses its store mid-shutdown;
    SIGKILL whatever overruns its share of one overall budget."""
    started = clock()
    stages = [
        ([c for c in children if c.name != "redis"], started + min(services_s, budget_s)),
        ([c for c in children if c.name == "redis"], started + budget_s),
    ]
    for stage, deadline in stages:
        for child in stage:
            child.signal_group(signal.SIGTERM)
        while any(c.alive() for c in stage) and clock() < deadline:
            wait(min(0.1, deadline - clock()))
        for child in stage:
            if child.alive():
                log(
                    "stack",
                    f"{child.name} did not stop within {deadline - started:g} s; killing it",
                )
                child.signal_group(signal.SIGKILL)
        for child in stage:
            if child.proc is not None:
                try:
                    child.proc.wait(timeout=0.5)
                except subprocess.TimeoutExpired:
                    log("stack", f"{child.name} (pid {child.proc.pid}) survived SIGKILL")


def start_up(supervisor: Supervisor, signals: Signals, plan: dict[str, list[Replica]]) -> None:
    children = supervisor.children
    supervisor.start("redis")
    wait_for_port(PORTS["redis"], 15, children["redis"], signals)
    replicas = [r for service in plan.values() for r in service]
    for replica in replicas:
        supervisor.start(replica.name)
    for replica in replicas:
        path = "/api/health" if replica.service == "api" else "/health"
        url = f"http://127.0.0.1:{replica.port}{path}"
        wait_for_health(url, 30, children[replica.name], signals)
    supervisor.start("caddy")
    # Up means a browser can use it: Caddy has made its local CA and serves a certificate that
    # verifies against it (the port alone opens before the certificate exists).
    ca_file = STATE / "caddy" / "data" / "pki" / "authorities" / "local" / "root.crt"
    https_health = f"https://localhost:{PORTS['https']}/health"
    wait_for_health(https_health, 30, children["caddy"], signals, ca_file=ca_file)


def main() -> int:
    # Handlers first: a signal during secret generation or start-up must stop the stack too.
    signals = Signals()
    OUTPUT.start()
    children: list[Child] = []
    return_code = 1
    try:
        try:
            plan = replica_plan()
        except ValueError as exc:
            say("stack", f"cannot start: {exc}")
            return 2
        say("stack", describe_plan(plan))
        children = build_children(load_or_create_secrets(), plan)
        supervisor = Supervisor(children)
        start_up(supervisor, signals, plan)
        https = f"https://localhost:{PORTS['https']}"
        say("stack", f"Andre is up: {https}/  (http://localhost:{PORTS['http']}/ redirects)")
        say(
            "stack",
            f"REST API: {https}/api/  health: {https}/api/health  web health: {https}/health",
        )
        say("stack", "Ctrl-C stops everything.")
        while not signals.stopping and supervisor.gave_up is None:
            signals.wait(supervisor.check())
        return_code = 0 if supervisor.gave_up is None else 1
    except StopRequested:
        return_code = 0
    except RuntimeError as exc:
        say("stack", f"start-up failed: {exc}")
    finally:
        if signals.received is not None:
            say("stack", f"{signal.Signals(signals.received).name} received; stopping...")
        else:
            say("stack", "stopping...")
        stop_all(children, signals.wait)
        signals.ignore()
        say("stack", "stopped")
        OUTPUT.close(timeout_s=0.5)
    return return_code


if __name__ == "__main__":
    sys.exit(main())
