from __future__ import annotations

import json
import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result

from tests.services.cli.conftest import invoke
from tests.support.stack import LocalStack
from tests.support.stack_client import sign_in

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    running = LocalStack.start()
    try:
        yield running
    finally:
        assert running.stop(signal.SIGTERM) == 0


class Cli:
    """`andre api` against the stack; every output is checked for the token."""

    def __init__(self, stack: LocalStack, env: dict[str, str]) -> None:
        self.token = stack.secret("ANDRE_API_TOKEN")
        self.env = env

    def run(self, *args: str, env: dict[str, str] | None = None) -> Result:
        result = invoke(["api", *args], {**self.env, **(env or {})})
        assert self.token not in result.stdout and self.token not in result.stderr
        return result

    def json(self, *args: str) -> Any:
        result = self.run(*args, "--json")
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)


@pytest.fixture
def cli(stack: LocalStack, tmp_path: Path) -> Cli:
    token_file = tmp_path / "api-token"
    fd = os.open(token_file, os.O_WRONLY | os.O_CREAT, 0o600)
    os.write(fd, (stack.secret("ANDRE_API_TOKEN") + "\n").encode())
    os.close(fd)
    return Cli(
        stack,
        {
            "ANDRE_API_URL": stack.https,
            "ANDRE_API_CA": str(stack.ca_file),
            "ANDRE_API_TOKEN_FILE": str(token_file),
        },
    )


def test_cli_api_round_trip_add_queue_vote_skip(stack: LocalStack, cli: Cli) -> None:
    uris = [r["uri"] for r in cli.json("search", "a")["results"]]
    assert len(uris) >= 3
    # The first add starts playing at once; alice's song then waits in the queue.
    ours = [cli.json("add", uri)["id"] for uri in uris[:2]]
    alice = sign_in(stack, "alice@example.com")
    try:
        theirs = alice.act("/queue/add", {"uri": uris[2]})
        assert theirs.status_code == 201, theirs.text
        their_id = theirs.json()["id"]
    finally:
        alice.close()

    queued = cli.json("queue")
    playing = cli.json("playing")
    ids = [item["id"] for item in queued["queue"]] + ([playing["id"]] if playing else [])
    assert {their_id, *ours} <= set(ids)

    assert cli.json("vote", their_id) == {"ok": True}
    table = cli.run("queue")
    assert table.exit_code == 0 and "Queue (" in table.stdout

    assert cli.json("playing")["id"] == ours[0]
    skipped = cli.run("skip", "--verbose")
    assert skipped.exit_code == 0, skipped.output
    assert skipped.stdout.startswith("Done (")
    assert "POST " in skipped.stderr and "/api/queue/skip -> 200" in skipped.stderr

    gone = cli.run("vote", "999999")
    assert gone.exit_code == 1
    assert gone.stderr == "andre: API answered 404: No such song in the queue\n"
    assert cli.run("history").exit_code == 0


def test_cli_api_events_snapshot_then_stops(cli: Cli) -> None:
    result = cli.run("events", "--max", "2", "--json", "--verbose")
    assert result.exit_code == 0, result.output
    events = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(events) == 2
    assert {e["event"] for e in events} <= {"queue_update", "now_playing"}
    assert all(e["id"] for e in events)
    readable = cli.run("events", "--max", "1")
    assert readable.exit_code == 0 and readable.stdout.count("\n") == 1


def test_cli_api_finds_local_stack_ca_by_itself(stack: LocalStack, cli: Cli) -> None:
    env = {**cli.env, "ANDRE_API_CA": "", "ANDRE_STACK_DIR": str(stack.state)}
    result = invoke(["api", "playing"], env)
    assert result.exit_code == 0, result.output


def test_cli_api_other_ca_refused_tls(stack: LocalStack, cli: Cli) -> None:
    # No blanket verify=False: the system trust store does not know Caddy's local CA.
    result = cli.run("queue", env={"ANDRE_API_CA": "", "ANDRE_STACK_DIR": "/nonexistent"})
    assert result.exit_code == 3
    assert "CERTIFICATE_VERIFY_FAILED" in result.stderr
    assert result.stderr.rstrip().endswith("(is ANDRE_API_CA or --ca the CA that signed it?)")


@pytest.mark.parametrize(
    ("token", "status"),
    [("wrong-token-0123456789abcdef", 403), ("two words", 401)],
)
def test_cli_api_refused_token_never_printed(
    stack: LocalStack, cli: Cli, token: str, status: int
) -> None:
    env = {"ANDRE_API_TOKEN": token}
    for args in (["queue"], ["queue", "--verbose"], ["skip", "--json", "-v"], ["events", "-v"]):
        result = cli.run(*args, env=env)
        assert result.exit_code == 1, result.output
        assert result.stderr.splitlines()[-1].startswith(f"andre: API answered {status}: ")
        assert token not in result.stdout and token not in result.stderr
