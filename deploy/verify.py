"""Check a LIVE deployment's hardening (``make verify``): PASS/FAIL per check, exit 1 on a FAIL.

Three groups, each driven by settings (environment), none naming an operator's host:
  http    ANDRE_VERIFY_URL (https://your.domain), optional ANDRE_VERIFY_HTTP_URL (default: the same
          host over http), ANDRE_VERIFY_API_TOKEN or ANDRE_VERIFY_API_TOKEN_FILE (enables the
          valid-token check), ANDRE_VERIFY_CA_FILE (a private CA, e.g. the local stack's).
  docker  run on the host (or set ANDRE_VERIFY_DOCKER="ssh deploy@HOST docker"); the compose project
          is ANDRE_VERIFY_PROJECT (default andre).
  host    sshd, UFW, fail2ban, unattended-upgrades and Tailscale on the host itself, through
          ANDRE_VERIFY_SUDO (default "sudo"); only with ANDRE_VERIFY_HOST=1.
  durability  only with ANDRE_VERIFY_DURABILITY=1, because it restarts Redis and takes the whole
          stack down and up again: writes markers (MULTI and Lua, as andre-api, password from
          ANDRE_VERIFY_REDIS_PASSWORD_FILE), runs `restart redis`, `down`, `up -d --wait` through
          ANDRE_VERIFY_COMPOSE (default "docker compose") and reads them back. Runs first, so the
          other docker checks see the stack as it came back.
ANDRE_VERIFY_SKIP=http,docker,host (comma list) leaves groups out, reported as SKIP.
Network isolation is proved from the network configuration and by probing the deployment's own
containers (a probe that must fail, beside a control that must succeed); never an outside address.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shlex
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

Runner = Callable[[list[str]], "Completed"]


@dataclass(frozen=True)
class Completed:
    returncode: int
    stdout: str = ""
    stderr: str = ""


@dataclass(frozen=True)
class Result:
    section: str
    name: str
    ok: bool | None  # None: skipped
    detail: str = ""

    def line(self) -> str:
        status = "SKIP" if self.ok is None else ("PASS" if self.ok else "FAIL")
        tail = f" ({self.detail})" if self.detail else ""
        return f"{status}  [{self.section}] {self.name}{tail}"


def result(section: str, name: str, ok: bool, detail: str = "") -> Result:
    return Result(section, name, bool(ok), detail)


# ---------------------------------------------------------------- expected shape of the deployment


@dataclass(frozen=True)
class Expect:
    user: str
    cpus: float
    memory: int
    cap_add: tuple[str, ...] = ()
    networks: frozenset[str] = field(default_factory=frozenset)
    ports: frozenset[str] = field(default_factory=frozenset)


SERVICES: dict[str, Expect] = {
    "redis": Expect("999:1000", 0.5, 256 << 20, networks=frozenset({"internal"})),
    "api": Expect(
        "1000:1000", 1.0, 512 << 20, networks=frozenset({"internal", "frontend", "egress"})
    ),
    "web": Expect(
        "1000:1000", 1.0, 512 << 20, networks=frozenset({"internal", "frontend", "egress"})
    ),
    "player": Expect("1000:1000", 0.5, 256 << 20, networks=frozenset({"internal", "egress"})),
    "caddy": Expect(
        "1000:1000",
        0.5,
        128 << 20,
        cap_add=("NET_BIND_SERVICE",),
        networks=frozenset({"edge", "frontend"}),
        ports=frozenset({"80/tcp", "443/tcp", "443/udp"}),
    ),
}
SECURITY_HEADERS = {
    "strict-transport-security": re.compile(r"max-age=(\d+);\s*includeSubDomains", re.I),
    "content-security-policy": re.compile(r"frame-ancestors 'none'"),
    "x-content-type-options": re.compile(r"^nosniff$"),
    "referrer-policy": re.compile(r"\S"),
    "permissions-policy": re.compile(r"\S"),
}


# ------------------------------------------------------------------------------------ HTTP checks


def check_security_headers(label: str, resp: httpx.Response) -> list[Result]:
    out = []
    for name, pattern in SECURITY_HEADERS.items():
        value = resp.headers.get(name, "")
        m = pattern.search(value)
        ok = m is not None
        if ok and name == "strict-transport-security":
            ok = int(m.group(1)) >= 31_536_000  # type: ignore[union-attr]
        out.append(result("Caddy", f"{label}: {name}", ok, value or "missing"))
    server = resp.headers.get("server")
    out.append(result("Caddy", f"{label}: no Server header", server is None, server or ""))
    return out


def check_redirect(resp: httpx.Response, https_base: str) -> Result:
    location = resp.headers.get("location", "")
    ok = resp.status_code in (301, 308) and location.startswith(https_base.rstrip("/") + "/")
    return result("§3", "HTTP redirects to HTTPS", ok, f"{resp.status_code} -> {location}")


def check_status(name: str, resp: httpx.Response, expected: int, section: str = "§15") -> Result:
    ok = resp.status_code == expected
    if ok and expected == 401:
        ok = resp.headers.get("www-authenticate", "").lower().startswith("bearer")
    return result(section, name, ok, f"HTTP {resp.status_code}")


def http_checks(
    client: httpx.Client, https_base: str, http_base: str, token: str | None
) -> list[Result]:
    base = https_base.rstrip("/")
    out: list[Result] = []
    try:
        web = client.get(f"{base}/health")
        out.append(check_status("web health", web, 200, "§12"))
        out += check_security_headers("web", web)
        api = client.get(f"{base}/api/health")
        out.append(check_status("api health", api, 200, "§12"))
        out += check_security_headers("api", api)
        out.append(
            check_status("API without token: 401", client.post(f"{base}/api/queue/skip"), 401)
        )
        wrong = {"Authorization": "Bearer verify-wrong-token-0000"}
        out.append(
            check_status(
                "API with a wrong token: 403",
                client.post(f"{base}/api/queue/skip", headers=wrong),
                403,
            )
        )
        if token:
            good = client.get(f"{base}/api/queue", headers={"Authorization": f"Bearer {token}"})
            out.append(check_status("API with the token: 200", good, 200))
        else:
            out.append(Result("§15", "API with the token: 200", None, "no ANDRE_VERIFY_API_TOKEN"))
        big = client.post(
            f"{base}/api/queue/add",
            content=b"x" * (2 * 1024 * 1024),
            headers={"Content-Type": "application/json"},
        )
        out.append(
            result("Caddy", "request body limit", big.status_code == 413, f"HTTP {big.status_code}")
        )
    except httpx.HTTPError as exc:
        out.append(result("Caddy", "HTTPS reachable", False, f"{type(exc).__name__}: {exc}"))
    try:
        parts = urlsplit(base)
        path = "/verify-redirect?x=1"
        resp = client.get(f"{http_base.rstrip('/')}{path}")
        out.append(check_redirect(resp, f"{parts.scheme}://{parts.netloc}"))
    except httpx.HTTPError as exc:
        out.append(result("§3", "HTTP redirects to HTTPS", False, f"{type(exc).__name__}: {exc}"))
    return out


# ---------------------------------------------------------------------------------- Docker checks


def cap_eff(status_text: str) -> int | None:
    for line in status_text.splitlines():
        if line.startswith("CapEff:"):
            return int(line.split()[1], 16)
    return None


def network_ips(info: dict[str, Any], project: str) -> dict[str, str]:
    """Short network name -> the container's IPv4 address on it."""
    nets = ((info.get("NetworkSettings") or {}).get("Networks") or {}).items()
    return {n.removeprefix(f"{project}_"): (v or {}).get("IPAddress", "") for n, v in nets}


