"""The stop-to-silence benchmark (:mod:`bench.stop_to_silence`): a short run over the real
simulator and gateway processes whose files are checked for their shape and for what each way
of asking does to the avatar (what a run shows, not how fast it was)."""

from __future__ import annotations

import json
from pathlib import Path

from bench.stop_to_silence import WAYS, main


def test_a_short_run_writes_every_way_and_the_interrupts_drop_the_lead(tmp_path: Path) -> None:
    code = main(["--drives", "2", "--concurrency", "4", "--ask-after-ms", "300",
                 "--max-run-s", "120", "--out", str(tmp_path)])  # fmt: skip
    assert code == 0
    document = json.loads((tmp_path / "stop-to-silence.json").read_text())
    assert list(document["ways"]) == list(WAYS)
    for way, figures in document["ways"].items():
        assert figures["outcomes"] == {"OK": 2}, (way, figures)
        assert figures["stop_to_silence_ms"]["n"] == 2, (way, figures)
    ways = document["ways"]
    # A cancel or a FINISH lets the avatar play the pacing lead (1 s); an interrupt does not.
    for way in ("interrupt", "stop-interrupt"):
        assert (
            ways[way]["played_after_ask_ms"]["max"] < ways["cancel"]["played_after_ask_ms"]["min"]
        )
        assert ways[way]["played_ms_error_ms"] is not None
    assert ways["cancel"]["ratio_to_cancel"] == {"p50": 1.0, "p99": 1.0}
    table = (tmp_path / "stop-to-silence.md").read_text()
    assert all(f"| {way} |" in table for way in WAYS)
