"""Run the whole local stack (Redis, api, web, player, Caddy) in the foreground: ``make up``.

Generates dev secrets once into var/secrets.env (git-ignored); environment variables override
them. Each child's output is prefixed with its name. SIGINT/SIGTERM stop everything.
Ports and the state folder can be moved with ANDRE_STACK_* variables (the tests do).
"""

from __future__ import annotations

import ctypes
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "deploy" / "redis"))
import render_acl  # noqa: E402

STATE = Path(os.environ.get("ANDRE_STACK_DIR", ROOT / "var")).resolve()
PORTS = {
    "https": int(os.environ.get("ANDRE_STACK_HTTPS_PORT", "8443")),
    "http": int(os.environ.get("ANDRE_STACK_HTTP_PORT", "8080")),
    "api": int(os.environ.get("ANDRE_STACK_API_PORT", "8001")),
    "web": int(os.environ.get("ANDRE_STACK_WEB_PORT", "8002")),
    "player": int(os.environ.get("ANDRE_STACK_PLAYER_PORT", "8003")),
    "redis": int(os.environ.get("ANDRE_STACK_REDIS_PORT", "6380")),
}
SERVICE_USERS = {"api": "andre-api", "web": "andre-web", "player": "andre-player"}
_print_lock = threading.Lock()


def say(prefix: str, line: str) -> None:
    with _print_lock:
        sys.stdout.write(f"{prefix:<7}| {line}\n")
        sys.stdout.flush()


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


def api_token_source() -> str:
    """Which API token the services use (never the token itself: logs are not for secrets)."""
    if os.environ.get("ANDRE_API_TOKEN"):
        return (
            "API token in force: ANDRE_API_TOKEN from the environment "
            f"(the one in {STATE / 'secrets.env'} is not used)"
        )
    return f"API token in force: ANDRE_API_TOKEN in {STATE / 'secrets.env'}"


def _die_with_parent() -> None:
    # If the stack runner is killed outright, its children must not outlive it.
    os.setsid()
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


@dataclass
class Child:
    name: str
    argv: list[str]
    env: dict[str, str]
    proc: subprocess.Popen[bytes] | None = None
    pump: threading.Thread | None = field(default=None, repr=False)
    preexec: Callable[[], None] = _die_with_parent

    def start(self) -> None:
        self.proc = subprocess.Popen(
            self.argv,
            cwd=ROOT,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            preexec_fn=self.preexec,
        )
        self.pump = threading.Thread(target=self._pump, daemon=True)
        self.pump.start()

    def _pump(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        for raw in self.proc.stdout:
            say(self.name, raw.decode("utf-8", "replace").rstrip())

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def signal_group(self, sig: int) -> None:
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                pass


def wait_for_port(port: int, timeout_s: float, child: Child) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not child.alive():
            raise RuntimeError(f"{child.name} exited during start-up")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{child.name} did not open port {port} within {timeout_s:.0f}s")


def wait_for_health(url: str, timeout_s: float, child: Child) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not child.alive():
            raise RuntimeError(f"{child.name} exited during start-up")
        try:
            with urllib.request.urlopen(url, timeout=1) as resp:  # noqa: S310 - loopback only
                if resp.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
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
    """Where Caddy reaches a service: a Unix socket in a folder only this user can enter."""
    return STATE / "run" / f"{service}.sock"


def private_redis_data(path: Path) -> None:
    """Redis's data folder 0700 and its files 0600 (they hold sessions, CSRF tokens, guest
    hashes, e-mail addresses); the redis child also runs with umask 077 for the files it makes."""
    path.mkdir(parents=True, exist_ok=True)
    for entry in [path, *path.rglob("*")]:
        entry.chmod(0o700 if entry.is_dir() else 0o600)


def _redis_preexec() -> None:
    os.umask(0o077)
    _die_with_parent()


def build_children(values: dict[str, str]) -> list[Child]:
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
            preexec=_redis_preexec,
        )
    ]
    for service, user in SERVICE_USERS.items():
        env = dict(base_env)
        env.setdefault("ANDRE_ENV", "dev")
        env.setdefault("ANDRE_PUBLIC_URL", f"https://localhost:{PORTS['https']}")
        env.setdefault("ANDRE_PLAY_LOG_DIR", str(STATE / "play_logs"))
        env.update(
            {
                "ANDRE_API_TOKEN": values["ANDRE_API_TOKEN"],
                "ANDRE_SECRET_KEY": values["ANDRE_SECRET_KEY"],
                "ANDRE_REDIS_URL": f"redis://127.0.0.1:{PORTS['redis']}/0",
                "ANDRE_REDIS_USERNAME": user,
                "ANDRE_REDIS_PASSWORD": passwords[user],
                "ANDRE_BIND_HOST": "127.0.0.1",
                "ANDRE_PORT": str(PORTS[service]),
                # X-Forwarded-For is believed only on the proxy's own socket (finding 2).
                "ANDRE_TRUSTED_PROXIES": "",
                "PYTHONUNBUFFERED": "1",
            }
        )
        if service != "player":
            env["ANDRE_PROXY_SOCKET"] = str(proxy_socket(service))
        children.append(Child(service, [sys.executable, "-m", f"services.{service}"], env))

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
            "ANDRE_API_UPSTREAM": f"unix/{proxy_socket('api')}",
            "ANDRE_WEB_UPSTREAM": f"unix/{proxy_socket('web')}",
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


def stop_all(children: list[Child], grace_s: float = 8.0) -> None:
    """Stop Caddy and the services first, Redis last, so nobody loses its store mid-shutdown."""
    stages = [
        [c for c in children if c.name != "redis"],
        [c for c in children if c.name == "redis"],
    ]
    for stage in stages:
        for child in reversed(stage):
            child.signal_group(signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        for child in reversed(stage):
            if child.proc is None:
                continue
            try:
                child.proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                say("stack", f"{child.name} did not stop in time; killing it")
                child.signal_group(signal.SIGKILL)
                child.proc.wait()
    for child in children:
        if child.pump is not None:
            child.pump.join(timeout=1)


def main() -> int:
    stopping = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        stopping.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)

    values = load_or_create_secrets()
    children = build_children(values)
    https = f"https://localhost:{PORTS['https']}"
    try:
        redis = children[0]
        redis.start()
        wait_for_port(PORTS["redis"], 15, redis)
        for child in children[1:4]:
            child.start()
        for child in children[1:4]:
            wait_for_health(
                f"http://127.0.0.1:{PORTS[child.name]}"
                + ("/api/health" if child.name == "api" else "/health"),
                30,
                child,
            )
        children[4].start()
        wait_for_port(PORTS["https"], 20, children[4])
        say("stack", f"Andre is up: {https}/  (http://localhost:{PORTS['http']}/ redirects)")
        say(
            "stack",
            f"REST API: {https}/api/  health: {https}/api/health  web health: {https}/health",
        )
        say("stack", "Ctrl-C stops everything.")
        while not stopping.is_set():
            dead = [c.name for c in children if c.proc is not None and not c.alive()]
            if dead:
                say("stack", f"{', '.join(dead)} exited; stopping the stack")
                return_code = 1
                break
            stopping.wait(0.5)
        else:
            return_code = 0
    except RuntimeError as exc:
        say("stack", f"start-up failed: {exc}")
        return_code = 1
    finally:
        say("stack", "stopping...")
        stop_all(children)
        say("stack", "stopped")
    return return_code


if __name__ == "__main__":
    sys.exit(main())