def env_of(info: dict[str, Any]) -> dict[str, str]:
    pairs = (info.get("Config") or {}).get("Env") or []
    return dict((e.split("=", 1) + [""])[:2] for e in pairs)


def inspect_checks(
    service: str, info: dict[str, Any], expect: Expect, project: str
) -> list[Result]:
    host = info.get("HostConfig") or {}
    config = info.get("Config") or {}
    out = []
    user = str(config.get("User") or "")
    out.append(
        result(
            "§6",
            f"{service}: non-root user",
            user == expect.user and user.split(":")[0] not in ("", "0", "root"),
            user or "root (unset)",
        )
    )
    out.append(result("§10", f"{service}: read-only root", host.get("ReadonlyRootfs") is True))
    drop = [c.upper().removeprefix("CAP_") for c in host.get("CapDrop") or []]
    add = sorted(c.upper().removeprefix("CAP_") for c in host.get("CapAdd") or [])
    out.append(result("§11", f"{service}: cap_drop ALL", "ALL" in drop, ",".join(drop)))
    out.append(
        result(
            "§11",
            f"{service}: no capability added back",
            add == sorted(expect.cap_add),
            ",".join(add) or "none",
        )
    )
    opts = host.get("SecurityOpt") or []
    nnp = any(o.replace("=", ":") in ("no-new-privileges:true", "no-new-privileges") for o in opts)
    out.append(result("§11", f"{service}: no-new-privileges", nnp))
    cpus = (host.get("NanoCpus") or 0) / 1e9
    out.append(result("§9", f"{service}: CPU limit {expect.cpus}", cpus == expect.cpus, str(cpus)))
    mem = host.get("Memory") or 0
    out.append(result("§9", f"{service}: memory limit", mem == expect.memory, f"{mem} bytes"))
    pids = host.get("PidsLimit") or 0
    out.append(result("§9", f"{service}: pids limit", 0 < pids <= 512, str(pids)))
    restart = (host.get("RestartPolicy") or {}).get("Name", "")
    out.append(
        result(
            "§12", f"{service}: restart policy", restart in ("unless-stopped", "always"), restart
        )
    )
    log = host.get("LogConfig") or {}
    rotated = bool((log.get("Config") or {}).get("max-size"))
    out.append(result("§9", f"{service}: log rotation", rotated, log.get("Type", "")))
    health = ((info.get("State") or {}).get("Health") or {}).get("Status", "none")
    out.append(result("§12", f"{service}: healthy", health == "healthy", health))
    bound = {p for p, b in (host.get("PortBindings") or {}).items() if b}
    out.append(
        result(
            "§3",
            f"{service}: published ports",
            bound == set(expect.ports),
            ",".join(sorted(bound)) or "none",
        )
    )
    nets = set(((info.get("NetworkSettings") or {}).get("Networks") or {}).keys())
    short = {n.removeprefix(f"{project}_") for n in nets}
    out.append(
        result("§8", f"{service}: networks", short == set(expect.networks), ",".join(sorted(short)))
    )
    return out


