"""Daily JSON-lines play logs: one line per finished song, crash-safe to write and to read.

A line is written with one ``write()`` of the whole line and then fsync'd, so a crash leaves at
most one truncated last line. Readers skip any line that is not a complete JSON object, and the
next append starts on a fresh line, so a truncated line never corrupts a good one.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import random
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

_NAME_RE = re.compile(r"^play_log_(\d{4})_(\d{2})_(\d{2})\.jsonl$")


def log_path(directory: Path, when: dt.datetime) -> Path:
    return directory / f"play_log_{when:%Y_%m_%d}.jsonl"


def append_play(directory: Path, play: dict[str, Any], ended_at_s: float) -> Path:
    """Append one play to the day's file (UTC date of its end). Blocking: run in a thread."""
    directory.mkdir(parents=True, exist_ok=True)
    path = log_path(directory, dt.datetime.fromtimestamp(ended_at_s, tz=dt.UTC))
    line = json.dumps(play, sort_keys=True, separators=(",", ":"), ensure_ascii=False) + "\n"
    data = line.encode("utf-8")
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o640)
    try:
        size = os.fstat(fd).st_size
        # A previous crash may have left a partial line: start ours on a line of its own.
        if size and os.pread(fd, 1, size - 1) != b"\n":
            data = b"\n" + data
        written = os.write(fd, data)
        if written != len(data):
            raise OSError(f"short write to play log ({written} of {len(data)} bytes)")
        os.fsync(fd)
    finally:
        os.close(fd)
    return path


def read_plays(path: Path) -> Iterator[dict[str, Any]]:
    """Every complete play in one file, oldest first; damaged lines are skipped."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        log.warning("cannot read play log %s: %s", path.name, exc)
        return
    for number, line in enumerate(raw.split(b"\n"), start=1):
        if not line.strip():
            continue
        try:
            play = json.loads(line)
        except ValueError:
            log.warning("skipping damaged line %d of %s", number, path.name)
            continue
        if isinstance(play, dict):
            yield play


def log_files(directory: Path) -> list[tuple[dt.date, Path]]:
    """The play-log files with their dates, oldest first."""
    if not directory.is_dir():
        return []
    found = []
    for path in directory.iterdir():
        m = _NAME_RE.match(path.name)
        if not m or not path.is_file():
            continue
        try:
            day = dt.date(int(m[1]), int(m[2]), int(m[3]))
        except ValueError:
            continue
        found.append((day, path))
    return sorted(found)


def recent_plays(directory: Path, limit: int) -> list[dict[str, Any]]:
    """Up to ``limit`` plays, newest first, reading files from the newest day back."""
    out: list[dict[str, Any]] = []
    for _, path in reversed(log_files(directory)):
        plays = list(read_plays(path))
        plays.sort(key=lambda p: float(p.get("ended_at") or 0), reverse=True)
        out.extend(plays)
        if len(out) >= limit:
            break
    return out[:limit]


def throwback_plays(
    directory: Path,
    today: dt.date,
    limit: int,
    exclude_users: frozenset[str] = frozenset(),
    rng: random.Random | None = None,
) -> list[tuple[str, str]]:
    """``(uri, user)`` of human-queued tracks played on this weekday in earlier weeks.

    Shuffled and de-duplicated by URI; auto-fill plays are never a throwback source.
    """
    rng = rng or random.Random()
    picks: dict[str, str] = {}
    for day, path in log_files(directory):
        if day >= today or day.weekday() != today.weekday():
            continue
        for play in read_plays(path):
            uri = str(play.get("uri") or "")
            user = str(play.get("user") or "")
            if play.get("auto") or not uri.startswith("spotify:track:") or not user:
                continue
            if user.lower() in exclude_users:
                continue
            picks.setdefault(uri, user)
    pairs = list(picks.items())
    rng.shuffle(pairs)
    return pairs[:limit]
