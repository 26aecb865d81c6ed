"""The bare prototype as the benchmark's second baseline.

First its place in the figures, on hand-made records (nothing runs): which scenarios it runs
on, its rows, the gateway's ratios to it. Then a real smoke run on loopback: the simulator,
``python -m bench.prototype`` and the Go load generator, a handful of streams for two seconds.
"""

from __future__ import annotations

import json
import math
import secrets
import subprocess
from pathlib import Path
from typing import Any
from urllib.request import urlopen

import pytest

from bench.metrics import CpuSample, StepResult, gateway_ratios, summarise
from bench.report import markdown_table, plot
from bench.run import SCENARIOS, build_loadgen, modes_for, prototype, run_step, simulator

STREAMS = 4
SECONDS = 2
#: What each stream sends: SECONDS of LINEAR16 mono 16 kHz in 20 ms chunks of 640 bytes.
AUDIO_BYTES = SECONDS * 32_000
CHUNKS = SECONDS * 50


def step(mode: str, *, cpu_per_s: float, streams: int = 2, arrival_s: float = 0.002) -> StepResult:
    """A 20 ms rung of ``streams`` streams for 4 s, the hop at ``cpu_per_s`` of a core."""
    records = [
        {
            "drive_id": f"d{i}",
            "t0_mono_s": 10.0,
            "send_offsets_us": [k * 20_000 for k in range(200)],
        }
        for i in range(streams)
    ]
    drives = [
        {"drive_id": f"d{i}", "underruns": 0,
         "frames": [[10.0 + k * 0.02 + arrival_s, 640] for k in range(200)]}
        for i in range(streams)
    ]  # fmt: skip
    samples = {"simulator": [CpuSample(10.0 + t, 0.1 * t, 1) for t in range(5)]}
    if mode != "direct":
        samples[mode] = [CpuSample(10.0 + t, cpu_per_s * t, 40_000 + 100 * t) for t in range(5)]
    return summarise(
        scenario="20ms", mode=mode, load={"streams": records}, sim_state={"drives": drives},
        samples=samples, chunk_ms=20, out_bytes_per_ms=32, baseline_rss_kib=40_000,
        processes=0 if mode == "direct" else 1,
    )  # fmt: skip


def document(*steps: StepResult) -> dict[str, Any]:
    return {
        "command": "make bench", "machine": "test", "started": "now", "seconds_per_rung": 4,
        "results": [s.as_dict() for s in steps],
    }  # fmt: skip


def test_the_prototype_runs_where_it_needs_no_conversion_and_one_process() -> None:
    assert modes_for(SCENARIOS["20ms"]) == ("gateway", "prototype", "direct")
    assert modes_for(SCENARIOS["100ms"]) == ("gateway", "prototype", "direct")
    assert modes_for(SCENARIOS["48k-stereo-float"]) == ("gateway", "direct")
    assert modes_for(SCENARIOS["20ms-2proc"]) == ("gateway", "direct")
    assert modes_for(SCENARIOS["20ms"], with_prototype=False) == ("gateway", "direct")
    # Refused before anything starts.
    with pytest.raises(ValueError, match="cannot carry 48k-stereo-float"):
        run_step(SCENARIOS["48k-stereo-float"], 1, mode="prototype", seconds=1)
    with pytest.raises(ValueError, match="cannot carry 20ms-2proc"):
        run_step(SCENARIOS["20ms"], 1, mode="prototype", seconds=1, processes=2)
    with pytest.raises(ValueError, match="unknown mode"):
        run_step(SCENARIOS["20ms"], 1, mode="nope", seconds=1)


def test_the_prototypes_figures_are_its_own_process() -> None:
    proto = step("prototype", cpu_per_s=0.05)
    # 0.05 CPU-s per s over 2 streams at 50 chunks/s each: 500 us per chunk.
    assert round(proto.gateway_us_per_chunk) == 500
    assert round(proto.cpu_pct["prototype"]) == 5 and "gateway" not in proto.cpu_pct
    assert proto.gateway_kib_per_stream == 150  # (peak 40 300 KiB - 40 000 at start) / 2
    assert proto.processes == 1
    assert math.isnan(step("direct", cpu_per_s=0).gateway_us_per_chunk)