def exec_checks(service: str, container: str, docker: Runner) -> list[Result]:
    out = []
    uid = docker(["exec", container, "id", "-u"])
    out.append(
        result(
            "§6",
            f"{service}: process uid",
            uid.returncode == 0 and uid.stdout.strip() not in ("", "0"),
            uid.stdout.strip(),
        )
    )
    touch = docker(["exec", container, "touch", "/.andre-verify-probe"])
    ro = touch.returncode != 0 and "read-only" in (touch.stderr + touch.stdout).lower()
    out.append(
        result(
            "§10", f"{service}: cannot write to /", ro, (touch.stderr or touch.stdout).strip()[:80]
        )
    )
    status = docker(["exec", container, "cat", "/proc/1/status"])
    eff = cap_eff(status.stdout) if status.returncode == 0 else None
    out.append(
        result(
            "§11",
            f"{service}: CapEff 0",
            eff == 0,
            f"{eff:016x}" if eff is not None else "unreadable",
        )
    )
    return out


def redis_checks(container: str, docker: Runner, args: list[str] | None = None) -> list[Result]:
    """NOAUTH, PONG, default user, protected mode; ``args``: the container's command line."""
    args = args or []
    out = []
    ping = docker(["exec", container, "redis-cli", "PING"])
    out.append(
        result(
            "§13",
            "redis: unauthenticated PING gets NOAUTH",
            "NOAUTH" in ping.stdout + ping.stderr,
            ping.stdout.strip()[:60],
        )
    )
    default = docker(
        [
            "exec",
            container,
            "redis-cli",
            "--user",
            "default",
            "--pass",
            "verify",
            "--no-auth-warning",
            "PING",
        ]
    )
    text = default.stdout + default.stderr
    out.append(
        result(
            "§14",
            "redis: default user disabled",
            "WRONGPASS" in text or "disabled" in text,
            text.strip()[:60],
        )
    )
    # The health check's user may only PING; its password is in the ACL volume, so no secret
    # has to leave the host for this.
    auth = docker(
        ["exec", container, "sh", "-c",
         'REDISCLI_AUTH="$(cat /etc/redis/acl/healthcheck.pass)" redis-cli --user healthcheck PING']
    )  # fmt: skip
    out.append(
        result(
            "§13",
            "redis: authenticated PING gets PONG",
            auth.stdout.strip() == "PONG",
            (auth.stdout + auth.stderr).strip()[:60],
        )
    )
    conf = docker(["exec", container, "cat", "/usr/local/etc/redis/redis.conf"])
    settings = dict(
        (ln.split(None, 1) + [""])[:2]
        for ln in conf.stdout.splitlines()
        if ln.strip() and not ln.startswith("#")
    )
    overridden = [a for a in args if a.lstrip("-") in ("protected-mode", "maxmemory-policy")]
    out.append(
        result(
            "§13",
            "redis: protected-mode yes",
            settings.get("protected-mode") == "yes" and not overridden,
            " ".join(overridden) or settings.get("protected-mode", "missing"),
        )
    )
    out.append(
        result(
            "§5 DESIGN",
            "redis: maxmemory-policy noeviction",
            settings.get("maxmemory-policy") == "noeviction" and not overridden,
        )
    )
    return out


