import copy
import ipaddress
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from tests.deploy.compose_model import DEPLOY, TEST_ENV, MissingVariable, load, parse, raw_text

Compose = dict[str, Any]
SCHEMA = Path(__file__).with_name("schemas") / "compose-spec.json"

APP = ("api", "web", "player")
LONG_RUNNING = ("redis", "api", "web", "player", "caddy")
ONE_SHOT = ("redis-acl",)
SERVICES = ONE_SHOT + LONG_RUNNING

USER = {
    "redis-acl": "1000:1000",
    "redis": "999:1000",
    "api": "1000:1000",
    "web": "1000:1000",
    "player": "1000:1000",
    "caddy": "1000:1000",
}
LIMITS = {  # cpus, memory bytes (SECURITY.md §9 and the table)
    "redis-acl": (0.25, 64 << 20),
    "redis": (0.5, 256 << 20),
    "api": (1.0, 512 << 20),
    "web": (1.0, 512 << 20),
    "player": (0.5, 256 << 20),
    "caddy": (0.5, 128 << 20),
}
NETWORKS = {
    "redis-acl": set(),
    "redis": {"internal"},
    "api": {"internal", "frontend", "egress"},
    "web": {"internal", "frontend", "egress"},
    "player": {"internal", "egress"},
    "caddy": {"edge", "frontend"},
}
# Writable mounts only where needed: play logs, Redis data, Caddy data (and the ACL init step).
MOUNTS = {
    "redis-acl": {("redis_acl", "/var/lib/andre/redis-acl", False)},
    "redis": {("redis_data", "/data", False), ("redis_acl", "/etc/redis/acl", True)},
    "api": set(),
    "web": set(),
    "player": {("play_logs", "/var/lib/andre/play_logs", False)},
    "caddy": {("caddy_data", "/data", False)},
}
SECRETS = {  # names inside /run/secrets: pydantic-settings reads the ANDRE_-prefixed name
    "redis-acl": {
        "redis_password_healthcheck",
        "redis_password_andre_api",
        "redis_password_andre_web",
        "redis_password_andre_player",
        "redis_password_andre_admin",
        "redis_passwords_previous",
    },
    "redis": set(),
    "api": {
        "andre_redis_password",
        "andre_api_token",
        "andre_api_tokens",
        "andre_secret_key",
        "andre_spotify_client_secret",
    },
    "web": {
        "andre_redis_password",
        "andre_secret_key",
        "andre_spotify_client_secret",
        "andre_oidc_client_secret",
    },
    "player": {"andre_redis_password", "andre_secret_key", "andre_spotify_client_secret"},
    "caddy": set(),
}
DEPENDS = {
    "redis-acl": {},
    "redis": {"redis-acl": "service_completed_successfully"},
    "api": {"redis": "service_healthy"},
    "web": {"redis": "service_healthy"},
    "player": {"redis": "service_healthy"},
    "caddy": {"api": "service_healthy", "web": "service_healthy"},
}
SECRETISH = re.compile(r"PASSWORD|TOKEN|SECRET|_KEY$", re.IGNORECASE)
DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")


def svc(c: Compose, name: str) -> dict[str, Any]:
    return c["services"][name]  # type: ignore[no-any-return]