def test_the_gateway_is_given_as_ratios_to_the_prototype_and_to_direct(tmp_path: Path) -> None:
    gw = step("gateway", cpu_per_s=0.04, arrival_s=0.004)
    proto = step("prototype", cpu_per_s=0.05, arrival_s=0.003)
    direct = step("direct", cpu_per_s=0, arrival_s=0.002)
    alone = step("gateway", cpu_per_s=0.04, streams=3)  # a rung the prototype did not run
    ratios = gateway_ratios(document(gw, proto, direct, alone)["results"])
    assert round(ratios[0].cpu_per_chunk_vs_prototype, 2) == 0.8  # 400 us / 500 us
    assert (round(ratios[0].p99_vs_prototype, 2), round(ratios[0].p99_vs_direct, 2)) == (1.33, 2.0)
    assert ratios[1].as_dict() == {
        "scenario": "20ms", "streams": 3, "p99_vs_direct": None, "p99_vs_prototype": None,
        "cpu_per_chunk_vs_prototype": None,
    }  # fmt: skip
    table = markdown_table(document(gw, proto, direct, alone)).splitlines()
    rows = [line for line in table if line.startswith("| 20ms |")]
    assert [row.split(" | ")[1:3] for row in rows] == [["2", "gw"], ["2", "proto"], ["3", "gw"]]
    assert "| 2.00x / 1.33x |" in rows[0] and "| 400.0 | 0.80x |" in rows[0]
    assert "| 1.50x / - |" in rows[1] and "| 500.0 | - |" in rows[1]  # the prototype's own
    assert "| 5 / 10 / - |" in rows[1]  # its CPU %, the simulator's, no load generator
    assert "| - / - |" in rows[2]
    plot(document(gw, proto, direct), tmp_path / "plot.png")
    assert (tmp_path / "plot.png").read_bytes()[:4] == b"\x89PNG"


# The real thing, on loopback.


@pytest.fixture(scope="module")
def loadgen() -> Path:
    """The Go load generator (``go build``: warm after ``make test`` built the Go client,
    whose modules it shares)."""
    return build_loadgen()


def test_the_prototype_carries_the_load_generators_streams_to_the_simulator(
    loadgen: Path, tmp_path: Path
) -> None:
    secret = secrets.token_hex(16)
    out = tmp_path / "load.json"
    with simulator(secret) as (_, api_url), prototype(secret, api_url) as (_, address):
        args = [
            str(loadgen), "--mode", "gateway", "--addr", address, "--streams", str(STREAMS),
            "--seconds", str(SECONDS), "--chunk-ms", "20", "--ramp-s", "0.5",
            "--timeout-s", "30", "--out", str(out),
        ]  # fmt: skip
        run = subprocess.run(args, capture_output=True, text=True, timeout=60, check=False)
        with urlopen(f"{api_url}_sim/state", timeout=10) as answer:
            state = json.load(answer)
    assert run.returncode == 0, run.stderr
    report = json.loads(out.read_text())
    assert (report["completed"], report["failed"]) == (STREAMS, 0)
    drives = {drive["drive_id"]: drive for drive in state["drives"]}
    for stream in report["streams"]:
        assert stream["error"] is None, stream
        assert stream["completed"]["bytes_sent"] == AUDIO_BYTES
        drive = drives[stream["drive_id"]]  # the DriveId the prototype reported is upstream's
        assert drive["task_id"] == stream["task_id"]
        assert drive["start"]["Payload"] == {"DriveId": drive["drive_id"], "SampleRate": 16000}
        assert (drive["bytes"], drive["frame_count"]) == (AUDIO_BYTES, CHUNKS)
        assert drive["stopped_at"] is not None and drive["clean_close"] is True
        assert drive["errors"] == []


def test_a_prototype_rung_is_measured_like_a_gateway_rung(loadgen: Path) -> None:
    result = run_step(SCENARIOS["20ms"], STREAMS, mode="prototype", seconds=SECONDS)
    assert (result.mode, result.streams, result.errors, result.refused) == (
        "prototype", STREAMS, 0, 0,
    )  # fmt: skip
    assert (result.processes, result.conns) == (1, 1)
    assert set(result.cpu_pct) == {"prototype", "simulator", "loadgen"}
    assert result.gateway_us_per_chunk > 0  # the prototype's CPU, sampled under its name
    assert result.latency_p99_ms > 0
