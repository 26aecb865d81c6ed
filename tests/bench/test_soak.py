"""The soak (``make soak``, :mod:`bench.soak`): its arithmetic on hand-made points, then a run
of a few seconds over the real simulator and gateway whose summary and files are checked for
their shape (what a run shows, not how fast anything was)."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import pytest

from bench.soak import (
    DRIVE_KINDS,
    DriveRecord,
    Sample,
    expected,
    main,
    parse_metrics,
    slope_per_hour,
    summarise,
)

SERIES = {"rss_mib", "fds", "sockets", "threads", "tasks", "setup_ms"}
STATS = {"points", "first", "last", "min", "max", "median", "slope_per_h"}
STATS |= {"median_first_fifth", "median_last_fifth", "slope_per_h_after_warmup"}


def test_the_slope_is_per_hour_and_needs_three_points() -> None:
    assert slope_per_hour([(0.0, 10.0), (60.0, 12.0), (120.0, 14.0)]) == pytest.approx(120.0)
    assert slope_per_hour([(0.0, 5.0), (1800.0, 5.0), (3600.0, 5.0)]) == 0.0
    assert slope_per_hour([(0.0, 1.0), (1.0, 2.0)]) is None
    assert slope_per_hour([(7.0, 1.0), (7.0, 2.0), (7.0, 3.0)]) is None


def test_what_each_kind_should_end_with() -> None:
    assert expected("short", "OK") and not expected("long", "CANCELLED")
    assert expected("cancel", "CANCELLED") and not expected("cancel", "OK")
    assert expected("preempt_holder", "ABORTED/PREEMPTED") and expected("preempt", "OK")
    assert expected("bad_config", "INVALID_ARGUMENT/UNSUPPORTED_FORMAT")
    assert not expected("bad_config", "OK")
    # A faulted drive may succeed (a retry) or fail, but with a reason and not as a bug.
    assert expected("fault", "OK") and expected("fault", "UNAVAILABLE/UPSTREAM_DISCONNECTED")
    for outcome in ("INTERNAL/UPSTREAM_ERROR", "UNAVAILABLE", "TIMEOUT", "UNKNOWN/X"):
        assert not expected("fault", outcome)


def test_metrics_without_labels_are_read() -> None:
    page = (
        "# HELP dhgw_drives_active Drives\n# TYPE dhgw_drives_active gauge\n"
        "dhgw_drives_active 3.0\ndhgw_admission_capacity_drives NaN\n"
        'dhgw_drives_finished_total{status="OK",reason="COMPLETED"} 7.0\n'
        "dhgw_drive_setup_seconds_sum 0.25\n"
    )
    metrics = parse_metrics(page)
    assert metrics["dhgw_drives_active"] == 3.0
    assert math.isnan(metrics["dhgw_admission_capacity_drives"])
    assert metrics["dhgw_drive_setup_seconds_sum"] == 0.25
    assert not any(name.startswith("dhgw_drives_finished") for name in metrics)


def test_the_summary_counts_by_kind_and_flags_the_unexpected() -> None:
    samples = [Sample(t, 1024 * (50 + t // 60), 20, 8, 12, t / 100, tasks=30) for t in (0, 60, 120)]
    drives = [
        DriveRecord("short", 0, "t", "", 1.0, began_s=1.0, setup_ms=5.0, outcome="OK"),
        DriveRecord("fault", 1, "f", "ws_drop", 1.0, began_s=2.0, outcome="INTERNAL"),
    ]
    for record in drives:
        record.expected = expected(record.kind, record.outcome)
    summary = summarise(
        seconds=120, lanes=2, samples=samples, drives=drives, before=samples[0],
        after=samples[-1], sim={"drives": 2, "overlaps": 0, "open_connections": 0},
    )  # fmt: skip
    assert set(summary["by_kind"]) == set(DRIVE_KINDS)
    assert summary["by_kind"]["short"] == {"drives": 1, "outcomes": {"OK": 1}}
    assert summary["unexpected"] == {"fault: INTERNAL": 1}
    assert summary["faults"] == {"ws_drop": {"INTERNAL": 1}}
    assert summary["series"]["rss_mib"]["slope_per_h"] == pytest.approx(60.0)
    assert summary["series"]["fds"]["slope_per_h"] == 0.0
    assert summary["series"]["rss_mib"]["median_first_fifth"] == 50.0
    assert summary["series"]["rss_mib"]["median_last_fifth"] == 52.0
    assert summary["series"]["setup_ms"]["points"] == 1
    assert summary["series"]["setup_ms"]["slope_per_h"] is None


@pytest.mark.timeout(90)
def test_a_short_soak_writes_its_summary_samples_and_plot(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--seconds", "4", "--lanes", "3", "--out", str(tmp_path), "--name", "s"]) == 0
    printed = capsys.readouterr().out
    assert "slope/h" in printed and "after warm-up" in printed
    document = json.loads((tmp_path / "s.json").read_text())
    assert {"command", "machine", "started", "summary", "samples", "before", "after"} <= set(
        document
    )
    summary = document["summary"]
    assert set(summary["series"]) == SERIES
    for name, row in summary["series"].items():
        assert STATS <= set(row), name
        assert row["slope_per_h"] is None or isinstance(row["slope_per_h"], float), name
    assert summary["series"]["rss_mib"]["points"] == len(document["samples"]) > 0
    assert summary["series"]["tasks"]["points"] > 0  # the probe's count reached the soak
    assert set(summary["by_kind"]) == set(DRIVE_KINDS)
    assert summary["drives"] > 0 and summary["drives_per_min"] > 0
    assert summary["drives"] == sum(row["drives"] for row in summary["by_kind"].values())
    end = summary["end"]
    assert end["overlaps"] == 0 and end["open_at_simulator"] == 0
    assert end["drives_active"] == 0
    with (tmp_path / "s-drives.csv").open() as rows:
        assert len(list(csv.DictReader(rows))) == summary["drives"]
    with (tmp_path / "s.csv").open() as rows:
        assert len(list(csv.DictReader(rows))) == len(document["samples"])
    assert (tmp_path / "s.png").stat().st_size > 0