def network_checks(project: str, docker: Runner) -> list[Result]:
    out = []
    for net in ("internal", "frontend"):
        res = docker(["network", "inspect", f"{project}_{net}"])
        try:
            info = json.loads(res.stdout)[0]
        except (ValueError, IndexError):
            out.append(result("§8", f"network {net} exists", False, res.stderr.strip()[:80]))
            continue
        out.append(
            result("§8", f"network {net} is internal (no egress)", info.get("Internal") is True)
        )
    return out


# Connects to each host:port argument; prints the ones that accepted a TCP connection, or "none".
PROBE = (
    "import socket,sys\n"
    "ok=[]\n"
    "for a in sys.argv[1:]:\n"
    "    h,p=a.rsplit(':',1)\n"
    "    try:\n"
    "        socket.create_connection((h,int(p)),timeout=3).close(); ok.append(a)\n"
    "    except OSError:\n"
    "        pass\n"
    "print(' '.join(ok) or 'none')\n"
)


def isolation_checks(
    project: str, infos: dict[str, dict[str, Any]], docker: Runner
) -> list[Result]:
    """§8 by behaviour: Redis answers its clients and nobody on Caddy's networks; Redis reaches
    nothing outside its internal network. Targets are only this deployment's own containers."""
    out: list[Result] = []
    if not {"redis", "api", "caddy"} <= set(infos):
        return [result("§8", "network isolation probes", False, "redis, api or caddy missing")]
    redis_ips = [ip for ip in network_ips(infos["redis"], project).values() if ip]
    targets = [f"{ip}:6379" for ip in redis_ips]
    for net in sorted(network_ips(infos["redis"], project)):
        res = docker(["network", "inspect", f"{project}_{net}"])
        try:
            internal = json.loads(res.stdout)[0].get("Internal") is True
        except (ValueError, IndexError, AttributeError):
            internal = False
        out.append(result("§8", f"redis: network {net} is internal (no egress)", internal))
    api = infos["api"].get("Id", "")
    control = docker(["exec", api, "python", "-c", PROBE, *targets])
    reached = control.stdout.split()
    out.append(
        result(
            "§8",
            "api reaches redis (control for the probes)",
            control.returncode == 0 and bool(reached) and reached != ["none"],
            control.stdout.strip()[:80] or control.stderr.strip()[:80],
        )
    )
    image = (infos["api"].get("Config") or {}).get("Image", "")
    for net in sorted(network_ips(infos["caddy"], project)):
        # A throwaway container of the app image, as locked down as the services, on one of
        # Caddy's networks: what it reaches, a compromised Caddy would reach.
        probe = docker(
            ["run", "--rm", "--network", f"{project}_{net}", "--user", "1000:1000",
             "--read-only", "--cap-drop", "ALL", "--security-opt", "no-new-privileges:true",
             "--entrypoint", "python", image, "-c", PROBE, *targets]
        )  # fmt: skip
        text = probe.stdout.strip()
        out.append(
            result(
                "§8",
                f"redis unreachable from caddy's network {net}",
                probe.returncode == 0 and text == "none",
                text[:80] or probe.stderr.strip()[:80],
            )
        )
    caddy_out = [
        ip for net, ip in network_ips(infos["caddy"], project).items() if net != "frontend" and ip
    ]
    redis = infos["redis"].get("Id", "")
    for ip in caddy_out:
        # redis-cli is the only client in the Redis image; a refused, dropped or timed-out
        # connection all mean Redis cannot get there.
        res = docker(["exec", redis, "timeout", "5", "redis-cli", "-h", ip, "-p", "80", "PING"])
        text = (res.stdout + res.stderr).strip()
        # 124: coreutils' timeout fired; 143: busybox's (the Alpine image) ends it by SIGTERM.
        blocked = res.returncode in (124, 143) or "Could not connect" in text
        out.append(
            result("§8", f"redis cannot reach caddy's public-side address {ip}", blocked, text[:80])
        )
    return out


