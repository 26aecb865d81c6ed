"""``python -m bench.plugin_latency``: the latency an integration's path adds to a turn's first
frame, against the Python client driving the same frames (the baseline), side by side in one run.

The simulator and the gateway run in this process (:func:`gateway.testing.running_gateway`),
and so do the paths but pipecat's, whose pipeline runs in ``.venv-pipecat`` (created when
missing) as a process of its own; every reading is ``time.monotonic()``, one clock for every
process on Linux. Per turn, each path of :data:`PATHS` speaks the same :data:`TURN_MS` of a
TTS's audio (:class:`~livekit.plugins.dhgateway.testing.ToneTTS`, 24 kHz mono) in 20 ms
frames, all at once, on one task; the paths take turns, alternating which goes first, one drive
at a time (each turn waits until the gateway lists no drive), after :data:`WARMUP_TURNS`
unrecorded turns each. Measured: from the first frame handed to the path (a TTS frame into
``capture_frame``, the client's audio source yielding its first piece, a ``TTSStartedFrame``
and the first ``TTSAudioRawFrame`` queued into the pipeline) to the first frame at the
simulator (its ``first_audio_at``). p50/p99 per path, and each as a ratio to the direct path's.
Bounded: each turn within :data:`TURN_BOUND_S`. Writes ``bench/results/plugin-latency.json``
and ``.md``.

Another integration is measured by adding its path to :data:`PATHS`: an async context manager
that sets it up on the harness and yields a :data:`Speak`.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import os
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from dhgateway_client import DriveError, DriveOptions
from livekit.plugins.dhgateway import DHGatewayAudioOutput
from livekit.plugins.dhgateway.testing import (
    FRAME_MS,
    SAMPLE_RATE,
    ToneTTS,
    drives_ended,
    frames,
    say,
)

from bench.__main__ import machine
from bench.lanes import command_line, write_results
from bench.playback_skew_report import percentiles
from bench.run import ROOT
from gateway.testing import Harness, running_gateway
from scripts import venvs

TASK_ID = "plugin-latency"
TURN_MS = 100
WARMUP_TURNS = 1
TURN_BOUND_S = 10.0
#: A pipecat process's start (python, pipecat's imports, the pipeline's), its end after its
#: last turn (the service's stop_timeout_s and a margin).
PIPECAT_START_S, PIPECAT_END_S = 60.0, 20.0
BASELINE = "direct"

#: Speaks one turn (its audio fixed when the path was set up) to its end; returns the
#: ``time.monotonic()`` at which its first frame was handed over. Raises on a failed turn.
Speak = Callable[[], Awaitable[float]]
#: Sets a path up on the harness, for a task and a turn's audio (s16le, 24 kHz mono).
OpenPath = Callable[[Harness, str, bytes], AbstractAsyncContextManager[Speak]]


class TurnFailed(Exception):
    """A path's turn ended without the avatar playing it all: ``str()`` is its outcome."""


@contextlib.asynccontextmanager
async def python_client(h: Harness, task_id: str, audio: bytes) -> AsyncIterator[Speak]:
    """The baseline: the Python client driving the TTS's frames, in the same format."""
    pieces = [bytes(frame.data) for frame in frames(audio)]
    options = DriveOptions(sample_rate_hz=SAMPLE_RATE, channels=1)

    async def speak() -> float:
        first_in: list[float] = []

        async def source() -> AsyncIterator[bytes]:
            first_in.append(time.monotonic())
            for piece in pieces:
                yield piece

        async for _ in h.client.drive(task_id, source(), options):
            pass
        return first_in[0]

    yield speak


@contextlib.asynccontextmanager
async def livekit_plugin(h: Harness, task_id: str, audio: bytes) -> AsyncIterator[Speak]:
    """The LiveKit plugin's output, spoken into as an AgentSession does (capture, flush)."""
    output = DHGatewayAudioOutput(task_id=task_id, channel=h.channel)
    pieces = frames(audio)

    async def speak() -> float:
        failed_before = output.last_error
        began = time.monotonic()
        await say(output, pieces)
        event = await output.wait_for_playout()
        error = output.last_error
        if error is not failed_before and error is not None:
            raise TurnFailed(f"{error.code}/{error.reason}")
        if event.interrupted:
            raise TurnFailed("INTERRUPTED")
        return began

    try:
        yield speak
    finally:
        await output.aclose()


