"""The plugin-latency benchmark (:mod:`bench.plugin_latency`): a short run over the real gateway
and simulator in this process (pipecat's pipeline in a process of ``.venv-pipecat``), its files
checked for their shape (what a run shows, not how fast it was)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.plugin_latency import BASELINE, PATHS, main
from scripts import venvs


# The run may create .venv-pipecat (pipecat and its dependencies); the turns take seconds.
@pytest.mark.timeout(venvs.INSTALL_TIMEOUT_S + 120)
def test_a_short_run_measures_each_turn_of_every_path(tmp_path: Path) -> None:
    assert main(["--turns", "2", "--out", str(tmp_path)]) == 0
    document = json.loads((tmp_path / "plugin-latency.json").read_text())
    assert list(document["paths"]) == list(PATHS) == [BASELINE, "livekit", "pipecat"]
    assert document["turns"] == 2
    for path, figures in document["paths"].items():
        assert figures["outcomes"] == {"OK": 2}, (path, figures)
        assert figures["first_frame_ms"]["n"] == 2, (path, figures)
        assert all(figures["ratio_to_direct"][q] > 0 for q in ("p50", "p99")), (path, figures)
    assert document["paths"][BASELINE]["ratio_to_direct"] == {"p50": 1.0, "p99": 1.0}
    # Each turn is one drive of its own, whose first frame reached the simulator after it was
    # handed over (for pipecat, in another process: on the same monotonic clock).
    records = document["turn_records"]
    assert len({t["drive_id"] for t in records}) == len(records) == 2 * len(PATHS)
    assert all(t["first_frame_ms"] > 0 for t in records), records
    assert [t["path"] for t in records].count("pipecat") == 2
    table = (tmp_path / "plugin-latency.md").read_text()
    assert all(f"| {path} |" in table for path in PATHS)
