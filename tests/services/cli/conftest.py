from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import Result
from typer.testing import CliRunner

from services.cli.main import app
from tests.support.redis_server import RedisServer


@pytest.fixture(autouse=True)
def no_andre_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    # The CLI reads ANDRE_* and .env: only what a test passes may reach it.
    for name in list(os.environ):
        if name.startswith("ANDRE_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    yield


def invoke(args: list[str], env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(app, args, env=env or {}, catch_exceptions=False, prog_name="andre")


@pytest.fixture
def admin_env(own_redis: RedisServer, tmp_path: Path) -> dict[str, str]:
    """Settings of the CLI as the admin user of a Redis of the test's own."""
    logs = tmp_path / "play_logs"
    logs.mkdir()
    return {
        "ANDRE_REDIS_URL": own_redis.url,
        "ANDRE_REDIS_PASSWORD": own_redis.passwords["andre-admin"],
        "ANDRE_PLAY_LOG_DIR": str(logs),
    }
