# ruff: noqa: E501  (tables of cases read better one per line)
import copy
import io
import json
from typing import Any

import httpx
import pytest

from deploy import verify
from deploy.verify import Completed, Result

HEADERS = {
    "strict-transport-security": "max-age=31536000; includeSubDomains",
    "content-security-policy": "default-src 'self'; frame-ancestors 'none'",
    "x-content-type-options": "nosniff",
    "referrer-policy": "strict-origin-when-cross-origin",
    "permissions-policy": "camera=()",
}
BASE = "https://andre.test"
HTTP_BASE = "http://andre.test"
TOKEN = "good-token"


def fake_site(**overrides: Any) -> httpx.MockTransport:
    """A well-behaved deployment; overrides break one behaviour each."""

    def handler(request: httpx.Request) -> httpx.Response:
        headers = dict(HEADERS)
        headers.update(overrides.get("headers", {}))
        for name in overrides.get("drop", ()):
            headers.pop(name, None)
        url = request.url
        if url.scheme == "http":
            target = overrides.get("redirect", f"{BASE}{url.raw_path.decode()}")
            return httpx.Response(308, headers={"location": target})
        if url.path in ("/health", "/api/health"):
            return httpx.Response(200, json={"status": "ok"}, headers=headers)
        if url.path == "/api/queue/add" and len(request.content) > 1_000_000:
            return httpx.Response(overrides.get("big", 413), headers=headers)
        auth = request.headers.get("authorization")
        if auth is None and not overrides.get("open_api"):
            return httpx.Response(401, headers={**headers, "www-authenticate": "Bearer"})
        if auth not in (None, f"Bearer {TOKEN}"):
            return httpx.Response(403, headers=headers)
        return httpx.Response(200, json={"queue": []}, headers=headers)

    return httpx.MockTransport(handler)


def run_http(transport: httpx.MockTransport, token: str | None = TOKEN) -> list[Result]:
    with httpx.Client(transport=transport) as client:
        return verify.http_checks(client, BASE, HTTP_BASE, token)


def failed(results: list[Result]) -> list[str]:
    return [r.name for r in results if r.ok is False]


def test_verify_http_good_site_all_pass() -> None:
    results = run_http(fake_site())
    assert failed(results) == []
    assert len(results) >= 17


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ({"drop": ["strict-transport-security"]}, "web: strict-transport-security"),
        (
            {"headers": {"strict-transport-security": "max-age=600"}},
            "api: strict-transport-security",
        ),
        ({"headers": {"content-security-policy": "default-src *"}}, "web: content-security-policy"),
        ({"drop": ["x-content-type-options"]}, "web: x-content-type-options"),
        ({"drop": ["referrer-policy"]}, "api: referrer-policy"),
        ({"drop": ["permissions-policy"]}, "web: permissions-policy"),
        ({"headers": {"server": "Caddy"}}, "web: no Server header"),
        ({"redirect": "http://andre.test/elsewhere"}, "HTTP redirects to HTTPS"),
        ({"open_api": True}, "API without token: 401"),
        ({"big": 200}, "request body limit"),
    ],
)
def test_verify_http_broken_behaviour_fails(override: dict[str, Any], expected: str) -> None:
    assert expected in failed(run_http(fake_site(**override)))


def test_verify_http_wrong_token_accepted_fails() -> None:
    results = run_http(fake_site(), token="bad")
    assert "API with the token: 200" in failed(results)


def test_verify_http_unreachable_fails() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    results = run_http(httpx.MockTransport(handler))
    assert "HTTPS reachable" in failed(results) and "HTTP redirects to HTTPS" in failed(results)


# ---- docker: a fake `docker` CLI answering from a table of containers ----

NETS = ("internal", "frontend", "egress", "edge")
CADDY_IP = "10.0.1.2"


def ip_of(service: str, net: str) -> str:
    if service == "caddy" and net == "frontend":
        return CADDY_IP
    return f"10.0.{NETS.index(net)}.{10 + list(verify.SERVICES).index(service)}"