def trusted_proxy_checks(project: str, infos: dict[str, dict[str, Any]]) -> list[Result]:
    caddy_ip = network_ips(infos.get("caddy", {}), project).get("frontend", "")
    out = []
    for service in ("api", "web"):
        if service not in infos:
            continue
        trusted = env_of(infos[service]).get("ANDRE_TRUSTED_PROXIES", "")
        out.append(
            result(
                "DESIGN",
                f"{service}: X-Forwarded-For trusted only from Caddy",
                bool(caddy_ip) and trusted == caddy_ip,
                f"trusts {trusted or 'nothing'}, Caddy is {caddy_ip or 'absent'}",
            )
        )
    return out


def find_container(project: str, service: str, docker: Runner, stopped: bool = False) -> str | None:
    res = docker(
        ["ps", "-aq" if stopped else "-q",
         "--filter", f"label=com.docker.compose.project={project}",
         "--filter", f"label=com.docker.compose.service={service}"]
    )  # fmt: skip
    ids = res.stdout.split()
    return ids[0] if res.returncode == 0 and ids else None


def one_shot_checks(project: str, docker: Runner) -> list[Result]:
    container = find_container(project, "redis-acl", docker, stopped=True)
    res = docker(["inspect", container]) if container else Completed(1)
    try:
        state = json.loads(res.stdout)[0].get("State") or {}
    except (ValueError, IndexError, AttributeError):
        return [result("§12", "redis-acl: exited 0", False, "not found")]
    health = (state.get("Health") or {}).get("Status", "none")
    ok = state.get("Status") == "exited" and state.get("ExitCode") == 0 and health == "none"
    detail = f"{state.get('Status')} ({state.get('ExitCode')}), health {health}"
    return [result("§12", "redis-acl: exited 0, no health state", ok, detail)]


def docker_checks(project: str, docker: Runner) -> list[Result]:
    out: list[Result] = []
    infos: dict[str, dict[str, Any]] = {}
    for service, expect in SERVICES.items():
        container = find_container(project, service, docker)
        if container is None:
            out.append(result("§12", f"{service}: container running", False, "not found"))
            continue
        res = docker(["inspect", container])
        try:
            info = json.loads(res.stdout)[0]
        except (ValueError, IndexError):
            out.append(result("§12", f"{service}: docker inspect", False, res.stderr.strip()[:80]))
            continue
        info.setdefault("Id", container)
        infos[service] = info
        out += inspect_checks(service, info, expect, project)
        out += exec_checks(service, container, docker)
        if service == "redis":
            out += redis_checks(container, docker, list(info.get("Args") or []))
    out += one_shot_checks(project, docker)
    out += network_checks(project, docker)
    out += trusted_proxy_checks(project, infos)
    out += isolation_checks(project, infos, docker)
    return out


# ------------------------------------------------------------------------------ durability checks

InputRunner = Callable[[list[str], str | None], Completed]
MARKER_MULTI = "andre:verify:durability:multi"
MARKER_LUA = "andre:verify:durability:lua"
LOG_ERRORS = ("NOPERM", "Bad file format", "Unrecoverable", "Error reading", "error loading")


def _redis_cli(docker: InputRunner, container: str, password: str, commands: str) -> Completed:
    # The password travels on standard input (first line), never on a command line.
    script = 'read -r p; REDISCLI_AUTH="$p" exec redis-cli --user andre-api'
    return docker(["exec", "-i", container, "sh", "-c", script], f"{password}\n{commands}")


def _wait_healthy(
    project: str, docker: Runner, attempts: int = 45, sleep: Callable[[float], None] = time.sleep
) -> str | None:
    for _ in range(attempts):  # bounded: about 90 s
        container = find_container(project, "redis", docker)
        if container:
            res = docker(["inspect", "--format", "{{.State.Health.Status}}", container])
            if res.stdout.strip() == "healthy":
                return container
        sleep(2)
    return None


