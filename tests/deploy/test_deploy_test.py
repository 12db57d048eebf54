import re
from pathlib import Path
from typing import Any

import yaml

from deploy import deploy_test, verify
from tests.deploy.compose_model import DEPLOY, load
from tests.deploy.test_verify import FakeDocker

OVERRIDE = DEPLOY / "test" / "compose.local-images.yaml"

BEFORE = {
    "filter": [":INPUT ACCEPT [0:0]", ":FORWARD ACCEPT [0:0]", ":OUTPUT ACCEPT [0:0]",
               "-A INPUT -i lo -j ACCEPT"],
}  # fmt: skip
AFTER = {
    "filter": [
        ":INPUT ACCEPT [0:0]", ":FORWARD DROP [0:0]", ":OUTPUT ACCEPT [0:0]",
        ":DOCKER - [0:0]", ":DOCKER-USER - [0:0]",
        "-A INPUT -i lo -j ACCEPT",
        "-A FORWARD -j DOCKER-USER",
        '-A DOCKER -d 172.25.0.2/32 -p tcp -m comment --comment "a b" -j ACCEPT',
    ],
    "nat": [":POSTROUTING ACCEPT [0:0]", ":DOCKER - [0:0]",
            "-A POSTROUTING -s 172.25.0.0/16 ! -o br-1 -j MASQUERADE"],
}  # fmt: skip


def test_deploy_test_firewall_undo_removes_only_what_was_added() -> None:
    cmds = deploy_test.firewall_undo(BEFORE, AFTER)
    assert ["-t", "filter", "-D", "FORWARD", "-j", "DOCKER-USER"] in cmds
    assert ["-t", "filter", "-D", "DOCKER", "-d", "172.25.0.2/32", "-p", "tcp", "-m", "comment",
            "--comment", "a b", "-j", "ACCEPT"] in cmds  # fmt: skip
    assert ["-t", "filter", "-X", "DOCKER"] in cmds and ["-t", "nat", "-X", "DOCKER"] in cmds
    assert ["-t", "filter", "-P", "FORWARD", "ACCEPT"] in cmds
    assert not [c for c in cmds if "lo" in c or "INPUT" in c or "POSTROUTING" == c[-1]]
    # Rules go before the chains they jump to are deleted.
    assert cmds.index(["-t", "filter", "-D", "FORWARD", "-j", "DOCKER-USER"]) < cmds.index(
        ["-t", "filter", "-X", "DOCKER-USER"]
    )


def test_deploy_test_firewall_undo_nothing_added_nothing_done() -> None:
    assert deploy_test.firewall_undo(AFTER, AFTER) == []


def _services(path: Any) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(path.read_text())
    return data["services"]


def test_deploy_test_override_substitutes_only_base_images() -> None:
    # The one documented way the test departs from compose.yaml: build args naming the stand-in
    # base images (builds offline), and Redis's image. Nothing else may be weakened or changed.
    compose = load()["services"]
    for name, spec in _services(OVERRIDE).items():
        if "build" in compose[name]:
            assert set(spec) == {"build"}, name
            assert set(spec["build"]) == {"args", "network"} and spec["build"]["network"] == "none"
            assert set(spec["build"]["args"]) == {"PYTHON_IMAGE", "CADDY_IMAGE"}
        else:
            assert set(spec) == {"image"} and name == "redis", name
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    for arg in ("PYTHON_IMAGE", "CADDY_IMAGE"):
        assert re.search(rf"^ARG {arg}=\S+@sha256:[0-9a-f]{{64}}$", dockerfile, re.M), arg


def test_deploy_test_dockerfile_needs_no_registry_frontend() -> None:
    # `# syntax=docker/dockerfile:1` makes BuildKit pull an unpinned frontend image.
    assert "syntax=" not in (DEPLOY / "Dockerfile").read_text().splitlines()[0]


def test_deploy_test_each_mutant_weakens_one_service_and_names_real_rows() -> None:
    compose = load()["services"]
    rows = {f"[{r.section}] {r.name}" for r in verify.docker_checks("andre", FakeDocker())}
    for mutant in deploy_test.MUTANTS:
        services = _services(mutant.override)
        assert len(services) == 1 and set(services) <= set(compose), mutant.name
        for row in mutant.must_fail:
            assert row in rows, f"{mutant.name}: verify has no row {row!r}"
            assert next(iter(services)) in row, row


def test_deploy_test_state_is_git_ignored() -> None:
    ignored = (DEPLOY.parent / ".gitignore").read_text().split()
    assert "/var/" in ignored
    assert deploy_test.STATE.is_relative_to(DEPLOY.parent / "var")


def test_deploy_test_remove_empty_tree_keeps_anything_with_content(tmp_path: Path) -> None:
    (tmp_path / "empty" / "plugins").mkdir(parents=True)
    (tmp_path / "used" / "s").mkdir(parents=True)
    (tmp_path / "used" / "s" / "sock").write_text("")
    (tmp_path / "key.json").write_text("{}")
    for name in ("empty", "used", "key.json", "absent"):
        deploy_test.remove_empty_tree(tmp_path / name)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["used"]
    assert (tmp_path / "used" / "s" / "sock").exists()
