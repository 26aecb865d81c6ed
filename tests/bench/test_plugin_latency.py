"""The plugin-latency benchmark (:mod:`bench.plugin_latency`): a short run over the real gateway
and simulator in this process, its files checked for their shape (what a run shows, not how
fast it was)."""

from __future__ import annotations

import json
from pathlib import Path

from bench.plugin_latency import BASELINE, PATHS, main


def test_a_short_run_measures_each_turn_of_every_path(tmp_path: Path) -> None:
    assert main(["--turns", "2", "--out", str(tmp_path)]) == 0
    document = json.loads((tmp_path / "plugin-latency.json").read_text())
    assert list(document["paths"]) == list(PATHS) and document["turns"] == 2
    for path, figures in document["paths"].items():
        assert figures["outcomes"] == {"OK": 2}, (path, figures)
        assert figures["first_frame_ms"]["n"] == 2, (path, figures)
    assert document["paths"][BASELINE]["ratio_to_direct"] == {"p50": 1.0, "p99": 1.0}
    # Each turn is one drive of its own, whose first frame reached the simulator.
    records = document["turn_records"]
    assert len({t["drive_id"] for t in records}) == len(records) == 2 * len(PATHS)
    assert all(t["first_frame_ms"] > 0 for t in records), records
    table = (tmp_path / "plugin-latency.md").read_text()
    assert all(f"| {path} |" in table for path in PATHS)