def inspect_for(service: str) -> dict[str, Any]:
    e = verify.SERVICES[service]
    return {
        "Id": f"id-{service}",
        "Args": ["/usr/local/etc/redis/redis.conf", "--bind", "0.0.0.0"]
        if service == "redis"
        else [],
        "Config": {
            "User": e.user,
            "Image": "andre-app:test",
            "Env": [f"ANDRE_TRUSTED_PROXIES={CADDY_IP}", "PATH=/usr/bin"],
        },
        "State": {"Health": {"Status": "healthy"}},
        "HostConfig": {
            "ReadonlyRootfs": True,
            "CapDrop": ["ALL"],
            "CapAdd": list(e.cap_add) or None,
            "SecurityOpt": ["no-new-privileges:true"],
            "NanoCpus": int(e.cpus * 1e9),
            "Memory": e.memory,
            "PidsLimit": 256,
            "RestartPolicy": {"Name": "unless-stopped"},
            "LogConfig": {"Type": "json-file", "Config": {"max-size": "10m"}},
            "PortBindings": {p: [{"HostPort": p.split("/")[0]}] for p in e.ports},
        },
        "NetworkSettings": {
            "Networks": {f"andre_{n}": {"IPAddress": ip_of(service, n)} for n in e.networks}
        },
    }


class FakeDocker:
    """Containers reach each other exactly when they share a network (the third octet)."""

    def __init__(self) -> None:
        self.inspect = {s: inspect_for(s) for s in verify.SERVICES}
        self.uid = dict.fromkeys(verify.SERVICES, "1000")
        self.cap_eff = dict.fromkeys(verify.SERVICES, "0000000000000000")
        self.writable: set[str] = set()
        self.redis_ping = "(error) NOAUTH Authentication required."
        self.redis_auth_ping = "PONG"
        self.redis_conf = "protected-mode yes\nmaxmemory-policy noeviction\n"
        self.internal = {"internal": True, "frontend": True, "egress": False, "edge": False}
        self.one_shot = {"Status": "exited", "ExitCode": 0}
        self.isolated = True  # False: the bridges forward between networks (no isolation rules)
        self.timeout_status = 124  # coreutils; busybox's timeout exits 143
        self.calls: list[list[str]] = []

    def reaches(self, nets: set[str], ip: str) -> bool:
        return not self.isolated or any(ip.startswith(f"10.0.{NETS.index(n)}.") for n in nets)

    def probe(self, nets: set[str], targets: list[str]) -> Completed:
        ok = [t for t in targets if self.reaches(nets, t.split(":")[0])]
        return Completed(0, " ".join(ok) or "none")

    def nets(self, service: str) -> set[str]:
        names = self.inspect[service]["NetworkSettings"]["Networks"]
        return {n.removeprefix("andre_") for n in names}

    def __call__(self, argv: list[str]) -> Completed:
        self.calls.append(argv)
        if argv[0] == "ps":
            service = argv[-1].split("=")[-1]
            if service == "redis-acl":
                return Completed(0, "id-redis-acl\n" if "-aq" in argv else "")
            return Completed(0, f"id-{service}\n" if service in self.inspect else "")
        if argv[:2] == ["inspect", "id-redis-acl"]:
            return Completed(0, json.dumps([{"State": self.one_shot}]))
        if argv[0] == "inspect":
            return Completed(0, json.dumps([self.inspect[argv[1].removeprefix("id-")]]))
        if argv[0] == "network":
            name = argv[2].removeprefix("andre_")
            return Completed(0, json.dumps([{"Internal": self.internal[name]}]))
        if argv[0] == "run":
            net = argv[argv.index("--network") + 1].removeprefix("andre_")
            return self.probe({net}, argv[argv.index("-c") + 2 :])
        service, cmd = argv[1].removeprefix("id-"), argv[2:]
        if cmd == ["id", "-u"]:
            return Completed(0, self.uid[service] + "\n")
        if cmd[0] == "touch":
            if service in self.writable:
                return Completed(0)
            return Completed(1, "", "touch: /.andre-verify-probe: Read-only file system")
        if cmd == ["cat", "/proc/1/status"]:
            return Completed(0, f"Name:\tx\nCapEff:\t{self.cap_eff[service]}\n")
        if cmd[0] == "redis-cli" and cmd[1] == "PING":
            return Completed(0, self.redis_ping + "\n")
        if cmd[0] == "redis-cli":
            return Completed(0, "(error) WRONGPASS invalid username-password pair\n")
        if cmd[:2] == ["sh", "-c"] and "--user healthcheck PING" in cmd[2]:
            return Completed(0, self.redis_auth_ping + "\n")
        if cmd == ["cat", "/usr/local/etc/redis/redis.conf"]:
            return Completed(0, self.redis_conf)
        if cmd[:2] == ["python", "-c"]:
            return self.probe(self.nets(service), cmd[3:])
        if cmd[:3] == ["timeout", "5", "redis-cli"]:
            ip = cmd[cmd.index("-h") + 1]
            if self.reaches(self.nets(service), ip):
                return Completed(0, 'Error: Protocol error, got "H" as reply type byte\n')
            return Completed(self.timeout_status, "")
        raise AssertionError(f"unexpected docker call {argv}")