def durability_checks(
    project: str,
    docker: Runner,
    feed: InputRunner,
    compose: Runner,
    password: str,
    sleep: Callable[[float], None] = time.sleep,
) -> list[Result]:
    out: list[Result] = []
    container = _wait_healthy(project, docker, attempts=1)
    if container is None:
        return [result("§14", "durability: redis running", False, "not healthy")]
    nonce = secrets.token_hex(8)
    lua = "return redis.call('SET', KEYS[1], ARGV[1])"
    wrote = _redis_cli(
        feed,
        container,
        password,
        f'MULTI\nSET {MARKER_MULTI} {nonce}\nEXEC\nEVAL "{lua}" 1 {MARKER_LUA} {nonce}\n',
    )
    out.append(result("§14", "durability: markers written (MULTI and Lua)",
                      wrote.returncode == 0 and wrote.stdout.count("OK") >= 3,
                      wrote.stdout.strip().replace("\n", " ")[:80]))  # fmt: skip

    def read_back(step: str, container: str | None) -> None:
        if container is None:
            out.append(result("§14", f"data survives {step}", False, "redis not healthy again"))
            return
        got = _redis_cli(feed, container, password, f"GET {MARKER_MULTI}\nGET {MARKER_LUA}\n")
        values = got.stdout.split()
        out.append(result("§14", f"data survives {step}", values == [nonce, nonce],
                          " ".join(values)[:80] or got.stderr.strip()[:80]))  # fmt: skip
        logs = docker(["logs", container])
        bad = [ln for ln in (logs.stdout + logs.stderr).splitlines()
               if any(e.lower() in ln.lower() for e in LOG_ERRORS)]  # fmt: skip
        out.append(result("§14", f"redis log clean after {step}", not bad,
                          (bad[0] if bad else "no NOPERM or load error")[:100]))  # fmt: skip

    compose(["restart", "redis"])
    read_back("`docker compose restart redis`", _wait_healthy(project, docker, sleep=sleep))
    compose(["down"])
    up = compose(["up", "-d", "--wait"])
    if up.returncode != 0:
        out.append(result("§12", "stack comes back after down/up", False, up.stderr.strip()[-80:]))
    read_back(
        "`docker compose down` and `up` (volume kept)", _wait_healthy(project, docker, sleep=sleep)
    )
    container = _wait_healthy(project, docker, attempts=1)
    if container:
        _redis_cli(feed, container, password, f"DEL {MARKER_MULTI} {MARKER_LUA}\n")
    return out


# ------------------------------------------------------------------------------------ host checks


def parse_sshd_t(text: str) -> dict[str, str]:
    return dict((ln.split(None, 1) + [""])[:2] for ln in text.lower().splitlines() if ln.strip())


def parse_ufw_status(text: str) -> tuple[bool, set[str]]:
    """(active, allowed "port/proto" from anywhere) out of ``ufw status``."""
    active = "status: active" in text.lower()
    allowed = set()
    for line in text.splitlines():
        m = re.match(r"^(\S+)\s+(?:\(v6\)\s+)?ALLOW(?: IN)?\s+Anywhere", line)
        if m:
            allowed.add(m.group(1) if "/" in m.group(1) else m.group(1) + "/any")
    return active, allowed


def host_checks(run: Runner) -> list[Result]:
    out = []
    sshd = parse_sshd_t(run(["sshd", "-T"]).stdout)
    for key, want in (
        ("permitrootlogin", "no"),
        ("passwordauthentication", "no"),
        ("pubkeyauthentication", "yes"),
        ("kbdinteractiveauthentication", "no"),
    ):
        out.append(
            result("§1", f"sshd {key} {want}", sshd.get(key) == want, sshd.get(key, "missing"))
        )
    active, allowed = parse_ufw_status(run(["ufw", "status"]).stdout)
    out.append(result("§3", "UFW active", active))
    out.append(
        result(
            "§3",
            "UFW allows exactly 22, 80, 443",
            allowed == {"22/tcp", "80/tcp", "443/tcp"},
            ",".join(sorted(allowed)),
        )
    )
    jail = run(["fail2ban-client", "status", "sshd"])
    out.append(result("§2", "fail2ban sshd jail running", jail.returncode == 0))
    for key, want in (("maxretry", "3"), ("bantime", "31536000"), ("findtime", "86400")):
        got = run(["fail2ban-client", "get", "sshd", key]).stdout.strip()
        out.append(result("§2", f"fail2ban sshd {key} {want}", got == want, got))
    ignore = run(["fail2ban-client", "get", "sshd", "ignoreip"]).stdout
    out.append(result("§4", "fail2ban ignores the Tailscale range", "100.64.0.0/10" in ignore))
    auto = run(["apt-config", "dump", "APT::Periodic::Unattended-Upgrade"]).stdout
    out.append(result("§5", "unattended-upgrades enabled", '"1"' in auto, auto.strip()))
    ts = run(["tailscale", "status", "--json"])
    try:
        state = json.loads(ts.stdout).get("BackendState")
    except ValueError:
        state = None
    out.append(result("§4", "Tailscale joined", state == "Running", str(state)))
    return out


