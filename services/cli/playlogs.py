"""Import the original Andre's ``play_log_*.json`` files into our play logs and Redis history.

The original wrote one JSON object per line per finished song (``reference/andre-behaviour.md``
§4.10): ``trackid, title, artist, duration`` (s), ``user``, ``auto``, ``vote``, ``starttime`` /
``endtime`` (ISO, naive, the container's UTC), ``jam`` ([{user, time}] or legacy strings),
``comments`` ([{time, user, body}]), ``src`` and a few extras we drop. Each becomes a
:class:`~shared.queue.models.Play` with an id derived from what identifies the play (track, end
time, queuer), so a second import finds every play already there and adds nothing.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from redis import Redis
from redis.exceptions import WatchError

from services.cli.errors import CliError
from shared import keys, playlog
from shared.queue.models import Comment, Play

ORIGINAL_GLOB = "play_log_*.json"
_ORIGINAL_NAME = re.compile(r"^play_log_\d{4}_\d{2}_\d{2}\.json$")
# The original's auto-fill identity: its plays are Bender's, never a Throwback source.
ORIGINAL_BENDER = "the@echonest.com"
IMPORT_ID_PREFIX = "orig-"
_WATCH_RETRIES = 5
_MAX_DURATION_S = 24 * 3600  # longer than any track or episode
_MAX_VOTES = 1_000_000


class BadLine(ValueError):
    """A line that cannot become a play; ``str()`` is the reason."""


@dataclass
class ImportReport:
    files: int = 0
    plays: int = 0  # good lines read
    logged: int = 0  # new lines written to our play logs
    in_history: int = 0  # new entries in Redis history
    skipped: list[str] = field(default_factory=list)  # "file:line: reason"


def original_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.glob(ORIGINAL_GLOB) if _ORIGINAL_NAME.match(p.name))


def _time_s(value: Any, name: str) -> float:
    if not isinstance(value, str) or not value:
        raise BadLine(f"{name} missing or not a string")
    try:
        when = dt.datetime.fromisoformat(value)
    except ValueError as exc:
        raise BadLine(f"{name} is not an ISO time: {value[:40]!r}") from exc
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)  # the original ran in a UTC container
    return when.timestamp()


def _text(raw: dict[str, Any], name: str) -> str:
    value = raw.get(name, "")
    if value is None:
        return ""
    if not isinstance(value, str):
        raise BadLine(f"{name} is not a string")
    return value


def _number(value: Any, name: str, low: float, high: float) -> float:
    value = value or 0
    if isinstance(value, bool):
        raise BadLine(f"{name} is not a number")
    try:
        number = float(value)  # the original's hash fields were strings; its views, numbers
    except (TypeError, ValueError) as exc:
        raise BadLine(f"{name} is not a number") from exc
    # Also keeps inf and NaN out: every stored number must be exact in every JSON reader.
    if not low <= number <= high:
        raise BadLine(f"{name} is out of range")
    return number


def _list(value: Any, name: str) -> list[Any]:
    if value is None or value == "":
        return []
    if not isinstance(value, list):
        raise BadLine(f"{name} is not a list")
    return value


def _flag(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() == "true"
    return bool(value)


def _jams(value: Any) -> list[str]:
    users: list[str] = []
    for entry in _list(value, "jam"):
        user = entry.get("user") if isinstance(entry, dict) else entry
        if isinstance(user, str) and user and user not in users:
            users.append(user)
    return users


def _comments(value: Any) -> list[Comment]:
    out = []
    for entry in _list(value, "comments"):
        if not isinstance(entry, dict):
            raise BadLine("a comment is not an object")
        time_s = _number(entry.get("time"), "comment time", 0, 1e11)
        user, text = str(entry.get("user", "")), str(entry.get("body", ""))
        out.append(Comment(user=user, text=text, time=time_s))
    return out


def play_id(uri: str, ended_at_s: float, user: str) -> str:
    """Stable id of an imported play: the same line always gets the same id."""
    digest = hashlib.sha256(f"{uri}\n{ended_at_s:.3f}\n{user}".encode()).hexdigest()
    return IMPORT_ID_PREFIX + digest[:16]


def convert(raw: Any) -> dict[str, Any]:
    """One original play-log object as one of our play-log records (a Play plus started_at)."""
    if not isinstance(raw, dict):
        raise BadLine("not a JSON object")
    src = raw.get("src", "spotify")
    if src != "spotify":
        raise BadLine(f"not a Spotify play (src={str(src)[:20]!r})")
    uri = _text(raw, "trackid")
    if not uri.startswith(("spotify:track:", "spotify:episode:")):
        raise BadLine("trackid missing or not a spotify:track:/spotify:episode: URI")
    user = _text(raw, "user").strip()
    if not user:
        raise BadLine("user missing")
    ended_at = _time_s(raw.get("endtime"), "endtime")
    duration_ms = int(_number(raw.get("duration"), "duration", 0, _MAX_DURATION_S) * 1000)
    started_at = (
        _time_s(raw["starttime"], "starttime")
        if raw.get("starttime")
        else ended_at - duration_ms / 1000
    )
    auto = _flag(raw.get("auto")) or user.lower() == ORIGINAL_BENDER
    try:
        play = Play(
            id=play_id(uri, ended_at, user),
            uri=uri,
            title=_text(raw, "title"),
            artist=_text(raw, "artist"),
            duration_ms=duration_ms,
            user=user,
            votes=int(_number(raw.get("vote"), "vote", -_MAX_VOTES, _MAX_VOTES)),
            jams=_jams(raw.get("jam")),
            comments=_comments(raw.get("comments")),
            auto=auto,
            added_at=started_at,
            ended_at=ended_at,
        )
    except ValidationError as exc:
        raise BadLine(f"not a play: {exc.errors()[0]['msg']}") from exc
    record: dict[str, Any] = play.model_dump()
    record["started_at"] = started_at
    record["imported"] = True
    return record


def read_original(path: Path, report: ImportReport) -> Iterator[dict[str, Any]]:
    """The good plays of one original file; bad lines go to ``report.skipped``."""
    with path.open("rb") as fh:
        for number, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                yield convert(json.loads(line))
            except ValueError as exc:  # BadLine, JSONDecodeError, UnicodeDecodeError
                reason = str(exc) if isinstance(exc, BadLine) else "not JSON"
                report.skipped.append(f"{path.name}:{number}: {reason}")


def _known_ids(directory: Path, day: dt.date, cache: dict[dt.date, set[str]]) -> set[str]:
    if day not in cache:
        path = playlog.log_path(directory, dt.datetime(day.year, day.month, day.day))
        plays = playlog.read_plays(path) if path.exists() else iter(())
        cache[day] = {str(p.get("id")) for p in plays}
    return cache[day]


def merge_history(redis: Redis, plays: list[dict[str, Any]], history_max: int) -> int:
    """Merge ``plays`` into ``andre:history`` (newest first, bounded); returns entries added.

    WATCH/MULTI: a play the player finishes meanwhile makes us read again, never lose it.
    """
    new = {
        str(p["id"]): (float(p["ended_at"]), Play.model_validate(p).model_dump_json().encode())
        for p in plays
    }
    for _ in range(_WATCH_RETRIES):
        with redis.pipeline(transaction=True) as pipe:
            try:
                pipe.watch(keys.HISTORY)  # type: ignore[no-untyped-call]
                current: list[bytes] = pipe.lrange(keys.HISTORY, 0, -1)  # type: ignore[assignment]
                merged: list[tuple[float, bytes]] = []
                seen: set[str] = set()
                last = float("inf")
                for raw in current:
                    try:
                        entry = json.loads(raw)
                        seen.add(str(entry["id"]))
                        last = float(entry["ended_at"])
                    except (ValueError, KeyError, TypeError):
                        pass  # a damaged entry keeps its place next to its neighbour
                    merged.append((last, raw))
                added = [v for k, v in new.items() if k not in seen]
                if not added:
                    pipe.unwatch()
                    return 0
                # Stable sort, newest first: existing entries keep their order among equals.
                merged.extend(added)
                merged.sort(key=lambda pair: -pair[0])
                kept = merged[:history_max]
                added_raws = {raw for _, raw in added}
                count = sum(1 for _, raw in kept if raw in added_raws)
                if count == 0:
                    pipe.unwatch()
                    return 0
                pipe.multi()
                pipe.delete(keys.HISTORY)
                pipe.rpush(keys.HISTORY, *(raw for _, raw in kept))
                pipe.execute()
                return count
            except WatchError:
                continue
    raise CliError("the history kept changing during the import; try again")


def import_playlogs(
    source: Path,
    log_dir: Path,
    redis: Redis,
    history_max: int,
    progress: Callable[[int, int], None] = lambda done, total: None,
) -> ImportReport:
    """Import every original file in ``source``; idempotent; returns what happened."""
    report = ImportReport()
    files = original_files(source)
    report.files = len(files)
    known: dict[dt.date, set[str]] = {}
    plays: list[dict[str, Any]] = []
    for n, path in enumerate(files, start=1):
        for play in read_original(path, report):
            report.plays += 1
            plays.append(play)
            day = dt.datetime.fromtimestamp(play["ended_at"], tz=dt.UTC).date()
            ids = _known_ids(log_dir, day, known)
            if play["id"] in ids:
                continue
            playlog.append_play(log_dir, play, play["ended_at"])
            ids.add(play["id"])
            report.logged += 1
        progress(n, len(files))
    if plays:
        report.in_history = merge_history(redis, plays, history_max)
    return report
