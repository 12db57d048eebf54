from __future__ import annotations

import json
from pathlib import Path

from shared import playlog

T0 = 1_700_000_000.0  # 2023-11-14 UTC


def play(n: int) -> dict[str, object]:
    return {
        "id": str(n),
        "uri": f"spotify:track:{str(n).rjust(22, 'q')}",
        "title": f"T{n}",
        "artist": "A",
        "duration_ms": 1000,
        "user": "ann@example.com",
        "added_at": 1.0,
        "ended_at": T0 + n,
    }


def test_playlog_append_writes_one_json_line_per_play(tmp_path: Path) -> None:
    path = playlog.append_play(tmp_path, play(1), T0 + 1)
    playlog.append_play(tmp_path, play(2), T0 + 2)

    assert path.name == "play_log_2023_11_14.jsonl"
    lines = path.read_text().splitlines()
    assert [json.loads(line)["id"] for line in lines] == ["1", "2"]


def test_playlog_truncated_last_line_is_skipped_by_readers(tmp_path: Path) -> None:
    path = playlog.append_play(tmp_path, play(1), T0 + 1)
    with path.open("ab") as fh:
        fh.write(b'{"id":"2","uri":"spotify:tr')  # a crash in the middle of a write

    assert [p["id"] for p in playlog.read_plays(path)] == ["1"]


def test_playlog_append_after_truncated_line_starts_a_fresh_line(tmp_path: Path) -> None:
    path = playlog.append_play(tmp_path, play(1), T0 + 1)
    with path.open("ab") as fh:
        fh.write(b'{"id":"2","ur')

    playlog.append_play(tmp_path, play(3), T0 + 3)

    assert [p["id"] for p in playlog.read_plays(path)] == ["1", "3"]


def test_playlog_recent_plays_newest_first_across_files(tmp_path: Path) -> None:
    for n, day in ((1, 0), (2, 0), (3, 1), (4, 2)):
        ended = T0 + day * 86400 + n
        playlog.append_play(tmp_path, {**play(n), "ended_at": ended}, ended)
    with (tmp_path / "play_log_2023_11_15.jsonl").open("ab") as fh:
        fh.write(b"not json\n")
    (tmp_path / "notes.txt").write_text("ignored")

    assert [p["id"] for p in playlog.recent_plays(tmp_path, 3)] == ["4", "3", "2"]
    assert len(playlog.log_files(tmp_path)) == 3


def test_playlog_missing_directory_reads_as_empty(tmp_path: Path) -> None:
    assert playlog.recent_plays(tmp_path / "absent", 10) == []
