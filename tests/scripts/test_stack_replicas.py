"""scripts/stack.py with replicas: ANDRE_API_REPLICAS / ANDRE_WEB_REPLICAS, the children and the
Caddyfile that balances across them (adapted by the real Caddy)."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest

from tests.deploy.test_caddy import adapt, walk
from tests.scripts.test_stack import stack


@pytest.mark.parametrize(
    ("raw", "count"), [(None, 1), ("", 1), ("1", 1), (" 3 ", 3), ("8", 8), ("08", 8)]
)
def test_replica_count_reads_the_variable(raw: str | None, count: int) -> None:
    environ = {} if raw is None else {"ANDRE_API_REPLICAS": raw}
    assert stack.replica_count("ANDRE_API_REPLICAS", environ) == count


@pytest.mark.parametrize("raw", ["0", "9", "-1", "+2", "two", "1.5", "2 3", "1e1"])
def test_replica_count_bad_value_names_the_variable_and_the_range(raw: str) -> None:
    with pytest.raises(ValueError) as refused:
        stack.replica_count("ANDRE_WEB_REPLICAS", {"ANDRE_WEB_REPLICAS": raw})
    assert str(refused.value) == (
        f"ANDRE_WEB_REPLICAS must be a whole number from 1 to 8, not {raw!r}"
    )


def _plan(api: int, web: int) -> dict[str, Any]:
    ports = itertools.count(41_000)
    environ = {"ANDRE_API_REPLICAS": str(api), "ANDRE_WEB_REPLICAS": str(web)}
    return stack.replica_plan(environ, free_port=lambda: next(ports))  # type: ignore[no-any-return]


def test_replica_plan_first_replica_keeps_the_documented_port() -> None:
    plan = _plan(api=3, web=2)
    assert [(r.name, r.port) for r in plan["api"]] == [
        ("api", stack.PORTS["api"]), ("api-2", 41_000), ("api-3", 41_001)
    ]  # fmt: skip
    web = [(r.name, r.port) for r in plan["web"]]
    assert web == [("web", stack.PORTS["web"]), ("web-2", 41_002)]
    # The player is a leader-elected singleton: never replicated.
    assert [r.name for r in plan["player"]] == ["player"]
    assert stack.describe_plan(plan).startswith("replicas: api x3 (api :")


def test_replica_plan_never_hands_out_a_port_of_the_stack_or_twice() -> None:
    # The OS calls a port free until something binds it: the player's, Redis's, or a port just
    # handed to another replica may come back. Each must be skipped.
    offered = iter([stack.PORTS["player"], stack.PORTS["redis"], 42_000, 42_000, 42_001])
    environ = {"ANDRE_API_REPLICAS": "2", "ANDRE_WEB_REPLICAS": "2"}
    plan = stack.replica_plan(environ, free_port=lambda: next(offered))
    assert [r.port for r in plan["api"][1:] + plan["web"][1:]] == [42_000, 42_001]


def test_build_children_one_child_per_replica_with_its_own_socket_and_port(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(stack, "STATE", tmp_path)
    monkeypatch.setattr(stack, "which", lambda cmd: f"/usr/bin/{cmd}")
    values = {"ANDRE_API_TOKEN": "t", "ANDRE_SECRET_KEY": "k"} | {
        stack._secret_env_name(u): f"pw-{u}" for u in stack.render_acl.USERS
    }
    plan = _plan(api=2, web=3)
    children = {c.name: c for c in stack.build_children(values, plan)}
    assert list(children) == ["redis", "api", "api-2", "web", "web-2", "web-3", "player", "caddy"]
    api2 = children["api-2"].env
    assert api2["ANDRE_PROXY_SOCKET"] == str(tmp_path / "run" / "api-2.sock")
    assert api2["ANDRE_PORT"] == "41000" and api2["ANDRE_SERVICE_NAME"] == "api-2"
    assert api2["ANDRE_REDIS_USERNAME"] == "andre-api"
    assert children["api"].env["ANDRE_PORT"] == str(stack.PORTS["api"])
    assert children["api"].argv[-1] == children["api-2"].argv[-1] == "services.api"
    caddy_env = children["caddy"].env
    assert caddy_env["ANDRE_WEB_UPSTREAM"] == " ".join(
        f"unix/{tmp_path / 'run' / name}.sock" for name in ("web", "web-2", "web-3")
    )
    assert caddy_env["ANDRE_UPSTREAM_FAIL_DURATION"] == "2s"


def _proxies(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found = [o for o in walk(config) if o.get("handler") == "reverse_proxy"]
    by_first_dial = {p["upstreams"][0]["dial"].rsplit("/", 1)[-1]: p for p in found}
    return by_first_dial


def test_local_caddyfile_balances_across_every_replica(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(stack, "STATE", tmp_path / "stack-state")
    path = tmp_path / "Caddyfile.local"
    path.write_text(stack.caddyfile())
    env = stack.caddy_upstream_env(_plan(api=2, web=3)) | {"ANDRE_HTTPS_PORT_SUFFIX": ":8443"}
    proxies = _proxies(adapt(path, tmp_path, env))
    api, web = proxies["api.sock"], proxies["web.sock"]
    run = tmp_path / "stack-state" / "run"
    dials = [u["dial"] for u in api["upstreams"]]
    assert dials == [f"unix/{run}/api.sock", f"unix/{run}/api-2.sock"]
    assert len(web["upstreams"]) == 3
    for proxy in (api, web):
        # Long-lived SSE requests spread by open count; a refusing replica is skipped for 2 s.
        assert proxy["load_balancing"]["selection_policy"] == {"policy": "least_conn"}
        assert proxy["health_checks"]["passive"]["fail_duration"] == 2_000_000_000
        assert proxy["health_checks"]["passive"]["max_fails"] == 1
        assert proxy["flush_interval"] == -1


def test_local_caddyfile_single_replica_keeps_passive_checks_off(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # One upstream: a failed dial must not mark it down; lb_try_duration retries it instead.
    monkeypatch.setattr(stack, "STATE", tmp_path / "stack-state")
    path = tmp_path / "Caddyfile.local"
    path.write_text(stack.caddyfile())
    env = stack.caddy_upstream_env(_plan(api=1, web=1)) | {"ANDRE_HTTPS_PORT_SUFFIX": ":8443"}
    for proxy in _proxies(adapt(path, tmp_path, env)).values():
        assert len(proxy["upstreams"]) == 1
        assert "fail_duration" not in proxy.get("health_checks", {}).get("passive", {})
