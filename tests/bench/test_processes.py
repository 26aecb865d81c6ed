"""The benchmark's handling of a gateway run as several processes (nothing runs)."""

from __future__ import annotations

import pytest

from bench.__main__ import FULL, QUICK, choose_ladder
from bench.metrics import CpuSample, summarise, with_totals
from bench.report import gateway_cpu, markdown_table
from bench.run import SCENARIOS, Scenario, conns_for


def test_parts_are_summed_round_by_round() -> None:
    samples = {
        "gateway/0": [CpuSample(t, 0.5 * t, 100) for t in (0.0, 1.0, 2.0)],
        "gateway/1": [CpuSample(t, 0.25 * t, 200) for t in (1.0, 2.0)],  # missed round 0
        "simulator": [CpuSample(0.0, 0.0, 1)],
    }
    totals = with_totals(samples)
    assert totals["gateway"] == [CpuSample(1.0, 0.75, 300), CpuSample(2.0, 1.5, 300)]
    assert totals["simulator"] == samples["simulator"]
    whole = {"gateway": [CpuSample(0.0, 0.0, 5)]}
    assert with_totals(whole) == whole


def test_two_processes_count_as_one_gateway_but_are_bound_each_on_its_own() -> None:
    streams = [
        {"drive_id": "d0", "t0_mono_s": 10.0, "send_offsets_us": [k * 20_000 for k in range(200)]}
    ]
    drives = [
        {"drive_id": "d0", "underruns": 0, "frames": [[10.0 + k * 0.02, 640] for k in range(200)]}
    ]
    samples = {
        "gateway/0": [CpuSample(10.0 + t, 0.6 * t, 40_000) for t in range(5)],
        "gateway/1": [CpuSample(10.0 + t, 0.5 * t, 40_000) for t in range(5)],
    }
    step = summarise(
        scenario="20ms-2proc", mode="gateway",
        load={"streams": streams, "config": {"conns": 40}},
        sim_state={"drives": drives}, samples=samples, chunk_ms=20, out_bytes_per_ms=32,
        baseline_rss_kib=60_000, processes=2,
    )  # fmt: skip
    assert round(step.cpu_pct["gateway"]) == 110  # more than a core, but on two cores
    assert (round(step.cpu_pct["gateway/0"]), round(step.cpu_pct["gateway/1"])) == (60, 50)
    assert step.bound_by == ""
    on_two_cores = summarise(
        scenario="20ms-2proc", mode="gateway", load={"streams": streams},
        sim_state={"drives": drives}, chunk_ms=20, out_bytes_per_ms=32, baseline_rss_kib=0,
        samples={**samples, "simulator": [CpuSample(10.0 + t, 0.75 * t, 1) for t in range(5)]},
        cores=2,
    )  # fmt: skip
    assert on_two_cores.bound_by == "machine"  # 60 + 50 + 75 = 185 % of 200 %
    assert step.gateway_kib_per_stream == 20_000
    assert (step.processes, step.conns) == (2, 40)
    assert gateway_cpu(step.cpu_pct) == "110 (60+50)"
    assert gateway_cpu({"gateway": 42.4}) == "42"
    document = {
        "command": "python -m bench --only 20ms-2proc", "machine": "test", "started": "now",
        "seconds_per_rung": 20, "results": [step.as_dict()],
    }  # fmt: skip
    assert "| 20ms-2proc | 1 |" in markdown_table(document)
    assert "110 (60+50) / - / -" in markdown_table(document)


def test_a_scenario_with_processes_is_labelled_by_them() -> None:
    two = SCENARIOS["20ms-2proc"]
    assert (two.name, two.processes, two.label) == ("20ms", 2, "20ms-2proc")
    # Together the processes are promised no more than one of the machine's two cores: the
    # simulator and the load generator need the rest (docs/performance.md, "Scaling past one core").
    assert two.admit_max_cpu is not None and two.processes * two.admit_max_cpu <= 1.0
    assert all(label == s.label for label, s in SCENARIOS.items())
    assert Scenario("x", 20, 16000, 1, "LINEAR16", 16000, 32.0).label == "x"
    # The load generator's default of 100 streams a connection, unless the scenario asks more.
    assert [conns_for(n, 100) for n in (1, 100, 101, 200)] == [1, 1, 2, 2]
    assert conns_for(200, two.streams_per_conn) == 40
    assert set(FULL) <= set(SCENARIOS) and set(QUICK) <= set(SCENARIOS)


def test_only_one_scenario() -> None:
    assert choose_ladder(quick=False, only=None) == FULL
    assert choose_ladder(quick=True, only=None) == QUICK
    assert choose_ladder(quick=False, only="20ms-2proc") == {"20ms-2proc": [150, 200, 300]}
    assert choose_ladder(quick=True, only="20ms") == {"20ms": QUICK["20ms"]}
    assert choose_ladder(quick=True, only="100ms") == {"100ms": FULL["100ms"]}
    with pytest.raises(ValueError, match="unknown scenario"):
        choose_ladder(quick=False, only="nope")