def mem_bytes(value: Any) -> int:
    m = re.fullmatch(r"(\d+)\s*([kmgb]?)b?", str(value).strip().lower())
    assert m, f"unreadable memory limit {value!r}"
    return int(m.group(1)) * {"": 1, "b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}[m.group(2)]


def networks_of(s: dict[str, Any]) -> set[str]:
    nets = s.get("networks") or {}
    return set(nets) if isinstance(nets, dict) else set(nets)


def mounts_of(s: dict[str, Any]) -> set[tuple[str, str, bool]]:
    out = set()
    for v in s.get("volumes") or []:
        if isinstance(v, str):
            parts = v.split(":")
            ro = len(parts) > 2 and "ro" in parts[2].split(",")
            out.add((parts[0], parts[1] if len(parts) > 1 else parts[0], ro))
        else:
            out.add((v.get("source", ""), v["target"], bool(v.get("read_only"))))
    return out


def secret_targets(s: dict[str, Any]) -> set[str]:
    out = set()
    for item in s.get("secrets") or []:
        if isinstance(item, str):
            out.add(item)
        else:
            out.add(Path(item.get("target") or item["source"]).name)
    return out


def redis_effective(c: Compose) -> dict[str, str]:
    """redis.conf as loaded by compose's config, then the command line's --flags over it."""
    conf_file = DEPLOY / c["configs"]["redis_conf"]["file"]
    target = next(x["target"] for x in svc(c, "redis")["configs"] if x["source"] == "redis_conf")
    cmd = [str(x) for x in svc(c, "redis")["command"]]
    assert target in cmd, "redis-server is not started with the project's redis.conf"
    eff: dict[str, str] = {}
    for line in conf_file.read_text().splitlines():
        parts = line.split()
        if parts and not parts[0].startswith("#"):
            eff[parts[0].lower()] = " ".join(parts[1:])
    i = 0
    while i < len(cmd):
        if cmd[i].startswith("--"):
            values = []
            j = i + 1
            while j < len(cmd) and not cmd[j].startswith("--"):
                values.append(cmd[j])
                j += 1
            eff[cmd[i][2:].lower()] = " ".join(values)
            i = j
        else:
            i += 1
    return eff


# ---- the measures: each check raises AssertionError when the measure is broken ----


def check_user(c: Compose, n: str) -> None:
    user = str(svc(c, n).get("user", ""))
    uid = user.split(":")[0]
    assert uid not in ("", "0", "root"), f"{n} runs as root"
    assert user == USER[n], f"{n} runs as {user!r}, expected {USER[n]}"


def check_read_only(c: Compose, n: str) -> None:
    assert svc(c, n).get("read_only") is True, f"{n} has a writable root file system"


def check_tmpfs(c: Compose, n: str) -> None:
    tmpfs = svc(c, n).get("tmpfs") or []
    tmpfs = [tmpfs] if isinstance(tmpfs, str) else tmpfs
    assert any(t.split(":")[0] == "/tmp" for t in tmpfs), f"{n} has no tmpfs /tmp"


def check_mounts(c: Compose, n: str) -> None:
    s = svc(c, n)
    got = mounts_of(s)
    assert got == MOUNTS[n], f"{n} mounts {got}, expected {MOUNTS[n]}"
    for source, _, _ in got:
        assert source in (c.get("volumes") or {}), f"{n} bind-mounts host path {source}"


def check_cap_drop(c: Compose, n: str) -> None:
    assert svc(c, n).get("cap_drop") == ["ALL"], f"{n} does not drop every capability"


def check_cap_add(c: Compose, n: str) -> None:
    expected = ["NET_BIND_SERVICE"] if n == "caddy" else []
    assert (svc(c, n).get("cap_add") or []) == expected, f"{n} adds capabilities back"


def check_no_new_privileges(c: Compose, n: str) -> None:
    opts = svc(c, n).get("security_opt") or []
    assert "no-new-privileges:true" in opts or "no-new-privileges" in opts, n


def check_cpu(c: Compose, n: str) -> None:
    s = svc(c, n)
    limits = (s.get("deploy") or {}).get("resources", {}).get("limits", {})
    cpus = s.get("cpus", limits.get("cpus"))
    assert cpus is not None and float(cpus) == LIMITS[n][0], f"{n} cpus {cpus}"


def check_memory(c: Compose, n: str) -> None:
    s = svc(c, n)
    limits = (s.get("deploy") or {}).get("resources", {}).get("limits", {})
    mem = s.get("mem_limit", limits.get("memory"))
    assert mem is not None and mem_bytes(mem) == LIMITS[n][1], f"{n} memory {mem}"


def check_pids(c: Compose, n: str) -> None:
    s = svc(c, n)
    limits = (s.get("deploy") or {}).get("resources", {}).get("limits", {})
    pids = s.get("pids_limit", limits.get("pids"))
    assert pids is not None and 0 < int(pids) <= 512, f"{n} pids limit {pids}"


def check_healthcheck(c: Compose, n: str) -> None:
    hc = svc(c, n).get("healthcheck") or {}
    if n in ONE_SHOT:
        # A one-shot that exits has no health; the image's HEALTHCHECK would call it unhealthy.
        assert hc == {"disable": True}, f"one-shot {n} must disable the image's health check"
        return
    assert not hc.get("disable"), f"{n} healthcheck disabled"
    test = hc.get("test")
    assert test and test not in (["NONE"], "NONE"), f"{n} has no healthcheck"
    assert "curl" not in json.dumps(test), f"{n} health check needs curl"


def check_restart(c: Compose, n: str) -> None:
    restart = svc(c, n).get("restart")
    if n in ONE_SHOT:
        assert restart == "no", f"one-shot {n} must not be restarted ({restart})"
    else:
        assert restart in ("unless-stopped", "always"), f"{n} restart policy {restart}"


def check_log_rotation(c: Compose, n: str) -> None:
    logging = svc(c, n).get("logging") or {}
    opts = logging.get("options") or {}
    assert logging.get("driver") in ("json-file", "local"), f"{n} log driver {logging}"
    assert opts.get("max-size") and int(opts.get("max-file", 0)) >= 1, f"{n} logs not rotated"


def check_networks(c: Compose, n: str) -> None:
    s = svc(c, n)
    got = networks_of(s)
    assert got == NETWORKS[n], f"{n} on networks {got}, expected {NETWORKS[n]}"
    if not NETWORKS[n]:
        assert s.get("network_mode") == "none", f"{n} should have no network at all"


def check_ports(c: Compose, n: str) -> None:
    s = svc(c, n)
    if n != "caddy":
        assert not s.get("ports"), f"{n} publishes ports; only Caddy may"
        assert s.get("network_mode") != "host", f"{n} uses the host network"
        return
    published = set()
    for p in s.get("ports") or []:
        text = p if isinstance(p, str) else f"{p.get('published')}:{p.get('target')}"
        host_part = str(text).split("/")[0].split(":")[-2]
        published.add(int(host_part))
    assert published == {80, 443}, f"caddy publishes {published}"


def check_secrets(c: Compose, n: str) -> None:
    s = svc(c, n)
    got = secret_targets(s)
    assert got == SECRETS[n], f"{n} secrets {got}, expected {SECRETS[n]}"
    env = s.get("environment") or {}
    names = env.keys() if isinstance(env, dict) else [e.split("=")[0] for e in env]
    leaked = [k for k in names if SECRETISH.search(k)]
    assert not leaked, f"{n} gets secrets in its environment: {leaked}"
    for name in s.get("secrets") or []:
        source = name if isinstance(name, str) else name["source"]
        spec = c["secrets"][source]
        assert set(spec) == {"file"}, f"secret {source} is not a file"
        assert spec["file"].startswith("./secrets/"), f"secret {source} outside deploy/secrets"


def check_depends_on(c: Compose, n: str) -> None:
    deps = svc(c, n).get("depends_on") or {}
    got = {k: v.get("condition") for k, v in deps.items()} if isinstance(deps, dict) else {}
    assert got == DEPENDS[n], f"{n} depends_on {got}, expected {DEPENDS[n]}"


def dockerfile_froms(text: str) -> list[str]:
    """The base image of each stage, ``${ARG}`` replaced by the argument's default."""
    args: dict[str, str] = {}
    froms = []
    for ln in text.splitlines():
        words = ln.split()
        if words[:1] == ["ARG"] and "=" in words[1]:
            name, _, default = words[1].partition("=")
            args[name] = default
        elif words[:1] == ["FROM"]:
            froms.append(re.sub(r"\$\{(\w+)\}", lambda m: args.get(m.group(1), ""), words[1]))
    return froms


def check_image_pinned(c: Compose, n: str) -> None:
    s = svc(c, n)
    build = s.get("build")
    if build:
        dockerfile = DEPLOY / build["context"] / build["dockerfile"]
        stages = set(re.findall(r"(?im)^FROM \S+ AS (\S+)", dockerfile.read_text()))
        froms = [f for f in dockerfile_froms(dockerfile.read_text()) if f not in stages]
        assert froms and all(DIGEST.search(f) for f in froms), f"{n}: unpinned FROM in {froms}"
        assert not str(s.get("image", "")).endswith(":latest"), n
    else:
        assert DIGEST.search(str(s.get("image", ""))), f"{n} image not pinned by digest"


def check_trusted_proxy(c: Compose, n: str) -> None:
    caddy_ip = svc(c, "caddy")["networks"]["frontend"]["ipv4_address"]
    subnet = c["networks"]["frontend"]["ipam"]["config"][0]["subnet"]
    assert ipaddress.ip_address(caddy_ip) in ipaddress.ip_network(subnet)
    check_caddy_address_reserved(c, "caddy")
    trusted = svc(c, n)["environment"]["ANDRE_TRUSTED_PROXIES"]
    assert trusted == caddy_ip, f"{n} trusts X-Forwarded-For from {trusted}, not only Caddy"


def check_caddy_address_reserved(c: Compose, n: str) -> None:
    # api and web start before Caddy: had they drawn from the whole subnet, one of them takes
    # Caddy's address (and with it the trust in X-Forwarded-For) and Caddy cannot start.
    caddy_ip = ipaddress.ip_address(svc(c, n)["networks"]["frontend"]["ipv4_address"])
    pool = c["networks"]["frontend"]["ipam"]["config"][0]
    subnet = ipaddress.ip_network(pool["subnet"])
    assert "ip_range" in pool, "frontend has no ip_range: dynamic addresses may take Caddy's"
    ip_range = ipaddress.ip_network(pool["ip_range"])
    assert ip_range.subnet_of(subnet), f"ip_range {ip_range} outside {subnet}"  # type: ignore[arg-type]
    assert caddy_ip in subnet and caddy_ip not in ip_range, f"Caddy's {caddy_ip} in {ip_range}"
    assert caddy_ip != next(subnet.hosts()), f"Caddy's {caddy_ip} is the gateway"


def check_redis_acl(c: Compose, n: str) -> None:
    eff = redis_effective(c)
    assert eff.get("aclfile") == "/etc/redis/acl/users.acl", eff.get("aclfile")
    assert "requirepass" not in eff, "requirepass would re-enable the default user"
    assert ("redis_acl", "/etc/redis/acl", True) in mounts_of(svc(c, n))


def check_redis_protected_mode(c: Compose, n: str) -> None:
    assert redis_effective(c).get("protected-mode") == "yes"


def check_redis_noeviction(c: Compose, n: str) -> None:
    assert redis_effective(c).get("maxmemory-policy") == "noeviction"


def check_redis_aof_on_volume(c: Compose, n: str) -> None:
    eff = redis_effective(c)
    assert eff.get("appendonly") == "yes", "AOF off"
    assert ("redis_data", eff.get("dir"), False) in mounts_of(svc(c, n)), "data dir not a volume"


def check_redis_health_user(c: Compose, n: str) -> None:
    test = " ".join(svc(c, n)["healthcheck"]["test"])
    assert "--user healthcheck" in test and "ping" in test, test


def check_network_internal(c: Compose, net: str) -> None:
    assert c["networks"][net].get("internal") is True, f"network {net} is not internal"


def check_internal_members(c: Compose, net: str) -> None:
    members = {n for n in c["services"] if net in networks_of(svc(c, n))}
    assert members == {"redis", "api", "web", "player"}, f"internal network carries {members}"


def check_frontend_members(c: Compose, net: str) -> None:
    members = {n for n in c["services"] if net in networks_of(svc(c, n))}
    assert members == {"caddy", "api", "web"}, f"frontend network carries {members}"


# ---- how to break each measure in a copy (proves the row can fail) ----


def _set(key: str, value: Any) -> Callable[[Compose, str], None]:
    def breaker(c: Compose, n: str) -> None:
        svc(c, n)[key] = copy.deepcopy(value)

    return breaker


def _drop(key: str) -> Callable[[Compose, str], None]:
    def breaker(c: Compose, n: str) -> None:
        svc(c, n).pop(key, None)
        (svc(c, n).get("deploy") or {}).pop("resources", None)

    return breaker


def _add_volume(c: Compose, n: str) -> None:
    svc(c, n).setdefault("volumes", []).append("/:/host")


def _add_network(c: Compose, n: str) -> None:
    s = svc(c, n)
    s.pop("network_mode", None)
    nets = s.get("networks") or {}
    nets = nets if isinstance(nets, dict) else dict.fromkeys(nets)
    extra = next(n for n in ("internal", "edge", "egress") if n not in nets)
    s["networks"] = {**nets, extra: None}


def _publish(c: Compose, n: str) -> None:
    svc(c, n).setdefault("ports", []).append("6379:6379")


def _leak_secret(c: Compose, n: str) -> None:
    s = svc(c, n)
    env = s.get("environment") or {}
    s["environment"] = {**env, "ANDRE_API_TOKEN": "in-the-environment"}


def _redis_flag(flag: str, value: str) -> Callable[[Compose, str], None]:
    def breaker(c: Compose, n: str) -> None:
        svc(c, "redis")["command"] += [flag, value]

    return breaker


def _redis_no_aclfile(c: Compose, n: str) -> None:
    cmd = svc(c, "redis")["command"]
    i = cmd.index("--aclfile")
    del cmd[i : i + 2]


def _unpin(c: Compose, n: str) -> None:
    s = svc(c, n)
    s.pop("build", None)
    s["image"] = "python:3.11-slim" if n != "redis" else "redis:7-alpine"


def _trust_everyone(c: Compose, n: str) -> None:
    svc(c, n)["environment"]["ANDRE_TRUSTED_PROXIES"] = "0.0.0.0/0"


def _break_healthcheck(c: Compose, n: str) -> None:
    if n in ONE_SHOT:
        svc(c, n).pop("healthcheck", None)
    else:
        svc(c, n)["healthcheck"] = {"disable": True}


def _no_ip_range(c: Compose, n: str) -> None:
    c["networks"]["frontend"]["ipam"]["config"][0].pop("ip_range", None)


def _health_as_admin(c: Compose, n: str) -> None:
    svc(c, n)["healthcheck"]["test"] = ["CMD", "redis-cli", "--user", "andre-admin", "ping"]


def _network_not_internal(c: Compose, net: str) -> None:
    c["networks"][net]["internal"] = False


def _join(service: str) -> Callable[[Compose, str], None]:
    def breaker(c: Compose, net: str) -> None:
        s = svc(c, service)
        nets = s.get("networks") or {}
        s["networks"] = {**(nets if isinstance(nets, dict) else dict.fromkeys(nets)), net: None}

    return breaker


@dataclass(frozen=True)
class Measure:
    name: str
    section: str  # the SECURITY.md section (or DESIGN/STYLE rule) the row proves
    check: Callable[[Compose, str], None]
    breaks: Callable[[Compose, str], None]
    targets: tuple[str, ...] = SERVICES


MEASURES = [
    Measure("non-root-user", "SECURITY.md §6", check_user, _set("user", "0:0")),
    Measure("read-only-rootfs", "SECURITY.md §10", check_read_only, _set("read_only", False)),
    Measure("tmpfs-tmp", "SECURITY.md §10", check_tmpfs, _set("tmpfs", [])),
    Measure("writable-mounts-only-needed", "SECURITY.md §10", check_mounts, _add_volume),
    Measure("cap-drop-all", "SECURITY.md §11", check_cap_drop, _set("cap_drop", ["NET_RAW"])),
    Measure("no-cap-added-back", "SECURITY.md §11", check_cap_add, _set("cap_add", ["SYS_ADMIN"])),
    Measure(
        "no-new-privileges", "SECURITY.md §11", check_no_new_privileges, _set("security_opt", [])
    ),
    Measure("cpu-limit", "SECURITY.md §9", check_cpu, _set("cpus", 4)),
    Measure("memory-limit", "SECURITY.md §9", check_memory, _set("mem_limit", "2g")),
    Measure("pids-limit", "SECURITY.md §9", check_pids, _drop("pids_limit")),
    Measure("log-rotation", "SECURITY.md §9", check_log_rotation, _set("logging", {})),
    Measure("healthcheck", "SECURITY.md §12", check_healthcheck, _break_healthcheck),
    Measure("restart-policy", "SECURITY.md §12", check_restart, _set("restart", "on-failure:1")),
    Measure("image-pinned", "SECURITY.md §7", check_image_pinned, _unpin),
    Measure("networks", "SECURITY.md §8", check_networks, _add_network),
    Measure("only-caddy-publishes", "SECURITY.md §3", check_ports, _publish),
    Measure("secrets-as-files", "SECURITY.md §13", check_secrets, _leak_secret),
    Measure(
        "depends-on-healthy",
        "STYLE.md 11",
        check_depends_on,
        _set("depends_on", {"caddy": {"condition": "service_started"}}),
    ),
    Measure(
        "xff-trusted-only-from-caddy", "DESIGN.md §1", check_trusted_proxy, _trust_everyone, APP
    ),
    Measure(
        "caddy-address-outside-ip-range",
        "DESIGN.md §1",
        check_caddy_address_reserved,
        _no_ip_range,
        ("caddy",),
    ),
    Measure("redis-acl-file", "SECURITY.md §14", check_redis_acl, _redis_no_aclfile, ("redis",)),
    Measure(
        "redis-protected-mode",
        "SECURITY.md §13",
        check_redis_protected_mode,
        _redis_flag("--protected-mode", "no"),
        ("redis",),
    ),
    Measure(
        "redis-noeviction",
        "DESIGN.md §5",
        check_redis_noeviction,
        _redis_flag("--maxmemory-policy", "allkeys-lru"),
        ("redis",),
    ),
    Measure(
        "redis-aof-on-volume",
        "DESIGN.md §5",
        check_redis_aof_on_volume,
        _redis_flag("--appendonly", "no"),
        ("redis",),
    ),
    Measure(
        "redis-health-ping-only-user",
        "SECURITY.md §12",
        check_redis_health_user,
        _health_as_admin,
        ("redis",),
    ),
    Measure(
        "internal-network-no-egress",
        "SECURITY.md §8",
        check_network_internal,
        _network_not_internal,
        ("internal", "frontend"),
    ),
    Measure(
        "internal-network-carries-only-redis",
        "SECURITY.md §8",
        check_internal_members,
        _join("caddy"),
        ("internal",),
    ),
    Measure(
        "frontend-network-caddy-api-web",
        "SECURITY.md §8",
        check_frontend_members,
        _join("player"),
        ("frontend",),
    ),
]


def _slug(section: str) -> str:
    return section.replace(".md §", "-").replace(".md ", "-").replace(" ", "")


ROWS = [
    pytest.param(m, target, id=f"{_slug(m.section)}-{m.name}-{target}")
    for m in MEASURES
    for target in m.targets
]


@pytest.mark.parametrize(("measure", "target"), ROWS)
def test_compose_policy_row_holds(measure: Measure, target: str) -> None:
    measure.check(load(), target)


@pytest.mark.parametrize(("measure", "target"), ROWS)
def test_compose_policy_row_broken_copy_fails(measure: Measure, target: str) -> None:
    broken = load()
    measure.breaks(broken, target)
    with pytest.raises(AssertionError):
        measure.check(broken, target)


def test_compose_policy_every_service_covered() -> None:
    assert set(load()["services"]) == set(SERVICES)
    per_service = [m for m in MEASURES if m.targets == SERVICES]
    assert len(per_service) >= 17


def test_compose_x_hardened_block_merged_into_every_service() -> None:
    raw = parse(raw_text())
    hardened = raw["x-hardened"]
    for name, service in raw["services"].items():
        for key, value in hardened.items():
            if key in ("user", "tmpfs", "restart"):
                continue  # legitimately overridden: Redis's own uid, Caddy's /config, one-shot init
            assert service[key] == value, f"{name}.{key} differs from x-hardened"


def test_compose_x_hardened_text_mutation_breaks_every_service() -> None:
    text = raw_text().replace("  read_only: true\n", "  read_only: false\n", 1)
    broken = parse(text)
    from tests.deploy.compose_model import TEST_ENV, interpolate

    broken = interpolate(broken, TEST_ENV)
    for name in SERVICES:
        with pytest.raises(AssertionError):
            check_read_only(broken, name)


def test_compose_schema_valid_against_compose_spec() -> None:
    schema = json.loads(SCHEMA.read_text())
    validator = jsonschema.Draft7Validator(schema)
    errors = sorted(validator.iter_errors(parse(raw_text())), key=str)
    assert not errors, "\n".join(e.message for e in errors[:10])
    errors = sorted(validator.iter_errors(load()), key=str)
    assert not errors, "\n".join(e.message for e in errors[:10])


def test_compose_schema_rejects_unknown_service_key() -> None:
    schema = json.loads(SCHEMA.read_text())
    bad = load()
    bad["services"]["api"]["read_only_root"] = True
    assert list(jsonschema.Draft7Validator(schema).iter_errors(bad))


@pytest.mark.parametrize("missing", sorted(TEST_ENV))
def test_compose_required_setting_missing_refused(missing: str) -> None:
    env = dict(TEST_ENV)
    del env[missing]
    with pytest.raises(MissingVariable, match=missing):
        load(env)


def test_compose_secret_files_git_ignored() -> None:
    ignore = (DEPLOY / "secrets" / ".gitignore").read_text().split()
    assert ignore[0] == "*" and "!.gitignore" in ignore
    for spec in load()["secrets"].values():
        assert spec["file"].startswith("./secrets/")
