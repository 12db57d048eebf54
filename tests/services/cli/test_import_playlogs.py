from __future__ import annotations

import datetime as dt
import json
import random
from pathlib import Path
from typing import Any

from services.cli import playlogs
from shared import keys, playlog
from shared.queue.history import get_history
from tests.services.cli.conftest import invoke
from tests.support.redis_server import RedisServer

# Two Mondays; the original wrote naive ISO times in a UTC container.
MONDAY_1 = dt.date(2024, 3, 4)
MONDAY_2 = dt.date(2024, 3, 11)


def _original(uri: str, user: str, end: dt.datetime, **extra: Any) -> dict[str, Any]:
    """One line as the original's log_finished_song wrote it (andre-behaviour.md §4.10)."""
    start = end - dt.timedelta(seconds=200)
    play = {
        "artist": "Some Artist",
        "auto": False,
        "comments": [{"time": start.timestamp() + 5, "user": "bob@example.com", "body": "tune"}],
        "duration": 200,
        "endtime": end.isoformat(),
        "id": "17",
        "jam": [{"user": "carol@example.com", "time": start.isoformat()}, "dave@example.com"],
        "airhorn": [{"user": "bob@example.com", "when": start.isoformat(), "free": False}],
        "paused": False,
        "pos": 0,
        "src": "spotify",
        "starttime": start.isoformat(),
        "title": f"Title of {uri[-4:]}",
        "trackid": uri,
        "user": user,
        "vote": 2,
    }
    play.update(extra)
    return play


def _write(directory: Path, day: dt.date, lines: list[Any]) -> Path:
    path = directory / f"play_log_{day:%Y_%m_%d}.json"
    text = [ln if isinstance(ln, str) else json.dumps(ln, sort_keys=True) for ln in lines]
    path.write_text("\n".join(text) + "\n", encoding="utf-8")
    return path


def _sample(directory: Path) -> None:
    directory.mkdir()
    at = dt.datetime(MONDAY_1.year, MONDAY_1.month, MONDAY_1.day, 10, 0)
    _write(
        directory,
        MONDAY_1,
        [
            _original("spotify:track:AAAA", "alice@example.com", at),
            _original("spotify:track:BBBB", "bob@example.com", at + dt.timedelta(minutes=4)),
            _original(
                "spotify:track:CCCC",
                "the@echonest.com",
                at + dt.timedelta(minutes=8),
                auto=True,
            ),
            "{not json",
            json.dumps(["a", "list"]),
            json.dumps(_original("spotify:track:DDDD", "", at)),
            json.dumps(_original("spotify:track:EEEE", "alice@example.com", at, endtime="noon")),
            json.dumps(_original("dQw4w9WgXcQ", "alice@example.com", at, src="youtube")),
        ],
    )
    at2 = dt.datetime(MONDAY_2.year, MONDAY_2.month, MONDAY_2.day, 9, 30)
    _write(
        directory,
        MONDAY_2,
        [
            # The original's hash values were strings: "True" and "240" must read as such.
            _original("spotify:track:FFFF", "erin@example.com", at2, auto="False", duration="240"),
            "",
        ],
    )
    (directory / "notes.txt").write_text("not a play log")


async def test_cli_import_playlogs_feeds_history_and_throwback(
    own_redis: RedisServer, admin_env: dict[str, str], tmp_path: Path
) -> None:
    source = tmp_path / "original"
    _sample(source)
    result = invoke(["import-playlogs", str(source)], admin_env)
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == (
        "imported 2 files: 4 plays read, 4 new in the play logs, 4 new in the Redis history, "
        "5 lines skipped"
    )
    name = f"play_log_{MONDAY_1:%Y_%m_%d}.json"
    assert result.stderr.splitlines() == [
        f"skipped {name}:4: not JSON",
        f"skipped {name}:5: not a JSON object",
        f"skipped {name}:6: user missing",
        f"skipped {name}:7: endtime is not an ISO time: 'noon'",
        f"skipped {name}:8: not a Spotify play (src='youtube')",
    ]

    # /history (the api's and web's reader) shows them, newest first, in our shape.
    api = own_redis.client("andre-api")
    try:
        plays = await get_history(api, 50)
    finally:
        await api.aclose()
    assert [p.uri for p in plays] == [
        "spotify:track:FFFF",
        "spotify:track:CCCC",
        "spotify:track:BBBB",
        "spotify:track:AAAA",
    ]
    first = plays[-1]
    assert first.user == "alice@example.com" and first.votes == 2 and not first.auto
    assert first.duration_ms == 200_000
    assert first.jams == ["carol@example.com", "dave@example.com"]
    assert [(c.user, c.text) for c in first.comments] == [("bob@example.com", "tune")]
    assert first.ended_at == dt.datetime(2024, 3, 4, 10, 0, tzinfo=dt.UTC).timestamp()
    assert plays[1].auto  # the original's Bender
    assert plays[0].duration_ms == 240_000 and not plays[0].auto

    # Throwback (Bender's reader of our play logs) offers the human plays of that weekday.
    log_dir = Path(admin_env["ANDRE_PLAY_LOG_DIR"])
    later_monday = MONDAY_2 + dt.timedelta(days=7)
    pairs = playlog.throwback_plays(log_dir, later_monday, 10, rng=random.Random(1))
    assert sorted(pairs) == [
        ("spotify:track:AAAA", "alice@example.com"),
        ("spotify:track:BBBB", "bob@example.com"),
        ("spotify:track:FFFF", "erin@example.com"),
    ]


