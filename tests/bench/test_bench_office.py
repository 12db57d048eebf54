"""Smoke test of bench/bench_office.py: its --quick run on the real local stack reports every
section and no error."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SECTIONS = (
    "services",
    "throughput_rps",
    "ops",
    "listeners",
    "queue_changes_seen_median",
    "bytes_per_queue_frame_per_listener",
    "bytes_per_change_made_per_listener",
    "peak_rss_mb",
    "cpu_s_during_load",
    "client_cpu_s",
    "replay",
)


def test_quick_office_bench_reports_every_section_without_errors(tmp_path: Path) -> None:
    out = tmp_path / "office.json"
    env = os.environ | {"PYTHONPATH": str(ROOT)}
    run = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "bench_office.py"), "--quick", "--json", str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "== office mix, one api, one web" in run.stdout
    results = json.loads(out.read_text())
    assert list(results) == ["one api, one web"]  # --quick skips the replicas run
    result = results["one api, one web"]
    for section in SECTIONS:
        assert section in result, section
    assert set(result["ops"]) == {"read", "vote", "add", "search"}
    for op, figures in result["ops"].items():
        assert figures["errors"] == 0, (op, result["error_samples"])
    assert result["ops"]["read"]["count"] > 0
    assert result["throughput_rps"] > 0
    assert result["listeners"] > 0 and result["queue_changes_seen_median"] > 0
    assert result["services"]["api"] >= 1 and result["services"]["web"] >= 1
    assert result["peak_rss_mb"] and all(mb > 0 for mb in result["peak_rss_mb"].values())
    replay = result["replay"]
    assert replay["fresh_snapshot_bytes"] > 0
    # The server never replays more than a snapshot; both reads also take live frames arriving
    # meanwhile (positions, a now_playing), hence the small allowance.
    assert replay["resume_bytes"] <= replay["fresh_snapshot_bytes"] + 1024
