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


def inspect_for(service: str) -> dict[str, Any]:
    e = verify.SERVICES[service]
    return {
        "Config": {"User": e.user},
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
        "NetworkSettings": {"Networks": {f"andre_{n}": {} for n in e.networks}},
    }


class FakeDocker:
    def __init__(self) -> None:
        self.inspect = {s: inspect_for(s) for s in verify.SERVICES}
        self.uid = dict.fromkeys(verify.SERVICES, "1000")
        self.cap_eff = dict.fromkeys(verify.SERVICES, "0000000000000000")
        self.writable: set[str] = set()
        self.redis_ping = "(error) NOAUTH Authentication required."
        self.redis_conf = "protected-mode yes\nmaxmemory-policy noeviction\n"
        self.route = "Iface\tDestination\tGateway\neth0\t0012A8C0\t00000000\n"
        self.internal = {"internal": True, "frontend": True}
        self.calls: list[list[str]] = []

    def __call__(self, argv: list[str]) -> Completed:
        self.calls.append(argv)
        if argv[0] == "ps":
            service = argv[-1].split("=")[-1]
            return Completed(0, f"id-{service}\n" if service in self.inspect else "")
        if argv[0] == "inspect":
            return Completed(0, json.dumps([self.inspect[argv[1].removeprefix("id-")]]))
        if argv[0] == "network":
            name = argv[2].removeprefix("andre_")
            return Completed(0, json.dumps([{"Internal": self.internal[name]}]))
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
        if cmd == ["cat", "/usr/local/etc/redis/redis.conf"]:
            return Completed(0, self.redis_conf)
        if cmd == ["cat", "/proc/net/route"]:
            return Completed(0, self.route)
        raise AssertionError(f"unexpected docker call {argv}")


def test_verify_docker_hardened_deployment_all_pass() -> None:
    docker = FakeDocker()
    results = verify.docker_checks("andre", docker)
    assert failed(results) == []
    assert len(results) >= 5 * 16


def _set_inspect(path: str, value: Any) -> Any:
    def apply(d: FakeDocker, service: str) -> None:
        node = d.inspect[service]
        *parents, last = path.split(".")
        for p in parents:
            node = node[p]
        node[last] = copy.deepcopy(value)

    return apply


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
        ("api", lambda d, s: d.uid.__setitem__(s, "0"), "api: process uid"),
        ("web", lambda d, s: d.writable.add(s), "web: cannot write to /"),
        ("caddy", lambda d, s: d.cap_eff.__setitem__(s, "0000000000000400"), "caddy: CapEff 0"),
        ("redis", lambda d, s: setattr(d, "redis_ping", "PONG"), "redis: unauthenticated PING gets NOAUTH"),
        ("redis", lambda d, s: setattr(d, "redis_conf", "protected-mode no\n"), "redis: protected-mode yes"),
        ("redis", lambda d, s: setattr(d, "route", "Iface\tDestination\neth0\t00000000\t0100A8C0\n"), "redis: no route to the internet"),
        ("redis", lambda d, s: d.internal.__setitem__("internal", False), "network internal is internal (no egress)"),
        ("player", lambda d, s: d.inspect.pop(s), "player: container running"),
    ],
)  # fmt: skip
def test_verify_docker_broken_measure_fails(service: str, breaks: Any, expected: str) -> None:
    docker = FakeDocker()
    breaks(docker, service)
    assert expected in failed(verify.docker_checks("andre", docker))


def test_verify_cap_eff_and_route_parsing() -> None:
    assert verify.cap_eff("Name:\tx\nCapEff:\t00000000a80425fb\n") == 0xA80425FB
    assert verify.cap_eff("nothing") is None
    assert verify.has_default_route("Iface Destination Gateway\neth0 00000000 0100A8C0\n")
    assert not verify.has_default_route("Iface Destination Gateway\neth0 0012A8C0 00000000\n")


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
    assert [r.ok for r in results].count(None) == 2