@contextlib.asynccontextmanager
async def pipecat_plugin(h: Harness, task_id: str, audio: bytes) -> AsyncIterator[Speak]:
    """pipecat's DHGatewayAvatarService in a real pipeline (:mod:`bench.pipecat_turns`), a
    process of ``.venv-pipecat``'s python (created here when missing or stale: pipecat needs
    protobuf<7) against the gateway's address. Its readings are ``time.monotonic()`` too: on
    Linux that is CLOCK_MONOTONIC, one clock for the whole system, so they compare with the
    simulator's."""
    python = await asyncio.to_thread(venvs.ensure, "pipecat")
    line = base64.b64encode(audio) + b"\n"
    env = {k: v for k, v in os.environ.items() if not k.startswith("DHGW_")}
    with tempfile.TemporaryFile() as stderr:
        process = await asyncio.create_subprocess_exec(
            str(python), "-m", "bench.pipecat_turns", "--address", h.address, "--task", task_id,
            "--turn-bound-s", str(TURN_BOUND_S),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=stderr,
            env=env, cwd=ROOT,
        )  # fmt: skip
        assert process.stdin is not None and process.stdout is not None
        stdin, stdout = process.stdin, process.stdout

        def failed(what: str) -> RuntimeError:
            stderr.seek(0)
            return RuntimeError(f"{what}: {stderr.read().decode(errors='replace')[-3000:]}")

        spoken = 0

        async def speak() -> float:
            nonlocal spoken
            spoken += 1
            stdin.write(line)
            await stdin.drain()
            while reply := await stdout.readline():
                turn = json.loads(reply)
                # An earlier index is a turn whose wait here timed out.
                if turn["index"] == spoken:
                    if turn["outcome"] != "OK":
                        raise TurnFailed(turn["outcome"])
                    # That process's time.monotonic(): on Linux the system-wide
                    # CLOCK_MONOTONIC, so it compares with the simulator's first_audio_at.
                    return float(turn["t"])
            raise TurnFailed("PIPELINE_EXITED")

        try:
            try:
                async with asyncio.timeout(PIPECAT_START_S):
                    ready = await stdout.readline()
            except TimeoutError:
                raise failed("the pipecat pipeline did not start") from None
            if not ready:
                raise failed("the pipecat pipeline exited")
            yield speak
            stdin.close()
            async with asyncio.timeout(PIPECAT_END_S):
                await process.wait()
            if process.returncode != 0:
                raise failed(f"the pipecat pipeline ended with {process.returncode}")
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()


#: The paths measured, the baseline first; each turn of the run speaks once on each.
PATHS: dict[str, OpenPath] = {
    BASELINE: python_client,
    "livekit": livekit_plugin,
    "pipecat": pipecat_plugin,
}


@dataclass
class Turn:
    path: str
    outcome: str = ""
    drive_id: str = ""
    first_frame_ms: float | None = None  # first frame handed over -> first frame at the sim


async def one_turn(h: Harness, path: str, speak: Speak) -> Turn:
    """Speak once; the turn's figure from the one drive it made (after every drive ended)."""
    turn = Turn(path)
    before = len(h.sim.drives)
    handed_at: float | None = None
    try:
        async with asyncio.timeout(TURN_BOUND_S):
            handed_at = await speak()
    except TurnFailed as failure:
        turn.outcome = str(failure)
    except DriveError as error:
        turn.outcome = f"{error.code.name}/{error.reason}"
    except TimeoutError:
        turn.outcome = "TIMEOUT"
    # A playout is reported before its stream ends, and the next turn takes the same task.
    with contextlib.suppress(TimeoutError):
        await drives_ended(h.client, timeout_s=TURN_BOUND_S)
    records = h.sim.drives[before:]
    if handed_at is None:
        return turn
    if len(records) != 1 or records[0].first_audio_at is None:
        turn.outcome = f"DRIVES_AT_SIMULATOR/{len(records)}"
        return turn
    turn.outcome, turn.drive_id = "OK", records[0].drive_id
    turn.first_frame_ms = round((records[0].first_audio_at - handed_at) * 1000, 3)
    return turn


