"""The time-to-speak benchmark (:mod:`bench.time_to_speak`): a short run over the real simulator
(https/wss behind the delaying proxy) and two gateway processes, its files checked for their
shape (what a run shows, not how fast it was)."""

from __future__ import annotations

import json
from pathlib import Path

from bench.time_to_speak import FIGURES, RUNS, main


def test_a_short_run_measures_each_turn_of_both_gateways(tmp_path: Path) -> None:
    assert main(["--turns", "2", "--gap-s", "0.5", "--out", str(tmp_path)]) == 0
    document = json.loads((tmp_path / "time-to-speak.json").read_text())
    assert list(document["runs"]) == list(RUNS)
    for run, figures in document["runs"].items():
        assert figures["outcomes"] == {"OK": 2}, (run, figures)
        for name in FIGURES:
            assert figures[name]["n"] == 2, (run, name, figures)
    assert document["runs"]["baseline"]["ratio_to_baseline"]["setup_ms"]["p50"] == 1.0
    # The simulator's record comes after the gateway's own (the config's leg, one way).
    for turn in document["turn_records"]:
        assert turn["sim_time_to_speaking_ms"] > 0 and turn["drive_id"], turn
    assert all(f"| {run} |" in (tmp_path / "time-to-speak.md").read_text() for run in RUNS)