def test_verify_docker_hardened_deployment_all_pass() -> None:
    docker = FakeDocker()
    results = verify.docker_checks("andre", docker)
    assert failed(results) == []
    assert len(results) >= 5 * 16
    assert not [c for c in docker.calls if "8.8.8.8" in c or "1.1.1.1" in c]


def test_verify_docker_probes_target_only_own_containers() -> None:
    docker = FakeDocker()
    verify.docker_checks("andre", docker)
    own = {ip_of(s, n) for s in verify.SERVICES for n in NETS}
    probed = [
        a.split(":")[0]
        for c in docker.calls
        if c[0] in ("run", "exec")
        for a in c
        if a.count(".") == 3
    ]
    assert probed and set(probed) <= own


def _set_inspect(path: str, value: Any) -> Any:
    def apply(d: FakeDocker, service: str) -> None:
        node = d.inspect[service]
        *parents, last = path.split(".")
        for p in parents:
            node = node[p]
        node[last] = copy.deepcopy(value)

    return apply


def _join_frontend(d: FakeDocker, service: str) -> None:
    d.inspect[service]["NetworkSettings"]["Networks"]["andre_frontend"] = {
        "IPAddress": ip_of(service, "frontend")
    }


@pytest.mark.parametrize(
    ("service", "breaks", "expected"),
    [
        ("api", _set_inspect("Config.User", ""), "api: non-root user"),
        ("web", _set_inspect("HostConfig.ReadonlyRootfs", False), "web: read-only root"),
        ("player", _set_inspect("HostConfig.CapDrop", []), "player: cap_drop ALL"),
        ("redis", _set_inspect("HostConfig.CapAdd", ["SETUID", "SETGID"]), "redis: no capability added back"),
        ("caddy", _set_inspect("HostConfig.SecurityOpt", []), "caddy: no-new-privileges"),
        ("api", _set_inspect("HostConfig.NanoCpus", 0), "api: CPU limit 1.0"),
        ("redis", _set_inspect("HostConfig.Memory", 0), "redis: memory limit"),
        ("web", _set_inspect("HostConfig.PidsLimit", None), "web: pids limit"),
        ("player", _set_inspect("HostConfig.RestartPolicy.Name", "no"), "player: restart policy"),
        ("caddy", _set_inspect("HostConfig.LogConfig.Config", {}), "caddy: log rotation"),
        ("api", _set_inspect("State.Health.Status", "unhealthy"), "api: healthy"),
        ("redis", _set_inspect("HostConfig.PortBindings", {"6379/tcp": [{"HostPort": "6379"}]}), "redis: published ports"),
        ("redis", _set_inspect("NetworkSettings.Networks", {"andre_internal": {}, "andre_egress": {}}), "redis: networks"),
        ("redis", _join_frontend, "redis unreachable from caddy's network frontend"),
        ("redis", lambda d, s: d.internal.__setitem__("internal", False), "redis: network internal is internal (no egress)"),
        ("redis", lambda d, s: setattr(d, "isolated", False), "redis unreachable from caddy's network edge"),
        ("redis", lambda d, s: setattr(d, "isolated", False), f"redis cannot reach caddy's public-side address {ip_of('caddy', 'edge')}"),
        ("api", lambda d, s: d.inspect[s]["NetworkSettings"]["Networks"].pop("andre_internal"), "api reaches redis (control for the probes)"),
        ("api", _set_inspect("Config.Env", ["ANDRE_TRUSTED_PROXIES=10.0.1.0/24"]), "api: X-Forwarded-For trusted only from Caddy"),
        ("web", _set_inspect("Config.Env", []), "web: X-Forwarded-For trusted only from Caddy"),
        ("api", lambda d, s: d.uid.__setitem__(s, "0"), "api: process uid"),
        ("web", lambda d, s: d.writable.add(s), "web: cannot write to /"),
        ("caddy", lambda d, s: d.cap_eff.__setitem__(s, "0000000000000400"), "caddy: CapEff 0"),
        ("redis", lambda d, s: setattr(d, "redis_ping", "PONG"), "redis: unauthenticated PING gets NOAUTH"),
        ("redis", lambda d, s: setattr(d, "redis_auth_ping", "(error) WRONGPASS"), "redis: authenticated PING gets PONG"),
        ("redis", lambda d, s: setattr(d, "redis_conf", "protected-mode no\n"), "redis: protected-mode yes"),
        ("redis", _set_inspect("Args", ["/usr/local/etc/redis/redis.conf", "--protected-mode", "no"]), "redis: protected-mode yes"),
        ("redis", lambda d, s: d.internal.__setitem__("internal", False), "network internal is internal (no egress)"),
        ("redis", lambda d, s: d.one_shot.update(Health={"Status": "unhealthy"}), "redis-acl: exited 0, no health state"),
        ("redis", lambda d, s: d.one_shot.update(ExitCode=2), "redis-acl: exited 0, no health state"),
        ("player", lambda d, s: d.inspect.pop(s), "player: container running"),
    ],
)  # fmt: skip
def test_verify_docker_broken_measure_fails(service: str, breaks: Any, expected: str) -> None:
    docker = FakeDocker()
    breaks(docker, service)
    assert expected in failed(verify.docker_checks("andre", docker))


