"""pipecat's DHGatewayAvatarService against the real gateway and simulator.

pipecat-ai 1.14 requires protobuf<7 and the gateway's venv runs protobuf 7, so the pipeline
runs in ``.venv-pipecat`` (created here if missing: ``scripts/venvs.py pipecat``, pinned by
``integrations/pipecat/constraints.txt``) as a subprocess, ``pipecat_pipeline.py``: a real
Pipeline of a synthetic TTS, the service and a recording sink. The gateway and simulator run
here, on loopback; the two processes share one monotonic clock, so what the pipeline saw is
held against the simulator's own records. How fast the plugin's path is, is not asserted here:
``python -m bench.plugin_latency`` measures it against the Python client's (``make
bench-plugins``).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
from dhgateway_client import DriveGatewayClient

from gateway.config import AuthConfig
from gateway.simulator.playout import PlayoutOutcome
from gateway.testing import Harness, running_gateway
from scripts import venvs
from tests.integrations.conftest import nothing_open
from tests.security.conftest import api_key

HERE = Path(__file__).parent
ROOT = HERE.parent.parent
PIPELINE = HERE / "pipecat_pipeline.py"
#: Beyond the pipeline's own bound (--timeout-s), the time a pipecat process takes to start.
START_S = 20
#: The first test may create the venv (pipecat and its dependencies: about 40 s from a warm
#: cache, minutes from a cold one); the rest are bounded by their pipeline's run.
pytestmark = pytest.mark.timeout(venvs.INSTALL_TIMEOUT_S + 120)


@pytest.fixture(scope="module")
def pipecat_python() -> Path:
    return venvs.ensure("pipecat")


@dataclass
class Seen:
    """What one pipeline run printed."""

    records: list[dict[str, Any]]
    status: int
    stderr: str

    def frames(self, direction: str, name: str) -> list[dict[str, Any]]:
        return [
            r
            for r in self.records
            if r["kind"] == "frame" and r["dir"] == direction and r["frame"] == name
        ]

    def kinds(self, direction: str, *names: str) -> list[str]:
        return [
            r["frame"]
            for r in self.records
            if r["kind"] == "frame" and r["dir"] == direction and r["frame"] in names
        ]

    def mark(self, name: str) -> float:
        (record,) = [r for r in self.records if r["kind"] == "mark" and r["name"] == name]
        return float(record["t"])

    def turns(self) -> list[dict[str, Any]]:
        return [r for r in self.records if r["kind"] == "turn"]

    def metrics(self, kind: str) -> list[dict[str, Any]]:
        return [
            m
            for r in self.frames("down", "MetricsFrame")
            for m in r["metrics"]
            if m["type"] == kind
        ]

    def errors(self) -> list[dict[str, Any]]:
        return self.frames("up", "ErrorFrame")


async def run_pipeline(python: Path, address: str, scenario: str, *args: str) -> Seen:
    """Run ``scenario`` against ``address``; bounded by its ``--timeout-s`` and :data:`START_S`."""
    timeout_s = 30.0
    env = {k: v for k, v in os.environ.items() if not k.startswith("DHGW_")}
    process = await asyncio.create_subprocess_exec(
        str(python),
        str(PIPELINE),
        scenario,
        "--address",
        address,
        "--timeout-s",
        str(timeout_s),
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
        cwd=ROOT,
    )
    try:
        stdout, stderr = await asyncio.wait_for(process.communicate(), timeout_s + START_S)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    lines = [json.loads(line) for line in stdout.decode().splitlines() if line.startswith("{")]
    seen = Seen(lines, process.returncode or 0, stderr.decode(errors="replace"))
    assert lines and lines[-1]["kind"] == "done", seen.stderr[-3000:]
    assert seen.status == 0, f"the pipeline hung: {seen.stderr[-3000:]}"
    return seen


@asynccontextmanager
async def gateway(key: str | None = None, **config: Any) -> AsyncIterator[Harness]:
    """A simulator and a gateway; on exit, the gateway holds no drive the pipeline opened
    (asked with ``key`` when the gateway wants one)."""
    async with running_gateway(**config) as h:
        yield h
        metadata = [("authorization", f"Bearer {key}")] if key else None
        await nothing_open(replace(h, client=DriveGatewayClient(h.channel, metadata=metadata)))
        assert not h.sim.overlaps


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.mark.asyncio
async def test_two_turns_reach_the_avatar_whole_and_the_speaking_frames_follow_it(
    pipecat_python: Path,
) -> None:
    async with gateway() as h:
        seen = await run_pipeline(
            pipecat_python, h.address, "turns", "--task", "pc-two", "--turn-ms", "1200",
            "--turn-ms", "800",
        )  # fmt: skip
        assert seen.errors() == []
        records = h.sim.drives_for_task("pc-two")
        assert [sha(r.audio) for r in records] == [t["sha256"] for t in seen.turns()]
        # The bot speaks when the avatar does, by the simulator's own account, both ways.
        assert (
            seen.kinds("up", "BotStartedSpeakingFrame", "BotStoppedSpeakingFrame")
            == [
                "BotStartedSpeakingFrame",
                "BotStoppedSpeakingFrame",
            ]
            * 2
        )
        started = seen.frames("up", "BotStartedSpeakingFrame")
        stopped = seen.frames("up", "BotStoppedSpeakingFrame")
        for began, ended, record in zip(started, stopped, records, strict=True):
            playout = h.sim.playout(record.drive_id)
            assert began["meta"]["drive_id"] == ended["meta"]["drive_id"] == record.drive_id
            assert playout.speaking_at is not None and playout.ended_at is not None
            assert abs(began["t"] - playout.speaking_at) < 0.050
            assert abs(ended["t"] - playout.ended_at) < 0.050
            assert ended["meta"]["interrupted"] is False
            assert playout.outcome is PlayoutOutcome.PLAYED
        assert len(seen.frames("down", "BotStoppedSpeakingFrame")) == 2
        assert seen.frames("down", "TTSAudioRawFrame") == []  # the avatar carries the voice
        turns = seen.metrics("DHGatewayTurnMetricsData")
        assert [m["drive_id"] for m in turns] == [r.drive_id for r in records]
        assert [m["played_ms"] for m in turns] == [1200, 800]
        assert all(0 < m["time_to_speaking_ms"] < 1000 and not m["interrupted"] for m in turns)
        # (pipecat's initial, empty metrics say 0 for every service first.)
        assert len([m for m in seen.metrics("TTFBMetricsData") if m["value"] > 0]) == 2


@pytest.mark.asyncio
@pytest.mark.parametrize("pace", ["1", "0"], ids=["streaming-tts", "fast-tts"])
async def test_a_barge_in_silences_the_avatar_and_the_next_turn_is_clean(
    pipecat_python: Path, pace: str
) -> None:
    async with gateway() as h:
        seen = await run_pipeline(
            pipecat_python, h.address, "barge-in", "--task", "pc-barge", "--pace", pace,
            "--turn-ms", "4000", "--turn-ms", "600", "--interrupt-after-ms", "800",
        )  # fmt: skip
        assert seen.errors() == []
        cut, after = h.sim.drives_for_task("pc-barge")
        first, second = seen.turns()
        interrupted = h.sim.playout(cut.drive_id)
        assert interrupted.outcome is PlayoutOutcome.INTERRUPTED
        assert interrupted.ended_at is not None and interrupted.played_ms is not None
        assert interrupted.ended_at - seen.mark("interrupt") < 0.150
        # The avatar got the turn's audio in order up to the cut, nothing after it.
        assert cut.audio and len(cut.audio) < first["bytes"]
        stopped = seen.frames("up", "BotStoppedSpeakingFrame")
        assert [s["meta"]["interrupted"] for s in stopped] == [True, False]
        assert abs(stopped[0]["meta"]["played_ms"] - interrupted.played_ms) <= 20
        assert abs(stopped[0]["t"] - interrupted.ended_at) < 0.050
        # The next turn starts cleanly: all of it, played to its end.
        assert sha(after.audio) == second["sha256"]
        assert h.sim.playout(after.drive_id).outcome is PlayoutOutcome.PLAYED
        turns = seen.metrics("DHGatewayTurnMetricsData")
        assert [m["interrupted"] for m in turns] == [True, False]


def free_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.asyncio
async def test_an_unreachable_gateway_is_an_error_frame_not_a_hang(pipecat_python: Path) -> None:
    address = f"127.0.0.1:{free_port()}"
    seen = await run_pipeline(pipecat_python, address, "refused", "--task", "pc-none")
    errors = seen.errors()
    assert errors and all("UNAVAILABLE" in e["error"] for e in errors), errors
    assert {e["category"] for e in errors} == {"connectivity"}
    assert seen.frames("up", "BotStartedSpeakingFrame") == []


KEY = "dhgw_pipecat-test-key"


@pytest.mark.asyncio
async def test_a_refused_key_is_an_error_frame_with_the_gateways_reason(
    pipecat_python: Path,
) -> None:
    async with gateway(KEY, auth=AuthConfig(api_keys=(api_key("a", KEY),))) as h:
        seen = await run_pipeline(
            pipecat_python, h.address, "refused", "--task", "pc-key", "--api-key", "dhgw_wrong"
        )
        errors = seen.errors()
        assert errors and all("UNAUTHENTICATED" in e["error"] for e in errors), errors
        assert {e["category"] for e in errors} == {"authentication"}
        assert h.sim.api_calls == []  # nothing reached the vendor
        # The right key speaks.
        seen = await run_pipeline(
            pipecat_python, h.address, "turns", "--task", "pc-key", "--api-key", KEY,
            "--turn-ms", "300",
        )  # fmt: skip
        assert seen.errors() == [] and len(seen.frames("up", "BotStoppedSpeakingFrame")) == 1


@pytest.mark.asyncio
async def test_bad_input_is_reported_and_dropped_and_leaves_nothing_open(
    pipecat_python: Path,
) -> None:
    async with gateway() as h:
        seen = await run_pipeline(
            pipecat_python, h.address, "bad-input", "--task", "pc-bad", "--turn-ms", "300",
            "--forward-audio",
        )  # fmt: skip
        problems = [e["error"] for e in seen.errors()]
        assert len(problems) == 3, problems
        assert "96000 Hz" in problems[0] and "3 channels" in problems[1]
        assert "16000" in problems[2] and "24000" in problems[2]
        assert {e["category"] for e in seen.errors()} == {"application"}
        # No drive for the empty turn nor the refused formats: the mixed turn's first
        # format was spoken, then the last turn.
        mixed, last = h.sim.drives_for_task("pc-bad")
        expected = {t["index"]: t["sha256"] for t in seen.turns()}
        assert sha(mixed.audio) == expected[0]
        assert sha(last.audio) == expected[max(expected)]
        # With forward_audio the pipeline's own output still gets every TTS frame.
        assert len(seen.frames("down", "TTSAudioRawFrame")) == 5 + 5 + 2 + 15


def test_the_plugin_and_the_pipeline_type_check_against_pipecat(pipecat_python: Path) -> None:
    """mypy --strict (the project's settings) with .venv-pipecat's packages: the plugin, the
    test and bench pipelines and the example."""
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--python-executable",
            str(pipecat_python),
            "integrations/pipecat/src/dhgateway_pipecat",
            str(PIPELINE.relative_to(ROOT)),
            "bench/pipecat_turns.py",
            "examples/pipecat/avatar_bot.py",
        ],
        cwd=ROOT,
        env=dict(os.environ, MYPYPATH="integrations/pipecat/src"),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
