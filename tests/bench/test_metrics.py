"""The benchmark's arithmetic, on hand-made records (nothing runs)."""

from __future__ import annotations

import math
from pathlib import Path

from bench.metrics import (
    CpuSample,
    chunk_latencies_ms,
    cpu_between,
    percentile,
    stall_events,
    summarise,
    underrun_times,
)
from bench.report import markdown_table, plot


def test_percentile_by_nearest_rank() -> None:
    values = list(range(1, 101))
    assert percentile(values, 0.5) == 50
    assert percentile(values, 0.99) == 99
    assert percentile(values, 1.0) == 100
    assert math.isnan(percentile([], 0.5))


def test_latency_of_each_chunk_is_the_arrival_of_its_last_byte() -> None:
    # 20 ms chunks of 640 bytes sent at 0, 20, 40 ms; the gateway coalesced the first two.
    stream = {"t0_mono_s": 100.0, "send_offsets_us": [0, 20_000, 40_000]}
    frames = [[100.025, 1280], [100.043, 640]]
    latencies = chunk_latencies_ms(stream, frames, chunk_ms=20, out_bytes_per_ms=32)
    assert [round(v, 3) for v in latencies] == [25.0, 5.0, 3.0]


def test_chunks_that_never_arrived_are_not_counted() -> None:
    stream = {"t0_mono_s": 0.0, "send_offsets_us": [0, 20_000, 40_000]}
    assert len(chunk_latencies_ms(stream, [[0.001, 640]], chunk_ms=20, out_bytes_per_ms=32)) == 1


def test_cpu_over_a_window() -> None:
    samples = [CpuSample(t, t * 0.5, 1000) for t in (0.0, 1.0, 2.0, 3.0)]
    used, length = cpu_between(samples, 1.0, 3.0)
    assert (used, length) == (1.0, 2.0)


def test_summarise_and_report(tmp_path: Path) -> None:
    streams = [
        {
            "task_id": f"t{i}",
            "drive_id": f"d{i}",
            "setup_ms": 10.0 + i,
            "t0_mono_s": 10.0,
            "send_offsets_us": [k * 20_000 for k in range(200)],
            "chunk_bytes": 640,
        }
        for i in range(2)
    ]
    drives = [
        {
            "drive_id": f"d{i}",
            "underruns": i,
            "stop_lag_ms": 1.0,
            "frames": [[10.0 + k * 0.02 + 0.002, 640] for k in range(200)],
        }
        for i in range(2)
    ]
    samples = {
        "gateway": [CpuSample(10.0 + t, 0.1 * t, 50_000 + 100 * t) for t in range(5)],
        "simulator": [CpuSample(10.0 + t, 0.95 * t, 1) for t in range(5)],
    }
    step = summarise(
        scenario="20ms", mode="gateway", load={"streams": streams},
        sim_state={"drives": drives}, samples=samples, chunk_ms=20, out_bytes_per_ms=32,
        baseline_rss_kib=50_000,
    )  # fmt: skip
    assert (step.underruns, step.streams_with_underruns, step.errors) == (1, 1, 0)
    assert round(step.latency_p99_ms, 3) == 2.0
    assert step.bound_by == "simulator"  # 95 % of a core
    assert round(step.cpu_pct["gateway"]) == 10
    # 0.1 CPU-s per s over 2 streams at 50 chunks/s each: 1000 us per chunk.
    assert round(step.gateway_us_per_chunk) == 1000
    direct = summarise(
        scenario="20ms", mode="direct", load={"streams": streams},
        sim_state={"drives": drives}, samples={"simulator": samples["simulator"]},
        chunk_ms=20, out_bytes_per_ms=32, baseline_rss_kib=0,
    )  # fmt: skip
    document = {
        "command": "make bench",
        "machine": "test",
        "started": "now",
        "seconds_per_rung": 20,
        "results": [step.as_dict(), direct.as_dict()],
    }
    table = markdown_table(document)
    assert "| 20ms | 2 |" in table and "1.00x" in table
    plot(document, tmp_path / "plot.png")
    assert (tmp_path / "plot.png").read_bytes()[:4] == b"\x89PNG"


def test_refused_streams_are_not_errors_and_not_in_per_stream_figures() -> None:
    ok = {
        "drive_id": "d0",
        "setup_ms": 5.0,
        "t0_mono_s": 10.0,
        "send_offsets_us": [k * 20_000 for k in range(200)],
    }
    refused = {"drive_id": None, "error": "RESOURCE_EXHAUSTED GATEWAY_OVERLOADED"}
    broken = {"drive_id": None, "error": "UNAVAILABLE UPSTREAM_UNREACHABLE"}
    drive = {
        "drive_id": "d0",
        "underruns": 0,
        "frames": [[10.0 + k * 0.02, 640] for k in range(200)],
    }
    samples = {"gateway": [CpuSample(10.0 + t, 0.1 * t, 50_000 + 100 * t) for t in range(5)]}
    step = summarise(
        scenario="20ms", mode="gateway", load={"streams": [ok, refused, broken, refused]},
        sim_state={"drives": [drive]}, samples=samples, chunk_ms=20, out_bytes_per_ms=32,
        baseline_rss_kib=50_000,
    )  # fmt: skip
    assert (step.streams, step.refused, step.errors) == (4, 2, 1)
    # Two admitted streams share the CPU: 0.1 CPU-s per s / (2 x 50 chunks/s) = 1000 us.
    assert round(step.gateway_us_per_chunk) == 1000
    table = markdown_table(
        {"command": "c", "machine": "m", "started": "s", "seconds_per_rung": 1,
         "results": [step.as_dict()]}
    )  # fmt: skip
    assert "| 20ms | 4 (2 refused) |" in table


def test_underruns_are_timed_and_bunched_into_events() -> None:
    # 20 ms frames at 1x, then one 60 ms gap: one underrun, when the late frame came.
    frames = [[k * 0.02, 640] for k in range(10)] + [[0.26, 640], [0.28, 640]]
    assert underrun_times(frames, out_bytes_per_ms=32) == [0.26]
    # Three drives stalled by the same pause, and one on its own a second later: two events.
    assert stall_events([5.01, 5.03, 5.07, 6.2]) == 2
    assert stall_events([]) == 0