async def take_turns(turns: int) -> list[Turn]:
    """``turns`` recorded turns of each path on one gateway, alternating which goes first."""
    audio = ToneTTS(word_ms=TURN_MS).render("turn")
    results: list[Turn] = []
    async with running_gateway() as h, contextlib.AsyncExitStack() as stack:
        speakers = {
            name: await stack.enter_async_context(open_path(h, TASK_ID, audio))
            for name, open_path in PATHS.items()
        }
        names = list(speakers)
        for i in range(WARMUP_TURNS + turns):
            for name in names if i % 2 == 0 else names[::-1]:
                turn = await one_turn(h, name, speakers[name])
                if i >= WARMUP_TURNS:
                    results.append(turn)
    return results


def summarise(turns: list[Turn]) -> dict[str, Any]:
    paths: dict[str, Any] = {}
    for path in PATHS:
        mine = [t for t in turns if t.path == path]
        paths[path] = {
            "turns": len(mine),
            "outcomes": {o: sum(t.outcome == o for t in mine) for o in {t.outcome for t in mine}},
            "first_frame_ms": percentiles(
                [t.first_frame_ms for t in mine if t.first_frame_ms is not None]
            ),
        }
    base = paths[BASELINE]["first_frame_ms"]
    for figures in paths.values():
        mine = figures["first_frame_ms"]
        figures["ratio_to_direct"] = {
            q: round(mine[q] / base[q], 3) if mine[q] is not None and base[q] else None
            for q in ("p50", "p99")
        }
    return paths


def markdown(document: dict[str, Any]) -> str:
    lines = [
        "# Plugin latency",
        "",
        f"`{document['command']}` on {document['machine']}, {document['started']}.",
        f"TTS frame in -> first frame at the simulator: {document['turns']} turns per path of "
        f"{document['turn_ms']} ms in {document['frame_ms']} ms frames, all at once, on one "
        f"task, the paths interleaved, after {document['warmup_turns']} warm-up turn(s) each; "
        "gateway, simulator and paths in one process, but pipecat's pipeline in one of its own "
        "(.venv-pipecat). The ratio is to the Python client driving the same frames (direct).",
        "",
        "| path | outcomes | first frame ms p50 / p99 | ratio to direct p50 / p99 |",
        "|---|---|---|---|",
    ]
    for path, figures in document["paths"].items():
        stats, ratio = figures["first_frame_ms"], figures["ratio_to_direct"]
        cell = "-" if stats["p50"] is None else f"{stats['p50']:.2f} / {stats['p99']:.2f}"
        ratios = "-" if ratio["p50"] is None else f"{ratio['p50']:.2f}x / {ratio['p99']:.2f}x"
        lines.append(f"| {path} | {figures['outcomes']} | {cell} | {ratios} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.plugin_latency", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--turns", type=int, default=30, help="per path (30)")
    parser.add_argument("--out", default=str(ROOT / "bench" / "results"), help="output folder")
    args = parser.parse_args(argv)
    if args.turns < 1:
        parser.error("--turns must be >= 1")
    began = time.time()
    turns = asyncio.run(take_turns(args.turns))
    document = {
        "command": command_line("bench.plugin_latency", argv),
        "machine": machine(),
        "started": time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(began)),
        "turns": args.turns,
        "turn_ms": TURN_MS,
        "frame_ms": FRAME_MS,
        "warmup_turns": WARMUP_TURNS,
        "paths": summarise(turns),
        "turn_records": [asdict(t) for t in turns],
    }
    write_results(Path(args.out), "plugin-latency", document, markdown(document))
    return 1 if any(t.outcome != "OK" for t in turns) else 0


if __name__ == "__main__":
    sys.exit(main())