@pytest.mark.parametrize(("status", "passes"), [(124, True), (143, True), (127, False)])
def test_verify_redis_egress_probe_timeout_statuses(status: int, passes: bool) -> None:
    docker = FakeDocker()
    docker.timeout_status = status  # 127: no `timeout` in the image, so nothing is proved
    row = f"redis cannot reach caddy's public-side address {ip_of('caddy', 'edge')}"
    assert (row in failed(verify.docker_checks("andre", docker))) is not passes


def test_verify_cap_eff_parsing() -> None:
    assert verify.cap_eff("Name:\tx\nCapEff:\t00000000a80425fb\n") == 0xA80425FB
    assert verify.cap_eff("nothing") is None


# ---- durability: a fake Redis behind `docker exec -i ... redis-cli`, a fake compose ----


class FakeRedisStack:
    def __init__(self, keeps: set[str]) -> None:
        self.keeps = keeps  # the steps whose data survive: "restart", "down"
        self.data: dict[str, str] = {}
        self.log = "Ready to accept connections\n"
        self.compose_calls: list[list[str]] = []

    def docker(self, argv: list[str]) -> Completed:
        if argv[0] == "ps":
            return Completed(0, "id-redis\n")
        if argv[0] == "inspect":
            return Completed(0, "healthy\n")
        if argv[0] == "logs":
            return Completed(0, self.log)
        raise AssertionError(argv)

    def feed(self, argv: list[str], stdin: str | None) -> Completed:
        assert argv[:2] == ["exec", "-i"] and stdin is not None
        password, *lines = stdin.splitlines()
        assert password == "pw" and "pw" not in " ".join(argv)
        out = []
        for line in lines:
            words = line.split()
            if words[0] in ("MULTI", "EXEC"):
                out.append("OK")
            elif words[0] == "SET":
                self.data[words[1]] = words[2]
                out.append("QUEUED")
            elif words[0] == "EVAL":
                self.data[words[-2]] = words[-1]
                out.append("OK")
            elif words[0] == "GET":
                out.append(self.data.get(words[1], ""))
            elif words[0] == "DEL":
                out.append("2")
        return Completed(0, "\n".join(out) + "\n")

    def compose(self, argv: list[str]) -> Completed:
        self.compose_calls.append(argv)
        if argv[0] in ("restart", "down") and argv[0] not in self.keeps:
            self.data.clear()
        return Completed(0)


def _durability(stack: FakeRedisStack) -> list[Result]:
    return verify.durability_checks(
        "andre", stack.docker, stack.feed, stack.compose, "pw", sleep=lambda s: None
    )