async def test_cli_import_playlogs_second_run_adds_nothing(
    own_redis: RedisServer, admin_env: dict[str, str], tmp_path: Path
) -> None:
    source = tmp_path / "original"
    _sample(source)
    assert invoke(["import-playlogs", str(source)], admin_env).exit_code == 0
    log_dir = Path(admin_env["ANDRE_PLAY_LOG_DIR"])
    logs_before = {p.name: p.read_bytes() for p in log_dir.iterdir()}
    admin = own_redis.client("andre-admin")
    try:
        history_before = await admin.lrange(keys.HISTORY, 0, -1)
        again = invoke(["import-playlogs", str(source)], admin_env)
        assert again.exit_code == 0, again.output
        assert "4 plays read, 0 new in the play logs, 0 new in the Redis history" in again.stdout
        assert {p.name: p.read_bytes() for p in log_dir.iterdir()} == logs_before
        assert await admin.lrange(keys.HISTORY, 0, -1) == history_before
    finally:
        await admin.aclose()


async def test_cli_import_playlogs_merges_with_newer_history_and_keeps_bound(
    own_redis: RedisServer, admin_env: dict[str, str], tmp_path: Path
) -> None:
    # A play finished by our player after the migration stays newest; the bound holds.
    admin = own_redis.client("andre-admin")
    newer = _original("spotify:track:NEW1", "zed@example.com", dt.datetime(2025, 1, 1, 12))
    ours = playlogs.convert(newer)
    ours["id"] = "901"
    from shared.queue.models import Play

    try:
        await admin.rpush(keys.HISTORY, Play.model_validate(ours).model_dump_json())
        source = tmp_path / "original"
        _sample(source)
        result = invoke(
            ["import-playlogs", str(source)], {**admin_env, "ANDRE_HISTORY_MAX_LEN": "3"}
        )
        assert result.exit_code == 0, result.output
        assert "2 new in the Redis history" in result.stdout
        history = [json.loads(r) for r in await admin.lrange(keys.HISTORY, 0, -1)]
        assert [h["id"] for h in history][0] == "901"
        assert [h["uri"] for h in history] == [
            "spotify:track:NEW1",
            "spotify:track:FFFF",
            "spotify:track:CCCC",
        ]
    finally:
        await admin.aclose()


def test_cli_import_playlogs_empty_folder_fails(admin_env: dict[str, str], tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    result = invoke(["import-playlogs", str(empty)], admin_env)
    assert result.exit_code == 1
    assert result.stderr.strip() == f"andre: no play_log_*.json files in {empty}"


def test_cli_import_playlogs_missing_folder_usage_error(tmp_path: Path) -> None:
    result = invoke(["import-playlogs", str(tmp_path / "nope")])
    assert result.exit_code == 2
    assert "Invalid value" in result.output


def test_cli_import_playlogs_shows_progress_on_a_terminal(
    admin_env: dict[str, str], tmp_path: Path
) -> None:
    source = tmp_path / "original"
    _sample(source)
    # rich treats the output as a terminal with TTY_COMPATIBLE=1; the bar goes to stderr.
    result = invoke(["import-playlogs", str(source)], {**admin_env, "TTY_COMPATIBLE": "1"})
    assert result.exit_code == 0, result.output
    assert "files" in result.stderr and "2/2" in result.stderr
    assert "2/2" not in result.stdout


def test_cli_import_playlogs_garbage_fields_skipped_not_fatal(
    admin_env: dict[str, str], tmp_path: Path
) -> None:
    source = tmp_path / "original"
    source.mkdir()
    at = dt.datetime(2024, 3, 4, 10)
    good = _original("spotify:track:GOOD", "alice@example.com", at)
    _write(
        source,
        MONDAY_1,
        [
            {**good, "jam": 5},
            {**good, "comments": 3},
            {**good, "comments": [{"time": "soon", "user": "x", "body": "y"}]},
            {**good, "vote": "inf"},
            '{"trackid": "spotify:track:X", "user": "a@b.c", "endtime": "2024-03-04", '
            '"duration": 1e400}',
            {**good, "duration": -3},
            {**good, "title": 7},
            b"\xff\xfe".decode("latin-1"),
            good,
        ],
    )
    result = invoke(["import-playlogs", str(source)], admin_env)
    assert result.exit_code == 0, result.output
    reasons = [line.split(": ", 1)[1] for line in result.stderr.splitlines()]
    assert reasons == [
        "jam is not a list",
        "comments is not a list",
        "comment time is not a number",
        "vote is out of range",
        "duration is out of range",
        "duration is out of range",
        "title is not a string",
        "not JSON",
    ]
    assert "1 plays read, 1 new in the play logs, 1 new in the Redis history" in result.stdout
