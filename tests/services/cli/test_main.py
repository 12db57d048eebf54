from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from services.cli import api, playlogs
from services.cli.main import CHECKOUT, app
from tests.services.cli.conftest import invoke

COMMANDS = [
    [],
    ["api"],
    ["import-playlogs"],
    ["backup"],
    ["restore"],
    ["verify"],
    *(["api", name] for name in sorted(c.name or "" for c in api.app.registered_commands)),
]


@pytest.mark.parametrize("args", COMMANDS, ids=lambda a: " ".join(a) or "andre")
def test_cli_help_every_command_documented(args: list[str]) -> None:
    result = invoke([*args, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage: andre" in result.output
    # Every command has its own help text, not just the usage line.
    lines = [ln for ln in result.output.splitlines() if ln.strip(" │╭╮╰╯─")]
    assert len(lines) >= 3


def test_cli_every_api_route_has_a_command() -> None:
    names = {c.name for c in api.app.registered_commands}
    assert {
        "queue",
        "playing",
        "history",
        "search",
        "add",
        "vote",
        "jam",
        "skip",
        "pause",
        "resume",
        "remove",
        "clear",
        "devices",
        "transfer",
        "status",
        "events",
    } <= names
    assert app.registered_groups[0].name == "api"


def test_cli_api_without_token_one_line_exit_2() -> None:
    result = invoke(["api", "queue"])
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        "andre: no API token: set ANDRE_API_TOKEN or ANDRE_API_TOKEN_FILE"
    )
    assert "Traceback" not in result.output


def test_cli_api_token_is_no_argument() -> None:
    result = invoke(["api", "queue", "--token", "abc"])
    assert result.exit_code == 2
    assert "No such option" in result.output


def test_cli_api_unreadable_token_file_one_line(tmp_path: Path) -> None:
    result = invoke(["api", "queue"], {"ANDRE_API_TOKEN_FILE": str(tmp_path / "missing")})
    assert result.exit_code == 1
    assert result.stderr.strip().startswith("andre: cannot read ANDRE_API_TOKEN_FILE")


def test_cli_api_unreachable_exit_3_without_token(tmp_path: Path) -> None:
    token = "cli-secret-token-0123456789"
    result = invoke(
        ["api", "queue", "--verbose"],
        {"ANDRE_API_TOKEN": token, "ANDRE_API_URL": "https://127.0.0.1:9"},
    )
    assert result.exit_code == 3, result.output
    assert result.stderr.startswith("andre: cannot reach the API")
    assert len(result.stderr.strip().splitlines()) == 1
    assert token not in result.output


def test_cli_api_bad_ca_file_one_line(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("not a certificate")
    result = invoke(["api", "queue", "--ca", str(ca)], {"ANDRE_API_TOKEN": "t0ken-value-123"})
    assert result.exit_code == 1
    assert result.stderr.strip() == f"andre: cannot use {ca} as the API's CA certificate"


def test_cli_invalid_setting_one_line_exit_2() -> None:
    result = invoke(["api", "queue"], {"ANDRE_API_TIMEOUT_S": "-1"})
    assert result.exit_code == 2
    assert result.stderr.startswith("andre: invalid settings: ANDRE_API_TIMEOUT_S")


def test_cli_backup_without_redis_password_exit_2(tmp_path: Path) -> None:
    result = invoke(["backup", str(tmp_path / "b.tgz")])
    assert result.exit_code == 2
    assert "ANDRE_REDIS_PASSWORD" in result.stderr
    assert not (tmp_path / "b.tgz").exists()


def test_cli_backup_redis_down_exit_3(tmp_path: Path) -> None:
    result = invoke(
        ["backup", str(tmp_path / "b.tgz")],
        {"ANDRE_REDIS_URL": "redis://127.0.0.1:9/0", "ANDRE_REDIS_PASSWORD": "pw-not-shown-123"},
    )
    assert result.exit_code == 3
    assert result.stderr.startswith("andre: Redis is unreachable")
    assert "pw-not-shown-123" not in result.output
    assert not (tmp_path / "b.tgz").exists()


@pytest.mark.parametrize("skip", ["http,docker,host", "docker,host"])
def test_cli_verify_passes_exit_code_through(skip: str, tmp_path: Path) -> None:
    # From another folder, as an operator would run it; http with no ANDRE_VERIFY_URL fails.
    env = {**os.environ, "ANDRE_VERIFY_SKIP": skip}
    expected = subprocess.run(
        [sys.executable, "-m", "deploy.verify"], env=env, capture_output=True, cwd=CHECKOUT
    ).returncode
    result = invoke(["verify"], {"ANDRE_VERIFY_SKIP": skip})
    assert result.exit_code == expected


def test_cli_unexpected_error_one_line_secret_blanked(
    admin_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    password = admin_env["ANDRE_REDIS_PASSWORD"]

    def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError(f"bug near {password}")

    monkeypatch.setattr(playlogs, "import_playlogs", broken)
    result = invoke(["import-playlogs", str(tmp_path)], admin_env)
    assert result.exit_code == 1
    assert result.stderr == "andre: unexpected error (RuntimeError): bug near ***\n"