def test_verify_durability_kept_data_passes() -> None:
    stack = FakeRedisStack({"restart", "down"})
    results = _durability(stack)
    assert failed(results) == [] and len(results) == 5
    assert stack.compose_calls == [["restart", "redis"], ["down"], ["up", "-d", "--wait"]]


@pytest.mark.parametrize(
    ("keeps", "log", "expected"),
    [
        ({"down"}, "", "data survives `docker compose restart redis`"),
        ({"restart"}, "", "data survives `docker compose down` and `up` (volume kept)"),
        ({"restart", "down"}, "# Error running EXEC: NOPERM this user has no permissions", "redis log clean after `docker compose restart redis`"),
    ],
)  # fmt: skip
def test_verify_durability_lost_data_fails(keeps: set[str], log: str, expected: str) -> None:
    stack = FakeRedisStack(keeps)
    stack.log += log
    assert expected in failed(_durability(stack))


# ---- host ----

SSHD_T = "port 22\npermitrootlogin no\npasswordauthentication no\npubkeyauthentication yes\nkbdinteractiveauthentication no\n"
UFW = """Status: active

To                         Action      From
--                         ------      ----
22/tcp                     ALLOW       Anywhere
80/tcp                     ALLOW       Anywhere
443/tcp                    ALLOW       Anywhere
22/tcp (v6)                ALLOW       Anywhere (v6)
80/tcp (v6)                ALLOW       Anywhere (v6)
443/tcp (v6)               ALLOW       Anywhere (v6)
"""


def fake_host(**answers: str) -> verify.Runner:
    table = {
        "sshd -T": SSHD_T,
        "ufw status": UFW,
        "fail2ban-client status sshd": "Status for the jail: sshd",
        "fail2ban-client get sshd maxretry": "3",
        "fail2ban-client get sshd bantime": "31536000",
        "fail2ban-client get sshd findtime": "86400",
        "fail2ban-client get sshd ignoreip": "These IP addresses/networks are ignored:\n|- 127.0.0.1/8\n`- 100.64.0.0/10",
        "apt-config dump APT::Periodic::Unattended-Upgrade": 'APT::Periodic::Unattended-Upgrade "1";',
        "tailscale status --json": '{"BackendState": "Running"}',
    }  # fmt: skip
    table.update(answers)

    def run(argv: list[str]) -> Completed:
        return Completed(0, table[" ".join(argv)])

    return run


def test_verify_host_hardened_all_pass() -> None:
    assert failed(verify.host_checks(fake_host())) == []


@pytest.mark.parametrize(
    ("key", "answer", "expected"),
    [
        ("sshd -T", SSHD_T.replace("permitrootlogin no", "permitrootlogin yes"), "sshd permitrootlogin no"),
        ("sshd -T", SSHD_T.replace("passwordauthentication no", "passwordauthentication yes"), "sshd passwordauthentication no"),
        ("ufw status", UFW + "6379/tcp                   ALLOW       Anywhere\n", "UFW allows exactly 22, 80, 443"),
        ("ufw status", "Status: inactive\n", "UFW active"),
        ("fail2ban-client get sshd bantime", "600", "fail2ban sshd bantime 31536000"),
        ("fail2ban-client get sshd ignoreip", "127.0.0.1/8", "fail2ban ignores the Tailscale range"),
        ("tailscale status --json", '{"BackendState": "NeedsLogin"}', "Tailscale joined"),
    ],
)  # fmt: skip
def test_verify_host_broken_measure_fails(key: str, answer: str, expected: str) -> None:
    assert expected in failed(verify.host_checks(fake_host(**{key: answer})))


def test_verify_report_exit_code_and_lines() -> None:
    out = io.StringIO()
    ok = [Result("§6", "a", True), Result("-", "b", None, "skipped")]
    assert verify.report(ok, out) == 0
    assert out.getvalue().splitlines()[:2] == ["PASS  [§6] a", "SKIP  [-] b (skipped)"]
    out = io.StringIO()
    assert verify.report([*ok, Result("§10", "c", False, "why")], out) == 1
    assert "FAIL  [§10] c (why)" in out.getvalue()


def test_verify_run_all_without_url_fails() -> None:
    results = verify.run_all({"ANDRE_VERIFY_SKIP": "docker,host"})
    assert failed(results) == ["ANDRE_VERIFY_URL set to https://..."]
    assert [r.ok for r in results].count(None) == 3