# ------------------------------------------------------------------------------------------- main


def subprocess_feeder(prefix: list[str], timeout_s: float = 30) -> InputRunner:
    def run(argv: list[str], stdin: str | None) -> Completed:
        try:
            p = subprocess.run(
                [*prefix, *argv], input=stdin, capture_output=True, text=True,
                timeout=timeout_s, check=False,
            )  # fmt: skip
        except (OSError, subprocess.TimeoutExpired) as exc:
            return Completed(127, "", str(exc))
        return Completed(p.returncode, p.stdout, p.stderr)

    return run


def subprocess_runner(prefix: list[str], timeout_s: float = 30) -> Runner:
    feed = subprocess_feeder(prefix, timeout_s)
    return lambda argv: feed(argv, None)


def report(results: Iterable[Result], stream: Any = sys.stdout) -> int:
    failed = 0
    for r in results:
        print(r.line(), file=stream)
        failed += r.ok is False
    print(f"verify: {failed} failed", file=stream)
    return 1 if failed else 0


def _token(env: dict[str, str]) -> str | None:
    if env.get("ANDRE_VERIFY_API_TOKEN"):
        return env["ANDRE_VERIFY_API_TOKEN"]
    path = env.get("ANDRE_VERIFY_API_TOKEN_FILE")
    return Path(path).read_text().strip() if path else None


def run_all(env: dict[str, str]) -> list[Result]:
    skip = {s.strip() for s in env.get("ANDRE_VERIFY_SKIP", "").split(",") if s.strip()}
    results: list[Result] = []
    url = env.get("ANDRE_VERIFY_URL", "")
    if "http" in skip:
        results.append(Result("-", "http checks", None, "skipped"))
    elif not url.startswith("https://"):
        results.append(result("-", "ANDRE_VERIFY_URL set to https://...", False, url or "unset"))
    else:
        http_url = env.get("ANDRE_VERIFY_HTTP_URL") or "http://" + urlsplit(url).hostname  # type: ignore[operator]
        verify: Any = env.get("ANDRE_VERIFY_CA_FILE") or True
        with httpx.Client(verify=verify, timeout=10, follow_redirects=False) as client:
            results += http_checks(client, url, http_url, _token(env))
    project = env.get("ANDRE_VERIFY_PROJECT", "andre")
    docker_prefix = shlex.split(env.get("ANDRE_VERIFY_DOCKER", "docker"))
    if "docker" in skip or env.get("ANDRE_VERIFY_DURABILITY") != "1":
        results.append(Result("-", "durability checks", None, "set ANDRE_VERIFY_DURABILITY=1"))
    else:
        password_file = env.get("ANDRE_VERIFY_REDIS_PASSWORD_FILE", "")
        compose = subprocess_runner(
            shlex.split(env.get("ANDRE_VERIFY_COMPOSE", "docker compose")), timeout_s=300
        )
        results += durability_checks(
            project,
            subprocess_runner(docker_prefix),
            subprocess_feeder(docker_prefix),
            compose,
            Path(password_file).read_text(encoding="utf-8").strip() if password_file else "",
        )
    if "docker" in skip:
        results.append(Result("-", "docker checks", None, "skipped"))
    else:
        results += docker_checks(project, subprocess_runner(docker_prefix))
    if "host" in skip or env.get("ANDRE_VERIFY_HOST") != "1":
        results.append(Result("-", "host checks", None, "set ANDRE_VERIFY_HOST=1 on the host"))
    else:
        results += host_checks(subprocess_runner(shlex.split(env.get("ANDRE_VERIFY_SUDO", "sudo"))))
    return results


def main() -> int:
    return report(run_all(dict(os.environ)))


if __name__ == "__main__":
    sys.exit(main())
