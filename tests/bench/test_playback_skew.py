"""The playback-skew benchmark (:mod:`bench.playback_skew`): its arithmetic on hand-made log
lines and metrics, then a run of a few drives over the real simulator (its callbacks on) and
gateway whose files are checked for their shape (what a run shows, not how fast it was)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.playback_skew import main
from bench.playback_skew_report import DriveResult, markdown, summarise_run, with_ratios

METRICS = """\
dhgw_playback_skew_seconds_count{direction="late",edge="started"} 2.0
dhgw_playback_skew_seconds_count{direction="early",edge="started"} 0.0
dhgw_playback_skew_seconds_count{direction="late",edge="finished"} 1.0
dhgw_playback_skew_seconds_count{direction="early",edge="finished"} 1.0
dhgw_drive_playout_wait_seconds_count 2.0
dhgw_playback_events_total{event="finished",source="vendor"} 2.0
"""


def completed(pace: str, **fields: float) -> str:
    return json.dumps({"event": "drive completed", "labels": {"pace": pace}, **fields})


def test_a_run_is_summarised_from_the_client_the_log_and_the_metrics() -> None:
    drives = [
        DriveResult("a", "realtime", "OK", "VENDOR", "VENDOR", 2, 40.0),
        DriveResult("b", "burst", "OK", "VENDOR", "VENDOR", 2, 900.0),
        DriveResult("c", "burst", "TIMEOUT"),
    ]
    lines = [
        "not json",
        json.dumps({"event": "drive started"}),
        completed(
            "realtime", playback_start_skew_ms=3.0, playback_end_skew_ms=2.0, playout_wait_ms=35.0
        ),
        completed(
            "burst", playback_start_skew_ms=5.0, playback_end_skew_ms=-1.0, playout_wait_ms=800.0
        ),
    ]
    run = summarise_run("vendor-0ms", 0.0, drives, lines, METRICS)
    assert run["outcomes"] == {"OK": 2, "TIMEOUT": 1}
    assert run["finished"] == {"VENDOR": 2}
    assert (run["end_skew_ms"]["p50"], run["end_skew_ms"]["p99"]) == (-1.0, 2.0)
    assert run["playout_wait_ms"]["realtime"]["p50"] == 35.0
    assert run["half_close_to_completed_ms"]["burst"]["n"] == 1
    assert run["metrics"]["skew_finished"] == 2.0
    assert all(run["metrics_agree"].values())
    # The log and /metrics disagreeing is flagged.
    assert not summarise_run("x", 0.0, drives, lines[:3], METRICS)["metrics_agree"]["skew_started"]


def test_the_ratios_are_to_the_first_run_and_the_tables_show_each_run() -> None:
    base = summarise_run("baseline", None, [], [completed("realtime", playout_wait_ms=20.0)], "")
    vendor = summarise_run(
        "vendor-0ms", 0.0, [], [completed("realtime", playout_wait_ms=50.0)], METRICS
    )
    runs = with_ratios([base, vendor])
    assert runs[1]["vs_baseline"]["playout_wait_ms/realtime/p50"] == 2.5
    assert runs[1]["vs_baseline"]["playout_wait_ms/burst/p50"] is None  # no figure either side
    document = {"command": "c", "machine": "m", "started": "s", "grace_ms": 500, "runs": runs}
    table = markdown(document)
    assert "| vendor-0ms | 0 | 0 of 0 |" in table and "| 2.50x / 2.50x |" in table


@pytest.mark.timeout(120)
def test_a_short_run_confirms_every_drive_and_writes_its_files(tmp_path: Path) -> None:
    args = ["--drives", "3", "--concurrency", "3", "--latencies", "", "--out", str(tmp_path)]
    assert main([*args, "--name", "p"]) == 0  # 0: /metrics agreed with the log
    document = json.loads((tmp_path / "p.json").read_text())
    baseline, vendor = document["runs"]
    assert baseline["finished"] == {"ESTIMATED": 3} and baseline["end_skew_ms"]["n"] == 0
    assert vendor["started"] == vendor["finished"] == {"VENDOR": 3}
    assert vendor["metrics"]["skew_started"] == vendor["metrics"]["skew_finished"] == 3
    assert vendor["playout_wait_ms"]["all"]["n"] == 3
    assert "| baseline |" in (tmp_path / "p.md").read_text()
